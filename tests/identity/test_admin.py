"""/admin/users, /admin/audit-logs and the role matrix over every identity admin route."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from studyhall.core.clock import clock, utcnow
from studyhall.core.db import Database
from studyhall.identity.models import Role, User
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.identity.conftest import API, NEW_PASSWORD, Auth, Login, audit_rows, bearer

ADMIN_PREFIXES = (f"{API}/admin/users", f"{API}/admin/audit-logs", f"{API}/admin/api-keys")


def _admin_operations(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the identity admin routes, from the app's own route table."""
    operations = []
    for path, methods in app.openapi()["paths"].items():
        if path.startswith(ADMIN_PREFIXES):
            for method in methods:
                concrete = path
                for name in ("{user_id}", "{key_id}", "{log_id}"):
                    concrete = concrete.replace(name, str(uuid.uuid4()))
                operations.append((method.upper(), concrete))
    return operations


async def test_role_matrix(
    app: Any, client: httpx.AsyncClient, student: User, teacher: User, admin: User, auth: Auth
) -> None:
    operations = _admin_operations(app)
    # users (list, create, get, patch, delete, reset-password, identities), audit-logs (list,
    # one entry), api-keys (3)
    assert len(operations) == 12, operations
    for method, path in operations:
        anonymous = await client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        for user in (student, teacher):
            response = await client.request(method, path, json={}, headers=auth(user))
            assert response.status_code == 403, (method, path, user.role)
            assert response.json()["code"] == "forbidden"
        as_admin = await client.request(method, path, json={}, headers=auth(admin))
        # Past the role check: 200 for reads, 404 for unknown ids, 422 for the empty bodies.
        assert as_admin.status_code in (200, 404, 422), (method, path, as_admin.text)


# Listing and reading


async def test_list_users_filters_and_hides_service_accounts(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Auth
) -> None:
    alice = await make_user(Role.student, full_name="Alice Liddell", email="alice@example.org")
    bob = await make_user(Role.teacher, full_name="Bob Builder", is_active=False)
    await make_user(Role.student, is_service=True, full_name="Alice Service")
    headers = auth(admin)

    everyone = (await client.get(f"{API}/admin/users", headers=headers)).json()
    assert everyone["total"] == 3
    assert {u["id"] for u in everyone["items"]} == {str(alice.id), str(bob.id), str(admin.id)}
    item = next(u for u in everyone["items"] if u["id"] == str(bob.id))
    assert item["is_active"] is False and "last_login_at" in item
    assert "password_hash" not in item

    teachers = (await client.get(f"{API}/admin/users?role=teacher", headers=headers)).json()
    assert [u["id"] for u in teachers["items"]] == [str(bob.id)]
    inactive = (await client.get(f"{API}/admin/users?is_active=false", headers=headers)).json()
    assert [u["id"] for u in inactive["items"]] == [str(bob.id)]
    search = (await client.get(f"{API}/admin/users?search=ALICE", headers=headers)).json()
    assert [u["id"] for u in search["items"]] == [str(alice.id)]
    by_mail = (await client.get(f"{API}/admin/users?search=alice@exa", headers=headers)).json()
    assert by_mail["total"] == 1
    wildcard = (await client.get(f"{API}/admin/users?search=%25", headers=headers)).json()
    assert wildcard["total"] == 0  # LIKE wildcards in the search are literal
    paged = (await client.get(f"{API}/admin/users?limit=1&offset=1", headers=headers)).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1 and paged["offset"] == 1
    bad = await client.get(f"{API}/admin/users?limit=101", headers=headers)
    assert bad.status_code == 422
    bad_role = await client.get(f"{API}/admin/users?role=professor", headers=headers)
    assert bad_role.status_code == 422


async def test_get_user(
    client: httpx.AsyncClient, student: User, admin: User, auth: Auth, login: Login
) -> None:
    await login(student.email)
    response = await client.get(f"{API}/admin/users/{student.id}", headers=auth(admin))
    assert response.status_code == 200
    body = response.json()
    assert body["is_active"] is True
    assert body["last_login_at"] is not None and body["last_login_at"].endswith("Z")
    assert body["email"] == student.email
    missing = await client.get(f"{API}/admin/users/{uuid.uuid4()}", headers=auth(admin))
    assert missing.status_code == 404
    malformed = await client.get(f"{API}/admin/users/not-a-uuid", headers=auth(admin))
    assert malformed.status_code == 422


# Creating


async def test_create_user_of_any_role(
    client: httpx.AsyncClient, db: Database, admin: User, auth: Auth, login: Login
) -> None:
    response = await client.post(
        f"{API}/admin/users",
        json={
            "email": "Prof.Oak@example.org",
            "password": "Pallet-Town-Lab-151",
            "full_name": "Samuel Oak",
            "username": "oak",
            "role": "teacher",
            "is_verified": True,
            "hint_level": 4,
        },
        headers=auth(admin),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == "teacher" and body["is_verified"] is True and body["hint_level"] == 4
    pair = await login("oak", "Pallet-Town-Lab-151")
    assert pair["user"]["role"] == "teacher"
    [row] = await audit_rows(db, "user.created")
    assert row.actor_id == admin.id and row.details == {"role": "teacher"}
    duplicate = await client.post(
        f"{API}/admin/users",
        json={"email": "prof.oak@example.org", "password": "Pallet-Town-Lab-151", "full_name": "X"},
        headers=auth(admin),
    )
    assert duplicate.status_code == 409
    weak = await client.post(
        f"{API}/admin/users",
        json={"email": "x@example.org", "password": "qwerty123456", "full_name": "X"},
        headers=auth(admin),
    )
    assert weak.status_code == 422
    bad_role = await client.post(
        f"{API}/admin/users",
        json={
            "email": "y@example.org",
            "password": NEW_PASSWORD,
            "full_name": "Y",
            "role": "trainer",
        },
        headers=auth(admin),
    )
    assert bad_role.status_code == 422


# Updating


async def test_role_change_is_audited(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Auth
) -> None:
    response = await client.patch(
        f"{API}/admin/users/{student.id}", json={"role": "teacher"}, headers=auth(admin)
    )
    assert response.status_code == 200
    assert response.json()["role"] == "teacher"
    [row] = await audit_rows(db, "user.role_changed")
    assert row.actor_id == admin.id
    assert row.target_type == "user" and row.target_id == str(student.id)
    assert row.details == {"from": "student", "to": "teacher"}
    assert row.ip == "203.0.113.10"


async def test_blocking_kills_access_tokens_at_once(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Auth, login: Login
) -> None:
    pair = await login(student.email)
    headers = bearer(pair["access_token"])
    assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 200
    blocked = await client.patch(
        f"{API}/admin/users/{student.id}", json={"is_active": False}, headers=auth(admin)
    )
    assert blocked.status_code == 200
    assert blocked.json()["is_active"] is False
    response = await client.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    refresh = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    again = await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": TEST_PASSWORD}
    )
    assert again.status_code == 403

    unblocked = await client.patch(
        f"{API}/admin/users/{student.id}", json={"is_active": True}, headers=auth(admin)
    )
    assert unblocked.json()["is_active"] is True
    # The old token stays dead (its version is gone); a new login works.
    assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 401
    await login(student.email)
    assert [r.action for r in await audit_rows(db) if r.action.startswith("user.")] == [
        "user.blocked",
        "user.unblocked",
    ]


async def test_hint_level_and_name(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Auth
) -> None:
    response = await client.patch(
        f"{API}/admin/users/{student.id}",
        json={"hint_level": 1, "full_name": "Renamed"},
        headers=auth(admin),
    )
    assert response.status_code == 200
    assert response.json()["hint_level"] == 1 and response.json()["full_name"] == "Renamed"
    for level in (0, 6):
        bad = await client.patch(
            f"{API}/admin/users/{student.id}", json={"hint_level": level}, headers=auth(admin)
        )
        assert bad.status_code == 422
    unknown_field = await client.patch(
        f"{API}/admin/users/{student.id}", json={"password_hash": "x"}, headers=auth(admin)
    )
    assert unknown_field.status_code == 422
    [row] = await audit_rows(db, "user.updated")
    assert row.details["fields"]["hint_level"] == {"from": 3, "to": 1}


async def test_admin_cannot_lock_themselves_out(
    client: httpx.AsyncClient, admin: User, auth: Auth
) -> None:
    for body in ({"is_active": False}, {"role": "teacher"}):
        response = await client.patch(
            f"{API}/admin/users/{admin.id}", json=body, headers=auth(admin)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "self_modification"
    ok = await client.patch(
        f"{API}/admin/users/{admin.id}", json={"hint_level": 2}, headers=auth(admin)
    )
    assert ok.status_code == 200
    delete = await client.delete(f"{API}/admin/users/{admin.id}", headers=auth(admin))
    assert delete.status_code == 409


async def test_patch_unknown_user(client: httpx.AsyncClient, admin: User, auth: Auth) -> None:
    response = await client.patch(
        f"{API}/admin/users/{uuid.uuid4()}", json={"hint_level": 2}, headers=auth(admin)
    )
    assert response.status_code == 404


# Deleting and password reset


async def test_delete_user(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Auth, login: Login
) -> None:
    pair = await login(student.email)
    response = await client.delete(f"{API}/admin/users/{student.id}", headers=auth(admin))
    assert response.status_code == 204
    assert (
        await client.get(f"{API}/admin/users/{student.id}", headers=auth(admin))
    ).status_code == 404
    me = await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 401
    refresh = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    [row] = await audit_rows(db, "user.deleted")
    assert row.actor_id == admin.id and row.target_id == str(student.id)
    again = await client.delete(f"{API}/admin/users/{student.id}", headers=auth(admin))
    assert again.status_code == 404


async def test_admin_password_reset(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Auth, login: Login
) -> None:
    pair = await login(student.email)
    weak = await client.post(
        f"{API}/admin/users/{student.id}/reset-password",
        json={"new_password": "short"},
        headers=auth(admin),
    )
    assert weak.status_code == 422
    assert weak.json()["detail"][0]["loc"] == ["body", "new_password"]
    response = await client.post(
        f"{API}/admin/users/{student.id}/reset-password",
        json={"new_password": NEW_PASSWORD},
        headers=auth(admin),
    )
    assert response.status_code == 204
    assert (
        await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
    ).status_code == 401
    dead = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert dead.status_code == 401
    await login(student.email, NEW_PASSWORD)
    [row] = await audit_rows(db, "user.password_reset")
    assert row.actor_id == admin.id and row.target_id == str(student.id)
    missing = await client.post(
        f"{API}/admin/users/{uuid.uuid4()}/reset-password",
        json={"new_password": NEW_PASSWORD},
        headers=auth(admin),
    )
    assert missing.status_code == 404


# Audit log


async def test_audit_log_filters(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Auth, login: Login
) -> None:
    student = await make_user(Role.student)
    # Issued before the clock moves (PyJWT checks `iat` against the real clock).
    headers = auth(admin)
    await login(student.email)
    await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": "Wrong-Pass-12"}
    )
    clock.advance(timedelta(minutes=5))
    middle = utcnow()
    clock.advance(timedelta(minutes=5))
    await client.patch(f"{API}/admin/users/{student.id}", json={"role": "teacher"}, headers=headers)

    everything = (await client.get(f"{API}/admin/audit-logs", headers=headers)).json()
    assert [r["action"] for r in everything["items"]] == [
        "user.role_changed",
        "auth.login_failed",
        "auth.login",
    ]
    first = everything["items"][0]
    assert set(first) == {
        "id",
        "actor_id",
        "api_key_id",
        "action",
        "target_type",
        "target_id",
        "ip",
        "details",
        "created_at",
    }
    assert first["created_at"].endswith("Z")

    async def actions(query: dict[str, str]) -> list[str]:
        response = await client.get(f"{API}/admin/audit-logs", params=query, headers=headers)
        assert response.status_code == 200, response.text
        return [r["action"] for r in response.json()["items"]]

    assert await actions({"actor_id": str(admin.id)}) == ["user.role_changed"]
    assert await actions({"actor_id": str(student.id)}) == ["auth.login_failed", "auth.login"]
    assert await actions({"action": "auth.login"}) == ["auth.login"]
    assert await actions({"target_type": "user"}) == [
        "user.role_changed",
        "auth.login_failed",
        "auth.login",
    ]
    assert await actions({"since": middle.isoformat()}) == ["user.role_changed"]
    assert await actions({"until": middle.isoformat()}) == ["auth.login_failed", "auth.login"]
    naive = middle.replace(tzinfo=None).isoformat()
    assert await actions({"since": naive}) == ["user.role_changed"]
    paged = (await client.get(f"{API}/admin/audit-logs?limit=1&offset=1", headers=headers)).json()
    assert paged["total"] == 3 and [r["action"] for r in paged["items"]] == ["auth.login_failed"]


@pytest.mark.parametrize("field", ["actor_id", "since"])
async def test_audit_log_rejects_malformed_filters(
    client: httpx.AsyncClient, admin: User, auth: Auth, field: str
) -> None:
    response = await client.get(f"{API}/admin/audit-logs?{field}=nope", headers=auth(admin))
    assert response.status_code == 422
