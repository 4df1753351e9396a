"""ApraNova dialect (document 004): every endpoint with the document's own example request."""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from studyhall.config import CompatSettings, Settings
from studyhall.core.clock import clock
from studyhall.identity.models import Role, User
from studyhall.identity.service import REFRESH_REUSE_GRACE
from studyhall.main import create_app
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.workspaces.conftest import ECHO_APP

# The Stripe library hands httpx raw bytes as `data=`, which httpx deprecates: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

BASE = "/compat/apranova/api"


async def _register(
    client: httpx.AsyncClient, email: str | None = None, **changes: Any
) -> httpx.Response:
    body = {
        "name": "John Doe",
        "email": email or fresh_email("john"),
        "password1": STRONG_PASSWORD,
        "password2": STRONG_PASSWORD,
        "role": "student",
        "track": "DP",
        **changes,
    }
    return await client.post(f"{BASE}/auth/registration/", json=body)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_answers_tokens_and_the_user_with_its_track(
    client: httpx.AsyncClient,
) -> None:
    email = fresh_email("john")
    r = await _register(client, email)
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["access"], str) and isinstance(body["refresh"], str)
    user = body["user"]
    assert user["email"] == email and user["name"] == "John Doe"
    assert user["role"] == "student" and user["track"] == "DP"
    uuid.UUID(user["id"])
    profile = await client.get(f"{BASE}/users/profile/", headers=_bearer(body["access"]))
    assert profile.status_code == 200
    assert profile.json()["track"] == "DP"


async def test_register_errors_are_drf_field_lists(client: httpx.AsyncClient) -> None:
    r = await _register(client, password2="Something-Else-Entirely-1")
    assert r.status_code == 400
    assert r.json() == {"non_field_errors": ["The two password fields didn't match."]}
    r = await _register(client, password1="short", password2="short")
    assert r.status_code == 400 and list(r.json()) == ["password1"]
    assert isinstance(r.json()["password1"][0], str)
    r = await client.post(f"{BASE}/auth/registration/", json={"name": "No Email"})
    assert r.status_code == 400
    assert r.json()["email"] == ["This field is required."]
    assert r.json()["password1"] == ["This field is required."]
    email = fresh_email("twice")
    assert (await _register(client, email)).status_code == 201
    r = await _register(client, email)
    assert r.status_code == 400
    assert r.json() == {"email": ["A user is already registered with this e-mail address."]}


@pytest.mark.parametrize("role", ["trainer", "admin", "ADMIN"])
async def test_register_never_grants_a_role_above_student(
    client: httpx.AsyncClient, role: str
) -> None:
    email = fresh_email("climber")
    r = await _register(client, email, role=role)
    assert r.status_code == 403
    assert r.json()["error"] == "Unauthorized role access" and r.json()["message"]
    check = await client.post(f"{BASE}/users/check-email/", json={"email": email})
    assert check.json() == {"exists": False}


async def test_login_answers_tokens_user_and_redirect(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    teacher = await make_user(Role.teacher)
    r = await client.post(
        f"{BASE}/users/login/",
        json={"email": teacher.email, "password": TEST_PASSWORD, "role": "trainer"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access", "refresh", "user", "redirect_url"}
    assert body["user"] == {
        "id": str(teacher.id),
        "email": teacher.email,
        "name": teacher.full_name,
        "role": "trainer",
    }
    assert body["redirect_url"] == "/trainer/dashboard"
    # Without a role the account's own role is used.
    r = await client.post(
        f"{BASE}/users/login/", json={"email": teacher.email, "password": TEST_PASSWORD}
    )
    assert r.status_code == 200 and r.json()["user"]["role"] == "trainer"


async def test_login_never_chooses_a_role(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    student = await make_user(Role.student)
    r = await client.post(
        f"{BASE}/users/login/",
        json={"email": student.email, "password": TEST_PASSWORD, "role": "trainer"},
    )
    assert r.status_code == 403
    assert r.json() == {
        "error": "Unauthorized role access",
        "detail": "You are registered as 'student' but tried to login as 'trainer'",
        "actual_role": "student",
    }


async def test_login_with_a_wrong_password_is_the_documented_401(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    student = await make_user(Role.student)
    r = await client.post(
        f"{BASE}/users/login/", json={"email": student.email, "password": "wrong-password"}
    )
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid credentials", "message": "Email or password is incorrect"}
    r = await client.post(f"{BASE}/users/login/", json={"password": "x"})
    assert r.status_code == 400 and r.json() == {"email": ["This field is required."]}


async def test_refresh_rotates_and_a_used_refresh_is_refused(client: httpx.AsyncClient) -> None:
    tokens = (await _register(client)).json()
    r = await client.post(f"{BASE}/auth/token/refresh/", json={"refresh": tokens["refresh"]})
    assert r.status_code == 200
    assert set(r.json()) == {"access", "refresh"}
    assert r.json()["refresh"] != tokens["refresh"]
    # Later than the grace period of RFC 9700 §4.14.2 (a replay that soon gets the same pair).
    clock.advance(REFRESH_REUSE_GRACE + timedelta(seconds=1))
    again = await client.post(f"{BASE}/auth/token/refresh/", json={"refresh": tokens["refresh"]})
    assert again.status_code == 401
    assert set(again.json()) == {"error", "message", "details"}


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    tokens = (await _register(client)).json()
    r = await client.post(
        f"{BASE}/users/logout/",
        json={"refresh": tokens["refresh"]},
        headers=_bearer(tokens["access"]),
    )
    assert r.status_code == 200 and r.json() == {"message": "Logout successful"}
    r = await client.post(f"{BASE}/auth/token/refresh/", json={"refresh": tokens["refresh"]})
    assert r.status_code == 401
    r = await client.post(f"{BASE}/users/logout/", json={"refresh": tokens["refresh"]})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "Authentication failed"
    assert r.json()["message"] == "Not authenticated" and r.json()["details"]


async def test_logout_with_another_users_refresh_token_leaves_it_alive(
    client: httpx.AsyncClient,
) -> None:
    alice = (await _register(client)).json()
    bob = (await _register(client)).json()
    r = await client.post(
        f"{BASE}/users/logout/", json={"refresh": bob["refresh"]}, headers=_bearer(alice["access"])
    )
    assert r.status_code == 200
    r = await client.post(f"{BASE}/auth/token/refresh/", json={"refresh": bob["refresh"]})
    assert r.status_code == 200


async def test_check_email(client: httpx.AsyncClient, student: User) -> None:
    r = await client.post(f"{BASE}/users/check-email/", json={"email": student.email})
    assert r.status_code == 200 and r.json() == {"exists": True}
    r = await client.post(f"{BASE}/users/check-email/", json={"email": fresh_email("nobody")})
    assert r.json() == {"exists": False}


async def test_profile_is_the_callers_own(
    client: httpx.AsyncClient, student: User, auth: Any
) -> None:
    r = await client.get(f"{BASE}/users/profile/", headers=auth(student))
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == str(student.id) and body["email"] == student.email
    assert body["name"] == student.full_name and body["role"] == "student"
    assert "track" in body
    for field in ("created_at", "updated_at"):
        assert body[field].endswith("Z")
    r = await client.get(f"{BASE}/users/profile/")
    assert r.status_code == 401 and set(r.json()) == {"error", "message", "details"}


async def test_update_role_is_admin_only_and_never_ones_own(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student = await make_user(Role.student)
    admin = await make_user(Role.admin)
    r = await client.post(
        f"{BASE}/users/update-role/", json={"role": "trainer"}, headers=auth(student)
    )
    assert r.status_code == 403 and set(r.json()) == {"error", "message", "details"}
    r = await client.post(
        f"{BASE}/users/update-role/", json={"role": "trainer"}, headers=auth(admin)
    )
    assert r.status_code == 403
    assert r.json()["error"] == "Permission denied"
    assert r.json()["message"] == "You cannot change your own role"
    r = await client.post(
        f"{BASE}/users/update-role/",
        json={"role": "trainer", "email": student.email},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "message": "Role updated successfully",
        "user": {"id": str(student.id), "role": "trainer"},
    }
    r = await client.post(
        f"{BASE}/users/update-role/",
        json={"role": "wizard", "user_id": str(student.id)},
        headers=auth(admin),
    )
    assert r.status_code == 400 and r.json() == {"role": ['"wizard" is not a valid choice.']}
    r = await client.post(
        f"{BASE}/users/update-role/",
        json={"role": "student", "user_id": str(uuid.uuid4())},
        headers=auth(admin),
    )
    assert r.status_code == 404 and set(r.json()) == {"error", "message", "details"}


async def test_workspace_without_an_engine_is_the_documents_503(
    client: httpx.AsyncClient, student: User, auth: Any
) -> None:
    # The harness runs the default `off` workspace backend.
    r = await client.post(f"{BASE}/users/workspace/create/", headers=auth(student))
    assert r.status_code == 503
    body = r.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "Workspace feature not available"
    assert body["details"] == "Please contact your administrator to enable workspace provisioning."
    assert "not enabled" in body["message"]
    r = await client.post(f"{BASE}/users/workspace/create/")
    assert r.status_code == 401 and set(r.json()) == {"error", "message", "details"}


async def test_workspace_create_starts_then_returns_the_students_workspace(
    settings: Settings, student: User, auth: Any
) -> None:
    process = settings.workspaces.model_copy(
        update={
            "backend": "process",
            "process_command": [sys.executable, str(ECHO_APP), "{port}"],
            "memory_mb": 512,
            "start_timeout_s": 30.0,
        }
    )
    app = create_app(settings.model_copy(update={"workspaces": process}), run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        try:
            created = await client.post(f"{BASE}/users/workspace/create/", headers=auth(student))
            assert created.status_code == 201, created.text
            url = created.json()["url"]
            assert url.startswith("http://testserver/workspaces/")
            assert created.json() == {
                "url": url,
                "port": 80,
                "msg": "Workspace created successfully.",
            }
            existing = await client.post(f"{BASE}/users/workspace/create/", headers=auth(student))
            assert existing.status_code == 200 and existing.json() == {"url": url}
            # It is the student's canonical workspace, reachable through the proxy.
            mine = await client.get("/api/v1/workspaces/me", headers=auth(student))
            assert url == mine.json()["url"]
            opened = await client.get(url.removeprefix("http://testserver"), headers=auth(student))
            assert opened.status_code == 200
        finally:
            await client.delete("/api/v1/workspaces/me", headers=auth(student))
            await app.state.db.dispose()


async def test_create_payment_answers_the_stripe_client_secret(
    client: httpx.AsyncClient, student: User, auth: Any, settings: Settings
) -> None:
    # The default "small" package costs 5.00 USD.
    r = await client.post(
        f"{BASE}/payments/create-payment/",
        json={"amount": 5.00, "currency": "usd"},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["clientSecret"].startswith("pi_") and "_secret_" in body["clientSecret"]
    assert body["publishableKey"] == settings.billing.stripe_publishable_key
    r = await client.post(
        f"{BASE}/payments/create-payment/",
        json={"amount": 999.00, "currency": "usd"},
        headers=auth(student),
    )
    assert r.status_code == 400 and r.json() == {"amount": ["No token package has this price."]}
    r = await client.post(f"{BASE}/payments/create-payment/", json={"amount": 5.0})
    assert r.status_code == 401


@pytest.mark.parametrize("provider", ["google", "github"])
async def test_oauth_logins_answer_503_in_the_documents_shape(
    client: httpx.AsyncClient, provider: str
) -> None:
    r = await client.post(
        f"{BASE}/auth/{provider}/",
        json={"code": "4/0AY0e-g7", "redirect_uri": "http://localhost:3000/auth/callback"},
    )
    assert r.status_code == 503
    assert set(r.json()) == {"error", "message", "details"}


async def test_one_identity_across_the_dialect_and_the_canonical_api(
    client: httpx.AsyncClient,
) -> None:
    email = fresh_email("cross")
    registered = (await _register(client, email)).json()
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200
    canonical = login.json()["access_token"]
    r = await client.get(f"{BASE}/users/profile/", headers=_bearer(canonical))
    assert r.status_code == 200 and r.json()["email"] == email
    r = await client.get("/api/v1/users/me", headers=_bearer(registered["access"]))
    assert r.status_code == 200 and r.json()["track"] == "DP"


async def test_docs_and_schema_are_the_dialects_own(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/compat/apranova/openapi.json")).json()
    assert "/api/users/login/" in spec["paths"]
    assert "never chooses a role" in spec["info"]["description"]
    assert (await client.get("/compat/apranova/docs")).status_code == 200
    canonical = (await client.get("/openapi.json")).json()
    assert not [p for p in canonical["paths"] if "compat" in p or p.startswith("/api/users/")]


async def test_the_setting_turns_dialects_off(settings: Settings) -> None:
    app: FastAPI = create_app(
        settings.model_copy(update={"compat": CompatSettings(enabled="none")}), run_worker=False
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.post(f"{BASE}/users/check-email/", json={"email": "a@example.org"})
            assert r.status_code == 404
    finally:
        await app.state.db.dispose()
