"""Chat / prompts / quota dialect (document 002): each endpoint with the document's example shape."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from studyhall.identity.models import Role, User
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.conftest import TEST_PASSWORD, MakeUser

BASE = "/compat/chat-prompts/api/v1"
USER_FIELDS = {"user_id", "name", "email", "role", "created_at"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


async def _register(client: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    body = {
        "name": "Ada Lovelace",
        "email": fresh_email("ada"),
        "role": "user",
        "password": STRONG_PASSWORD,
        **changes,
    }
    return await client.post(f"{BASE}/auth/register", json=body)


async def _login(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> str:
    r = await client.post(f"{BASE}/auth/login", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _session(client: httpx.AsyncClient, user: User, headers: dict[str, str]) -> str:
    r = await client.post(
        f"{BASE}/chat_sessions/",
        json={"title": "Physics revision", "user_id": str(user.id)},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


# Authentication


async def test_register_then_login_with_the_form(client: httpx.AsyncClient) -> None:
    r = await _register(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == USER_FIELDS
    assert _is_uuid(body["user_id"]) and _is_time(body["created_at"])
    assert body["name"] == "Ada Lovelace" and body["role"] == "user"
    r = await client.post(
        f"{BASE}/auth/login", data={"username": body["email"], "password": STRONG_PASSWORD}
    )
    assert r.status_code == 200
    assert set(r.json()) == {"access_token", "token_type"} and r.json()["token_type"] == "bearer"
    me = await client.get(
        f"{BASE}/users/{body['user_id']}", headers=_bearer(r.json()["access_token"])
    )
    assert me.status_code == 200 and me.json() == body


async def test_register_refuses_a_role_above_user_and_reports_errors(
    client: httpx.AsyncClient, student: User
) -> None:
    for role in ("admin", "teacher"):
        r = await _register(client, role=role)
        assert r.status_code == 403 and isinstance(r.json()["detail"], str)
    r = await _register(client, email=student.email)
    assert r.status_code == 409 and isinstance(r.json()["detail"], str)
    r = await client.post(f"{BASE}/auth/register", json={"name": "x"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    r = await client.post(
        f"{BASE}/auth/login", data={"username": student.email, "password": "wrong-password"}
    )
    assert r.status_code == 401 and r.json() == {"detail": "Incorrect email or password"}
    assert r.headers["www-authenticate"] == "Bearer"


# Users


async def test_admin_creates_users_others_cannot(
    client: httpx.AsyncClient, admin: User, student: User, auth: Any
) -> None:
    body = {"name": "Grace Hopper", "email": fresh_email("grace"), "role": "teacher"}
    r = await client.post(
        f"{BASE}/users/", json={**body, "password": STRONG_PASSWORD}, headers=auth(admin)
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == USER_FIELDS and r.json()["role"] == "teacher"
    r = await client.post(
        f"{BASE}/users/",
        json={**body, "email": fresh_email("g"), "password": STRONG_PASSWORD},
        headers=auth(student),
    )
    assert r.status_code == 403 and isinstance(r.json()["detail"], str)
    r = await client.post(f"{BASE}/users/", json={**body, "password": STRONG_PASSWORD})
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}


async def test_get_update_and_delete_oneself(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    user = await make_user(Role.student)
    r = await client.get(f"{BASE}/users/{user.id}", headers=auth(user))
    assert r.status_code == 200 and r.json()["email"] == user.email
    new_email = fresh_email("renamed")
    r = await client.put(
        f"{BASE}/users/{user.id}",
        json={"name": "Renamed", "email": new_email, "role": "user"},
        headers=auth(user),
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["email"] == new_email
    r = await client.put(
        f"{BASE}/users/{user.id}",
        json={"name": "Renamed", "email": new_email, "role": "admin"},
        headers=auth(user),
    )
    assert r.status_code == 403 and r.json() == {"detail": "You cannot change your own role"}
    r = await client.delete(f"{BASE}/users/{user.id}", headers=auth(user))
    assert r.status_code == 200 and r.json() == {"message": "User deleted successfully"}
    r = await client.get(f"{BASE}/users/{user.id}", headers=auth(user))
    assert r.status_code == 401


async def test_admin_manages_another_user(
    client: httpx.AsyncClient, admin: User, make_user: MakeUser, auth: Any
) -> None:
    user = await make_user(Role.student)
    r = await client.put(
        f"{BASE}/users/{user.id}",
        json={"name": "Promoted", "email": user.email, "role": "teacher"},
        headers=auth(admin),
    )
    assert r.status_code == 200 and r.json()["role"] == "teacher"
    r = await client.put(
        f"{BASE}/users/{user.id}",
        json={"name": "Promoted", "email": fresh_email("x"), "role": "teacher"},
        headers=auth(admin),
    )
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)
    r = await client.delete(f"{BASE}/users/{user.id}", headers=auth(admin))
    assert r.status_code == 200
    r = await client.get(f"{BASE}/users/{user.id}", headers=auth(admin))
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}


async def test_users_are_404_to_other_users(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    for method, path, body in (
        ("GET", f"/users/{owner.id}", None),
        ("PUT", f"/users/{owner.id}", {"name": "x", "email": owner.email, "role": "user"}),
        ("DELETE", f"/users/{owner.id}", None),
        ("GET", f"/users/{owner.id}/quota", None),
    ):
        r = await client.request(method, f"{BASE}{path}", json=body, headers=auth(other))
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"detail": "User not found"}
    r = await client.get(f"{BASE}/users/not-a-uuid", headers=auth(other))
    assert r.status_code == 422


# Quota


async def test_quota_is_the_wallets_daily_limit(
    client: httpx.AsyncClient, admin: User, student: User, auth: Any
) -> None:
    r = await client.get(f"{BASE}/users/{student.id}/quota", headers=auth(student))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"daily_limit", "used_today", "last_reset", "user_id"}
    assert isinstance(body["daily_limit"], int) and body["used_today"] == 0
    assert _is_time(body["last_reset"]) and body["user_id"] == str(student.id)
    sent = {"daily_limit": 2500, "used_today": 0, "last_reset": None}
    r = await client.put(f"{BASE}/users/{student.id}/quota", json=sent, headers=auth(admin))
    assert r.status_code == 200 and r.json()["daily_limit"] == 2500
    wallet = await client.get("/api/v1/wallet", headers=auth(student))
    assert wallet.json()["daily_limit"] == 2500
    r = await client.put(f"{BASE}/users/{student.id}/quota", json=sent, headers=auth(student))
    assert r.status_code == 403
    r = await client.put(
        f"{BASE}/users/{student.id}/quota", json={"daily_limit": -1}, headers=auth(admin)
    )
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


# Chat sessions


async def test_chat_sessions(client: httpx.AsyncClient, student: User, auth: Any) -> None:
    r = await client.post(
        f"{BASE}/chat_sessions/",
        json={"title": "Physics revision", "user_id": str(student.id)},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"title", "session_id", "user_id", "created_at"}
    assert body["title"] == "Physics revision" and body["user_id"] == str(student.id)
    assert _is_uuid(body["session_id"]) and _is_time(body["created_at"])
    sid = body["session_id"]
    r = await client.get(f"{BASE}/chat_sessions/{sid}", headers=auth(student))
    assert r.status_code == 200 and r.json() == body
    r = await client.get(f"{BASE}/chat_sessions/user/{student.id}", headers=auth(student))
    assert r.status_code == 200 and body in r.json()
    r = await client.put(
        f"{BASE}/chat_sessions/{sid}", json={"title": "Optics"}, headers=auth(student)
    )
    assert r.status_code == 200 and r.json()["title"] == "Optics"
    canonical = await client.get(f"/api/v1/chat/sessions/{sid}", headers=auth(student))
    assert canonical.json()["title"] == "Optics"
    r = await client.delete(f"{BASE}/chat_sessions/{sid}", headers=auth(student))
    assert r.status_code == 200 and r.json() == {"message": "Chat session deleted successfully"}
    r = await client.get(f"{BASE}/chat_sessions/{sid}", headers=auth(student))
    assert r.status_code == 404 and r.json() == {"detail": "Chat session not found"}


async def test_chat_sessions_bola(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    sid = await _session(client, owner, auth(owner))
    r = await client.post(
        f"{BASE}/chat_sessions/",
        json={"title": "Not mine", "user_id": str(owner.id)},
        headers=auth(other),
    )
    assert r.status_code == 403 and r.json() == {"detail": "Not allowed to act for another user"}
    for method, path, body in (
        ("GET", f"/chat_sessions/{sid}", None),
        ("PUT", f"/chat_sessions/{sid}", {"title": "taken"}),
        ("DELETE", f"/chat_sessions/{sid}", None),
        ("GET", f"/chat_sessions/user/{owner.id}", None),
    ):
        r = await client.request(method, f"{BASE}{path}", json=body, headers=auth(other))
        assert r.status_code == 404, (method, path)
    r = await client.get(f"{BASE}/chat_sessions/{sid}", headers=auth(owner))
    assert r.status_code == 200 and r.json()["title"] == "Physics revision"


# Prompts


async def test_prompts_keep_their_llm_responses(
    client: httpx.AsyncClient, student: User, auth: Any
) -> None:
    sid = await _session(client, student, auth(student))
    sent = {
        "prompt_text": "What is refraction?",
        "llm_responses": ["Light bending at a boundary.", "A change of direction of a wave."],
        "user_id": str(student.id),
        "session_id": sid,
    }
    r = await client.post(f"{BASE}/prompts/", json=sent, headers=auth(student))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "prompt_text",
        "llm_responses",
        "prompt_id",
        "user_id",
        "session_id",
        "timestamp",
    }
    assert body["llm_responses"] == sent["llm_responses"] and body["session_id"] == sid
    assert _is_uuid(body["prompt_id"]) and _is_time(body["timestamp"])
    pid = body["prompt_id"]
    r = await client.get(f"{BASE}/prompts/{pid}", headers=auth(student))
    assert r.status_code == 200 and r.json() == body
    r = await client.get(f"{BASE}/prompts/session/{sid}", headers=auth(student))
    assert r.status_code == 200 and r.json() == [body]
    r = await client.put(
        f"{BASE}/prompts/{pid}",
        json={"prompt_text": "Define refraction", "llm_responses": ["Bending of light."]},
        headers=auth(student),
    )
    assert r.status_code == 200
    assert r.json()["prompt_text"] == "Define refraction"
    assert r.json()["llm_responses"] == ["Bending of light."]
    canonical = await client.get(f"/api/v1/chat/prompts/{pid}", headers=auth(student))
    assert canonical.json()["llm_responses"] == ["Bending of light."]
    r = await client.delete(f"{BASE}/prompts/{pid}", headers=auth(student))
    assert r.status_code == 200 and r.json() == {"message": "Prompt deleted successfully"}
    r = await client.get(f"{BASE}/prompts/{pid}", headers=auth(student))
    assert r.status_code == 404 and r.json() == {"detail": "Prompt not found"}
    r = await client.post(f"{BASE}/prompts/", json={"prompt_text": "x"}, headers=auth(student))
    assert r.status_code == 422


async def test_prompts_bola(client: httpx.AsyncClient, make_user: MakeUser, auth: Any) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    sid = await _session(client, owner, auth(owner))
    r = await client.post(
        f"{BASE}/prompts/",
        json={"prompt_text": "q", "user_id": str(owner.id), "session_id": sid},
        headers=auth(owner),
    )
    pid = r.json()["prompt_id"]
    # Another user's session, even naming oneself: 404.
    r = await client.post(
        f"{BASE}/prompts/",
        json={"prompt_text": "q", "user_id": str(other.id), "session_id": sid},
        headers=auth(other),
    )
    assert r.status_code == 404
    r = await client.post(
        f"{BASE}/prompts/",
        json={"prompt_text": "q", "user_id": str(owner.id), "session_id": sid},
        headers=auth(other),
    )
    assert r.status_code == 403
    for method, path, body in (
        ("GET", f"/prompts/{pid}", None),
        ("GET", f"/prompts/session/{sid}", None),
        ("PUT", f"/prompts/{pid}", {"prompt_text": "taken"}),
        ("DELETE", f"/prompts/{pid}", None),
    ):
        r = await client.request(method, f"{BASE}{path}", json=body, headers=auth(other))
        assert r.status_code == 404, (method, path)
    r = await client.get(f"{BASE}/prompts/{pid}", headers=auth(owner))
    assert r.status_code == 200 and r.json()["prompt_text"] == "q"


# System prompts


async def test_system_prompts_are_versioned_and_admin_only(
    client: httpx.AsyncClient, admin: User, teacher: User, auth: Any
) -> None:
    text = f"You are a patient physics tutor {uuid.uuid4().hex[:6]}."
    r = await client.post(
        f"{BASE}/system_prompts/", json={"prompt_text": text}, headers=auth(admin)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"prompt_text", "prompt_id"} and body["prompt_text"] == text
    r = await client.get(f"{BASE}/system_prompts/", headers=auth(admin))
    assert r.status_code == 200 and body in r.json()
    r = await client.put(
        f"{BASE}/system_prompts/{body['prompt_id']}",
        json={"prompt_text": text + " Be brief."},
        headers=auth(admin),
    )
    assert r.status_code == 200 and r.json()["prompt_text"] == text + " Be brief."
    newer = r.json()["prompt_id"]
    assert newer != body["prompt_id"]
    active = await client.get(f"/api/v1/admin/system-prompts/{newer}", headers=auth(admin))
    assert active.json()["is_active"] is True and active.json()["version"] >= 2
    r = await client.delete(f"{BASE}/system_prompts/{newer}", headers=auth(admin))
    assert r.status_code == 200 and r.json() == {"message": "Prompt deleted successfully"}
    r = await client.delete(f"{BASE}/system_prompts/{newer}", headers=auth(admin))
    assert r.status_code == 404 and isinstance(r.json()["detail"], str)
    r = await client.get(f"{BASE}/system_prompts/", headers=auth(teacher))
    assert r.status_code == 403 and isinstance(r.json()["detail"], str)
    r = await client.post(f"{BASE}/system_prompts/", json={}, headers=auth(admin))
    assert r.status_code == 422


# User prompts


async def test_user_prompts(client: httpx.AsyncClient, make_user: MakeUser, auth: Any) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    r = await client.post(
        f"{BASE}/user_prompts/",
        json={"prompt_text": "Explain like I'm 12", "user_id": str(owner.id)},
        headers=auth(owner),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"prompt_text", "prompt_id", "user_id"}
    assert body["user_id"] == str(owner.id) and _is_uuid(body["prompt_id"])
    pid = body["prompt_id"]
    r = await client.get(f"{BASE}/user_prompts/user/{owner.id}", headers=auth(owner))
    assert r.status_code == 200 and r.json() == [body]
    r = await client.put(
        f"{BASE}/user_prompts/{pid}", json={"prompt_text": "Explain simply"}, headers=auth(owner)
    )
    assert r.status_code == 200 and r.json()["prompt_text"] == "Explain simply"
    # Another user: 403 for a body naming the owner, 404 for the owner's objects.
    r = await client.post(
        f"{BASE}/user_prompts/",
        json={"prompt_text": "x", "user_id": str(owner.id)},
        headers=auth(other),
    )
    assert r.status_code == 403
    for method, path, sent in (
        ("GET", f"/user_prompts/user/{owner.id}", None),
        ("PUT", f"/user_prompts/{pid}", {"prompt_text": "taken"}),
        ("DELETE", f"/user_prompts/{pid}", None),
    ):
        r = await client.request(method, f"{BASE}{path}", json=sent, headers=auth(other))
        assert r.status_code == 404, (method, path)
    r = await client.delete(f"{BASE}/user_prompts/{pid}", headers=auth(owner))
    assert r.status_code == 200 and r.json() == {"message": "Prompt deleted successfully"}
    r = await client.get(f"{BASE}/user_prompts/user/{owner.id}", headers=auth(owner))
    assert r.json() == []


# Audit logs


async def test_audit_logs(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Any
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    sent = {"action": "export.pdf", "details": {"pages": 3}, "user_id": str(owner.id)}
    r = await client.post(f"{BASE}/audit_logs/", json=sent, headers=auth(owner))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"action", "details", "log_id", "user_id", "timestamp"}
    assert body["action"] == "export.pdf" and body["details"] == {"pages": 3}
    assert body["user_id"] == str(owner.id) and _is_time(body["timestamp"])
    lid = body["log_id"]
    r = await client.get(f"{BASE}/audit_logs/{lid}", headers=auth(owner))
    assert r.status_code == 200 and r.json() == body
    r = await client.get(f"{BASE}/audit_logs/user/{owner.id}", headers=auth(owner))
    assert r.status_code == 200 and body in r.json()
    # StudyHall keeps it apart from its own entries: an admin sees the prefix.
    canonical = await client.get(
        "/api/v1/admin/audit-logs", params={"actor_id": str(owner.id)}, headers=auth(admin)
    )
    assert "client.export.pdf" in [e["action"] for e in canonical.json()["items"]]
    r = await client.get(f"{BASE}/audit_logs/user/{owner.id}", headers=auth(admin))
    assert r.status_code == 200 and body in r.json()
    r = await client.post(
        f"{BASE}/audit_logs/", json={**sent, "user_id": str(owner.id)}, headers=auth(other)
    )
    assert r.status_code == 403
    for path in (f"/audit_logs/{lid}", f"/audit_logs/user/{owner.id}"):
        r = await client.get(f"{BASE}{path}", headers=auth(other))
        assert r.status_code == 404, path
    r = await client.post(
        f"{BASE}/audit_logs/", json={"action": "", "user_id": str(owner.id)}, headers=auth(owner)
    )
    assert r.status_code == 422


# One identity


async def test_one_identity_across_dialects(client: httpx.AsyncClient) -> None:
    email = fresh_email("cross")
    r = await _register(client, email=email)
    user_id = r.json()["user_id"]
    # Registered here, logged in through ApraNova, the token used in BacMR and the canonical API.
    r = await client.post(
        "/compat/apranova/api/users/login/", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert r.status_code == 200, r.text
    token = r.json()["access"]
    me = await client.get("/compat/bacmr/me", headers=_bearer(token))
    assert me.status_code == 200 and me.json()["id"] == user_id
    # And a canonical login's token works here.
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    canonical = r.json()["access_token"]
    r = await client.get(f"{BASE}/users/{user_id}", headers=_bearer(canonical))
    assert r.status_code == 200 and r.json()["email"] == email
    token = await _login(client, email, STRONG_PASSWORD)
    r = await client.get("/api/v1/users/me", headers=_bearer(token))
    assert r.json()["id"] == user_id


async def test_docs_and_schema(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/compat/chat-prompts/openapi.json")).json()
    assert "/api/v1/prompts/session/{session_id}" in spec["paths"]
    assert "a `role` other than `user` is refused with 403" in spec["info"]["description"]
    r = await client.get("/compat/chat-prompts/docs")
    # The packaged Swagger UI (no CDN), pointed at this dialect's own schema.
    assert r.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in r.text
    assert "/compat/chat-prompts/openapi.json" in r.text and "cdn" not in r.text.lower()
    assert (await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200
