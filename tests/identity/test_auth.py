"""Registration, login, token rotation, logout and password change through HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.core.security import dummy_hash
from studyhall.identity import credentials, service
from studyhall.identity.models import RefreshToken, Role, User
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.identity.conftest import API, NEW_PASSWORD, Auth, Login, audit_rows, bearer

REGISTER = {
    "email": "Ada.Lovelace@Example.org",
    "password": "Analytical-Engine-1843",
    "full_name": "Ada Lovelace",
    "username": "Ada_L",
}


# Registration


async def test_register_creates_an_unverified_student(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(f"{API}/auth/register", json=REGISTER)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ada.lovelace@example.org"
    assert body["username"] == "ada_l"
    assert body["role"] == "student"
    assert body["is_verified"] is False
    assert body["preferences"] == {"theme": "system", "notifications": True, "language": "en"}
    assert body["created_at"].endswith("Z")
    assert "password_hash" not in body and "auth_version" not in body
    [row] = await audit_rows(db, "auth.register")
    assert str(row.actor_id) == body["id"]


async def test_register_accepts_role_student(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/register", json={**REGISTER, "role": "student"})
    assert response.status_code == 201
    assert response.json()["role"] == "student"


async def test_register_refuses_other_roles(client: httpx.AsyncClient, db: Database) -> None:
    for role in ("teacher", "admin", "PROFESSOR", "trainer"):
        response = await client.post(f"{API}/auth/register", json={**REGISTER, "role": role})
        assert response.status_code == 403
        assert response.json() == {
            "detail": "Only students can self-register",
            "code": "role_not_allowed",
        }
    async with db.session(write=False) as session:
        assert (
            await session.scalar(select(User).where(User.email == "ada.lovelace@example.org"))
        ) is None


async def test_register_refuses_mass_assignment(client: httpx.AsyncClient) -> None:
    for field, value in (("is_active", False), ("is_verified", True), ("hint_level", 5)):
        response = await client.post(f"{API}/auth/register", json={**REGISTER, field: value})
        assert response.status_code == 403, field
        assert response.json()["code"] == "field_not_writable"
    response = await client.post(f"{API}/auth/register", json={**REGISTER, "whatever": 1})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_register_conflicts(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(Role.teacher, email="taken@example.org", username="taken")
    response = await client.post(
        f"{API}/auth/register", json={**REGISTER, "email": "TAKEN@example.org"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    response = await client.post(f"{API}/auth/register", json={**REGISTER, "username": "Taken"})
    assert response.status_code == 409
    assert response.json()["code"] == "username_taken"


async def test_register_password_policy(client: httpx.AsyncClient) -> None:
    cases = {
        "short-1": "at least 10 characters",
        "password1234": "too common",
        "Qwertyuiop2024!": "too common",
        "aaaaaaaaaaaaaa": "too few different characters",
        "ada_l-is-my-name": "must not contain your email address or username",
    }
    for password, message in cases.items():
        response = await client.post(
            f"{API}/auth/register", json={**REGISTER, "password": password}
        )
        assert response.status_code == 422, password
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "password"]
        assert message in error["msg"], (password, error)


async def test_register_validates_fields(client: httpx.AsyncClient) -> None:
    for patch in ({"email": "not-an-email"}, {"username": "a@b"}, {"full_name": ""}):
        response = await client.post(f"{API}/auth/register", json={**REGISTER, **patch})
        assert response.status_code == 422, patch


# Login


async def test_login_returns_a_token_pair(
    client: httpx.AsyncClient, db: Database, student: User
) -> None:
    response = await client.post(
        f"{API}/auth/login", json={"email": student.email.upper(), "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    assert pair["user"]["id"] == str(student.id)
    me = await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == student.email
    async with db.session(write=False) as session:
        fresh = await session.get(User, student.id)
        assert fresh is not None and fresh.last_login_at is not None
        assert fresh.last_active_at == fresh.last_login_at
    [row] = await audit_rows(db, "auth.login")
    assert row.actor_id == student.id
    assert row.ip == "203.0.113.10"


async def test_login_by_username(client: httpx.AsyncClient, student: User) -> None:
    response = await client.post(
        f"{API}/auth/login", json={"email": student.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200


async def test_oauth2_token_form(client: httpx.AsyncClient, student: User) -> None:
    response = await client.post(
        f"{API}/auth/token",
        data={"username": student.email, "password": TEST_PASSWORD, "grant_type": "password"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    bad = await client.post(f"{API}/auth/token", data={"username": student.email, "password": "x"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"


async def test_unknown_email_and_wrong_password_answer_alike(
    client: httpx.AsyncClient, db: Database, student: User
) -> None:
    wrong = await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": "Wrong-Password-123"}
    )
    unknown = await client.post(
        f"{API}/auth/login", json={"email": "nobody@example.org", "password": "Wrong-Password-123"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "detail": "Incorrect email or password",
            "code": "invalid_credentials",
        }
    )
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    rows = await audit_rows(db, "auth.login_failed")
    assert [r.details["reason"] for r in rows] == ["wrong_password", "unknown_account"]
    assert rows[0].actor_id == student.id and rows[1].actor_id is None


async def test_unknown_account_path_runs_the_hasher(
    monkeypatch: pytest.MonkeyPatch, client: httpx.AsyncClient
) -> None:
    """Both paths verify an argon2 hash: the unknown one against the dummy hash (a spy, the
    real verification still runs)."""
    calls: list[str] = []
    real = credentials.verify_password

    def spy(password: str, password_hash: str) -> bool:
        calls.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(credentials, "verify_password", spy)
    response = await client.post(
        f"{API}/auth/login", json={"email": "ghost@example.org", "password": "Wrong-Password-123"}
    )
    assert response.status_code == 401
    assert calls == [dummy_hash()]
    assert calls[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_blocked_user_gets_403_only_with_the_right_password(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    blocked = await make_user(Role.student, is_active=False)
    wrong = await client.post(
        f"{API}/auth/login", json={"email": blocked.email, "password": "Wrong-Password-123"}
    )
    assert wrong.status_code == 401
    right = await client.post(
        f"{API}/auth/login", json={"email": blocked.email, "password": TEST_PASSWORD}
    )
    assert right.status_code == 403
    assert right.json() == {"detail": "Account is disabled", "code": "account_disabled"}


async def test_service_accounts_cannot_log_in(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    service_user = await make_user(Role.admin, is_service=True)
    response = await client.post(
        f"{API}/auth/login", json={"email": service_user.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_login_validation(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/login", json={"email": "a@example.org"})
    assert response.status_code == 422


# Refresh tokens


async def test_refresh_rotates(client: httpx.AsyncClient, student: User, login: Login) -> None:
    pair = await login(student.email)
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != pair["refresh_token"]
    assert rotated["user"]["id"] == str(student.id)
    me = await client.get(f"{API}/users/me", headers=bearer(rotated["access_token"]))
    assert me.status_code == 200
    again = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert again.status_code == 200


async def test_refresh_reuse_revokes_the_family(
    client: httpx.AsyncClient, db: Database, student: User, login: Login
) -> None:
    first = await login(student.email)
    other_session = await login(student.email)
    second = (
        await client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    # An attacker replays the stolen, already-rotated token.
    _past_the_grace_period()
    replay = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_refresh_token"
    assert replay.headers["www-authenticate"] == "Bearer"
    # The legitimate holder's newer token of the same family is dead too...
    legit = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert legit.status_code == 401
    # ...but another login session is untouched.
    other = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": other_session["refresh_token"]}
    )
    assert other.status_code == 200
    [row] = await audit_rows(db, "auth.refresh_reused")
    assert row.actor_id == student.id


async def test_refresh_rejects_garbage_and_expired_tokens(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    garbage = await client.post(f"{API}/auth/refresh", json={"refresh_token": "nope"})
    assert garbage.status_code == 401
    pair = await login(student.email)
    clock.advance(timedelta(days=31))
    expired = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert expired.status_code == 401


async def test_refresh_refused_for_blocked_user(
    client: httpx.AsyncClient, db: Database, student: User, login: Login
) -> None:
    pair = await login(student.email)
    async with db.session() as session:
        user = await session.get(User, student.id)
        assert user is not None
        user.is_active = False
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert response.status_code == 401


async def test_refresh_updates_last_active_at_at_most_once_a_minute(
    client: httpx.AsyncClient, db: Database, student: User, login: Login
) -> None:
    pair = await login(student.email)

    async def last_active() -> object:
        async with db.session(write=False) as session:
            user = await session.get(User, student.id)
            assert user is not None
            return user.last_active_at

    at_login = await last_active()
    clock.advance(timedelta(seconds=20))
    pair = (
        await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    assert await last_active() == at_login
    clock.advance(timedelta(seconds=50))
    await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert await last_active() != at_login


# Logout


async def test_logout_revokes_that_session_only(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    one = await login(student.email)
    two = await login(student.email)
    response = await client.post(
        f"{API}/auth/logout",
        json={"refresh_token": one["refresh_token"]},
        headers=bearer(one["access_token"]),
    )
    assert response.status_code == 204
    assert response.content == b""
    dead = await client.post(f"{API}/auth/refresh", json={"refresh_token": one["refresh_token"]})
    assert dead.status_code == 401
    alive = await client.post(f"{API}/auth/refresh", json={"refresh_token": two["refresh_token"]})
    assert alive.status_code == 200


async def test_logout_needs_auth_and_ignores_foreign_tokens(
    client: httpx.AsyncClient, make_user: MakeUser, login: Login
) -> None:
    alice = await make_user(Role.student)
    bob = await make_user(Role.student)
    alice_pair = await login(alice.email)
    bob_pair = await login(bob.email)
    anonymous = await client.post(
        f"{API}/auth/logout", json={"refresh_token": alice_pair["refresh_token"]}
    )
    assert anonymous.status_code == 401
    response = await client.post(
        f"{API}/auth/logout",
        json={"refresh_token": alice_pair["refresh_token"]},
        headers=bearer(bob_pair["access_token"]),
    )
    assert response.status_code == 204
    still = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": alice_pair["refresh_token"]}
    )
    assert still.status_code == 200


# Password change


async def test_password_change_keeps_the_named_session_and_ends_the_others(
    client: httpx.AsyncClient, db: Database, student: User, login: Login
) -> None:
    current = await login(student.email)
    other = await login(student.email)
    response = await client.post(
        f"{API}/auth/password/change",
        json={
            "current_password": TEST_PASSWORD,
            "new_password": NEW_PASSWORD,
            "refresh_token": current["refresh_token"],
        },
        headers=bearer(current["access_token"]),
    )
    assert response.status_code == 204, response.text
    # Every access token issued before the change is dead, including the caller's...
    stale = await client.get(f"{API}/users/me", headers=bearer(current["access_token"]))
    assert stale.status_code == 401
    assert stale.json()["code"] == "token_revoked"
    # ...the other session is gone, the kept one refreshes into a working access token.
    gone = await client.post(f"{API}/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert gone.status_code == 401
    kept = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": current["refresh_token"]}
    )
    assert kept.status_code == 200
    me = await client.get(f"{API}/users/me", headers=bearer(kept.json()["access_token"]))
    assert me.status_code == 200
    await login(student.email, NEW_PASSWORD)
    old = await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": TEST_PASSWORD}
    )
    assert old.status_code == 401
    [row] = await audit_rows(db, "auth.password_changed")
    assert row.details == {"kept_session": True}


async def test_password_change_without_refresh_token_ends_every_session(
    client: httpx.AsyncClient, db: Database, student: User, login: Login
) -> None:
    pair = await login(student.email)
    response = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(pair["access_token"]),
    )
    assert response.status_code == 204
    dead = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert dead.status_code == 401
    async with db.session(write=False) as session:
        rows = list(
            await session.scalars(select(RefreshToken).where(RefreshToken.user_id == student.id))
        )
        assert rows and all(r.revoked_at is not None for r in rows)


async def test_password_change_errors(client: httpx.AsyncClient, student: User, auth: Auth) -> None:
    headers = auth(student)
    wrong = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": "Not-The-Password-1", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "incorrect_password"
    same = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD},
        headers=headers,
    )
    assert same.status_code == 422
    weak = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": TEST_PASSWORD, "new_password": "iloveyou123"},
        headers=headers,
    )
    assert weak.status_code == 422
    assert weak.json()["detail"][0]["loc"] == ["body", "new_password"]
    anonymous = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert anonymous.status_code == 401


# check-email and verify-email errors


async def test_check_email(client: httpx.AsyncClient, student: User) -> None:
    yes = await client.post(f"{API}/auth/check-email", json={"email": student.email.upper()})
    assert yes.status_code == 200
    assert yes.json() == {"exists": True}
    no = await client.post(f"{API}/auth/check-email", json={"email": "nobody@example.org"})
    assert no.json() == {"exists": False}


async def test_verify_email_with_a_bad_token(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/verify-email", json={"token": "forged"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


async def test_reset_with_a_bad_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": "forged", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


async def test_resend_verification_for_a_verified_user(
    client: httpx.AsyncClient, student: User, auth: Auth
) -> None:
    response = await client.post(f"{API}/auth/verify-email/resend", headers=auth(student))
    assert response.status_code == 409
    assert response.json()["code"] == "already_verified"


def _past_the_grace_period() -> None:
    """Move time beyond the refresh-token grace period: a replay now is a reuse."""
    clock.advance(service.REFRESH_REUSE_GRACE + timedelta(seconds=1))


async def test_finding_10_concurrent_refreshes_of_one_token_get_the_same_pair(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    """Two tabs refreshing the same token at once (RFC 9700 §4.14.2 grace period). Before: one
    200 and one 401 that revoked the family (the user was logged out); after: both 200 with the
    same new pair, and the session goes on."""
    pair = await login(student.email)
    body = {"refresh_token": pair["refresh_token"]}
    first, second = await asyncio.gather(
        client.post(f"{API}/auth/refresh", json=body),
        client.post(f"{API}/auth/refresh", json=body),
    )
    assert [first.status_code, second.status_code] == [200, 200], (first.text, second.text)
    assert first.json()["refresh_token"] == second.json()["refresh_token"]
    assert first.json()["access_token"] == second.json()["access_token"]
    assert first.json()["refresh_token"] != pair["refresh_token"]
    # Presented again in sequence, still within the grace period: the same pair once more.
    third = await client.post(f"{API}/auth/refresh", json=body)
    assert (
        third.status_code == 200 and third.json()["refresh_token"] == first.json()["refresh_token"]
    )
    headers = bearer(first.json()["access_token"])
    assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 200
    after = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}
    )
    assert after.status_code == 200


async def test_finding_10_a_reuse_after_the_grace_period_still_revokes(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    pair = await login(student.email)
    body = {"refresh_token": pair["refresh_token"]}
    rotated = (await client.post(f"{API}/auth/refresh", json=body)).json()
    _past_the_grace_period()
    assert (await client.post(f"{API}/auth/refresh", json=body)).status_code == 401
    successor = {"refresh_token": rotated["refresh_token"]}
    assert (await client.post(f"{API}/auth/refresh", json=successor)).status_code == 401


async def test_a_replay_within_the_grace_period_after_the_successor_was_used_revokes(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    """The grace period covers a client racing itself, not a token replayed after its
    successor has moved on: that is still theft."""
    pair = await login(student.email)
    body = {"refresh_token": pair["refresh_token"]}
    rotated = (await client.post(f"{API}/auth/refresh", json=body)).json()
    newest = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert newest.status_code == 200
    assert (await client.post(f"{API}/auth/refresh", json=body)).status_code == 401
    latest = {"refresh_token": newest.json()["refresh_token"]}
    assert (await client.post(f"{API}/auth/refresh", json=latest)).status_code == 401


# --- finding 7 (issue 11): logout and a detected refresh-token theft end the access token ------


async def test_finding_07_logout_ends_the_access_token_at_once(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    """Before: the access token kept working until it expired (15 minutes); after: every access
    token of the family (the first one and the one of its rotation) is a 401 at once."""
    pair = await login(student.email)
    first = bearer(pair["access_token"])
    rotated = (
        await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    headers = bearer(rotated["access_token"])
    for token in (first, headers):
        assert (await client.get(f"{API}/users/me", headers=token)).status_code == 200
    out = await client.post(
        f"{API}/auth/logout", json={"refresh_token": rotated["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204, out.text
    for token in (first, headers):
        assert (await client.get(f"{API}/users/me", headers=token)).status_code == 401


async def test_finding_07_refresh_reuse_ends_the_access_tokens_of_the_family(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    first = await login(student.email)
    rotated = (
        await client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    family = [bearer(first["access_token"]), bearer(rotated["access_token"])]
    for headers in family:
        assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 200
    _past_the_grace_period()
    replay = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    for headers in family:
        assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 401
