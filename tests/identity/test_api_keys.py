"""Service API keys: issue once, act through a service account, scopes, expiry, revocation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.core.clock import clock, utcnow
from studyhall.core.db import Database
from studyhall.identity.models import ApiKey, User
from tests.conftest import TEST_PASSWORD
from tests.identity.conftest import API, NEW_PASSWORD, Auth, audit_rows


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    payload = {"name": "School front end", "scopes": ["read"], "acts_as_role": "teacher", **body}
    response = await client.post(f"{API}/admin/api-keys", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_shows_the_secret_once(
    client: httpx.AsyncClient, db: Database, admin: User, auth: Auth
) -> None:
    created = await _create(client, auth(admin), scopes=["write", "read", "read"])
    key = created["key"]
    assert key.startswith(f"sh_{created['prefix']}_")
    assert len(key) > 40
    assert created["scopes"] == ["read", "write"]
    assert created["acts_as_role"] == "teacher"
    assert created["created_by"] == str(admin.id)
    listing = await client.get(f"{API}/admin/api-keys", headers=auth(admin))
    assert listing.status_code == 200
    page = listing.json()
    assert page["total"] == 1
    [item] = page["items"]
    assert "key" not in item
    assert item["prefix"] == created["prefix"]
    assert key not in listing.text
    async with db.session(write=False) as session:
        row = await session.get(ApiKey, uuid.UUID(item["id"]))
        assert row is not None and key not in row.key_hash  # stored hashed
        service_user = await session.get(User, row.service_user_id)
        assert service_user is not None
        assert service_user.is_service and service_user.role == "teacher"
        assert service_user.email == f"key-{created['prefix']}@service.invalid"
    [row_audit] = await audit_rows(db, "api_key.created")
    assert row_audit.actor_id == admin.id and key not in str(row_audit.details)
    # The service account stays out of the user list and cannot log in.
    users = (await client.get(f"{API}/admin/users", headers=auth(admin))).json()
    assert all(not u["email"].endswith("@service.invalid") for u in users["items"])
    login = await client.post(
        f"{API}/auth/login",
        json={"email": f"key-{created['prefix']}@service.invalid", "password": TEST_PASSWORD},
    )
    assert login.status_code == 401


async def test_read_only_key_can_get_but_not_post(
    client: httpx.AsyncClient, admin: User, auth: Auth
) -> None:
    created = await _create(client, auth(admin), scopes=["read"], acts_as_role="student")
    headers = {"X-API-Key": created["key"]}
    me = await client.get(f"{API}/users/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["role"] == "student"
    post = await client.post(
        f"{API}/users/me/prompts", json={"title": "t", "prompt_text": "p"}, headers=headers
    )
    assert post.status_code == 403
    assert post.json()["code"] == "api_key_scope"


async def test_write_key_can_post(client: httpx.AsyncClient, admin: User, auth: Auth) -> None:
    created = await _create(client, auth(admin), scopes=["read", "write"], acts_as_role="student")
    response = await client.post(
        f"{API}/users/me/prompts",
        json={"title": "t", "prompt_text": "p"},
        headers={"X-API-Key": created["key"]},
    )
    assert response.status_code == 201


async def test_admin_key_and_x_admin_key(
    client: httpx.AsyncClient, db: Database, admin: User, auth: Auth
) -> None:
    admin_key = await _create(client, auth(admin), scopes=["admin", "read"], acts_as_role="admin")
    teacher_key = await _create(
        client, auth(admin), scopes=["read", "write"], acts_as_role="teacher"
    )
    via_header = await client.get(f"{API}/admin/users", headers={"X-Admin-Key": admin_key["key"]})
    assert via_header.status_code == 200
    via_api_key = await client.get(f"{API}/admin/users", headers={"X-API-Key": admin_key["key"]})
    assert via_api_key.status_code == 200
    refused = await client.get(f"{API}/admin/users", headers={"X-Admin-Key": teacher_key["key"]})
    assert refused.status_code == 401
    as_teacher = await client.get(f"{API}/admin/users", headers={"X-API-Key": teacher_key["key"]})
    assert as_teacher.status_code == 403

    # Every use is attributed to the key in the audit log.
    created = await client.post(
        f"{API}/admin/users",
        json={"email": "bot-made@example.org", "password": NEW_PASSWORD, "full_name": "Bot Made"},
        headers={"X-Admin-Key": admin_key["key"]},
    )
    assert created.status_code == 201, created.text
    [row] = await audit_rows(db, "user.created")
    assert str(row.api_key_id) == admin_key["id"]
    assert str(row.actor_id) == admin_key["service_user_id"]


async def test_keys_cannot_mint_keys(client: httpx.AsyncClient, admin: User, auth: Auth) -> None:
    admin_key = await _create(client, auth(admin), scopes=["admin"], acts_as_role="admin")
    response = await client.post(
        f"{API}/admin/api-keys",
        json={"name": "child", "scopes": ["read"], "acts_as_role": "student"},
        headers={"X-Admin-Key": admin_key["key"]},
    )
    assert response.status_code == 403


async def test_revoked_key_stops_working(
    client: httpx.AsyncClient, db: Database, admin: User, auth: Auth
) -> None:
    created = await _create(client, auth(admin))
    headers = {"X-API-Key": created["key"]}
    assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 200
    response = await client.delete(f"{API}/admin/api-keys/{created['id']}", headers=auth(admin))
    assert response.status_code == 204
    after = await client.get(f"{API}/users/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_api_key"
    listing = (await client.get(f"{API}/admin/api-keys", headers=auth(admin))).json()
    assert listing["total"] == 0
    again = await client.delete(f"{API}/admin/api-keys/{created['id']}", headers=auth(admin))
    assert again.status_code == 204
    async with db.session(write=False) as session:
        key = await session.get(ApiKey, uuid.UUID(created["id"]))
        assert key is not None and key.revoked_at is not None
        service_user = await session.get(User, key.service_user_id)
        assert service_user is not None and not service_user.is_active
        rows = await session.scalars(select(AuditLog).where(AuditLog.action == "api_key.revoked"))
        assert len(list(rows)) == 1
    missing = await client.delete(
        f"{API}/admin/api-keys/00000000-0000-0000-0000-000000000000", headers=auth(admin)
    )
    assert missing.status_code == 404


async def test_expired_key_stops_working(
    client: httpx.AsyncClient, admin: User, auth: Auth
) -> None:
    created = await _create(
        client, auth(admin), expires_at=(utcnow() + timedelta(hours=1)).isoformat()
    )
    headers = {"X-API-Key": created["key"]}
    assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    response = await client.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 401


async def test_unknown_and_malformed_keys(client: httpx.AsyncClient) -> None:
    for key in ("sh_deadbeef_nope", "garbage", ""):
        response = await client.get(f"{API}/users/me", headers={"X-API-Key": key})
        assert response.status_code == 401, key


async def test_create_validation(client: httpx.AsyncClient, admin: User, auth: Auth) -> None:
    bad_bodies = [
        {"name": "x", "scopes": ["read"], "acts_as_role": "admin"},  # admin role needs admin scope
        {"name": "x", "scopes": ["admin"], "acts_as_role": "teacher"},
        {"name": "x", "scopes": ["superuser"], "acts_as_role": "student"},
        {"name": "x", "scopes": [], "acts_as_role": "student"},
        {"name": "", "scopes": ["read"], "acts_as_role": "student"},
        {"name": "x", "scopes": ["read"], "acts_as_role": "trainer"},
        {"name": "x", "scopes": ["read"], "acts_as_role": "student", "prefix": "aaaa"},
        {
            "name": "x",
            "scopes": ["read"],
            "acts_as_role": "student",
            "expires_at": (utcnow() - timedelta(minutes=1)).isoformat(),
        },
    ]
    for body in bad_bodies:
        response = await client.post(f"{API}/admin/api-keys", json=body, headers=auth(admin))
        assert response.status_code == 422, (body, response.text)
