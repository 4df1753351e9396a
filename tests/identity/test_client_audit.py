"""Audit entries a client writes about its own user: kept apart from StudyHall's, rate-limited."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.config import Settings
from studyhall.identity.models import Role
from tests.conftest import MakeUser

API = "/api/v1"


async def test_a_client_records_its_users_actions(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    admin = await make_user(Role.admin)
    r = await client.post(
        f"{API}/users/me/audit-logs",
        json={"action": "user.role_changed", "details": {"to": "admin"}},
        headers=auth(owner),
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    # It can never pass for an entry StudyHall wrote.
    assert entry["action"] == "client.user.role_changed" and entry["actor_id"] == str(owner.id)
    mine = await client.get(f"{API}/users/me/audit-logs", headers=auth(owner))
    assert entry in mine.json()["items"]
    r = await client.get(f"{API}/users/me/audit-logs/{entry['id']}", headers=auth(owner))
    assert r.status_code == 200 and r.json() == entry
    r = await client.get(f"{API}/users/me/audit-logs/{entry['id']}", headers=auth(other))
    assert r.status_code == 404
    theirs = await client.get(f"{API}/users/me/audit-logs", headers=auth(other))
    assert entry["id"] not in theirs.text
    r = await client.get(f"{API}/admin/audit-logs/{entry['id']}", headers=auth(admin))
    assert r.status_code == 200 and r.json()["id"] == entry["id"]
    r = await client.post(
        f"{API}/users/me/audit-logs",
        json={"action": "x", "details": {"blob": "a" * 20_000}},
        headers=auth(owner),
    )
    assert r.status_code == 422
    r = await client.post(
        f"{API}/users/me/audit-logs", json={"action": "bad action!"}, headers=auth(owner)
    )
    assert r.status_code == 422


async def test_client_entries_are_rate_limited(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser, auth: Any, settings: Settings
) -> None:
    limits = settings.rate_limits.model_copy(update={"client_audit_per_user": "2/minute"})
    app.state.settings = settings.model_copy(update={"rate_limits": limits})
    user = await make_user(Role.student)
    codes = [
        (
            await client.post(
                f"{API}/users/me/audit-logs", json={"action": "tick"}, headers=auth(user)
            )
        ).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
