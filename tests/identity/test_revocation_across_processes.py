"""Revocation is immediate in every api process, not only the one that made the change.

Two apps on one database, each with its own engine and pool, as two `studyhall serve`
processes are: the change is made through the first, the token was already in use on the
second (so anything the second kept about the user is warm), and the second must refuse it at
its very next request (issue 12: no per-process cache may delay a block, a password change, a
role change or a deletion).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from studyhall.config import Settings
from studyhall.identity.models import User
from studyhall.main import create_app
from tests.conftest import TEST_PASSWORD
from tests.identity.conftest import API, NEW_PASSWORD, Auth, Login, bearer


@pytest.fixture
async def other_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second api 'process': its own app, engine and pool on the same database."""
    app = create_app(settings, run_worker=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    finally:
        await app.state.db.dispose()


async def _in_use(other: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(2):
        response = await other.get(f"{API}/users/me", headers=headers)
        assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_block_is_refused_at_once_by_another_process(
    client: httpx.AsyncClient,
    other_process: httpx.AsyncClient,
    student: User,
    admin: User,
    auth: Auth,
    login: Login,
) -> None:
    headers = bearer((await login(student.email))["access_token"])
    await _in_use(other_process, headers)
    blocked = await client.patch(
        f"{API}/admin/users/{student.id}", json={"is_active": False}, headers=auth(admin)
    )
    assert blocked.status_code == 200, blocked.text
    assert (await other_process.get(f"{API}/users/me", headers=headers)).status_code == 401


async def test_a_password_change_is_refused_at_once_by_another_process(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, student: User, login: Login
) -> None:
    pair = await login(student.email)
    headers = bearer(pair["access_token"])
    await _in_use(other_process, headers)
    changed = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    stale = await other_process.get(f"{API}/users/me", headers=headers)
    assert stale.status_code == 401 and stale.json()["code"] == "token_revoked"


async def test_a_role_change_is_seen_at_once_by_another_process(
    client: httpx.AsyncClient,
    other_process: httpx.AsyncClient,
    student: User,
    admin: User,
    auth: Auth,
    login: Login,
) -> None:
    headers = bearer((await login(student.email))["access_token"])
    assert (await _in_use(other_process, headers))["role"] == "student"
    changed = await client.patch(
        f"{API}/admin/users/{student.id}", json={"role": "teacher"}, headers=auth(admin)
    )
    assert changed.status_code == 200, changed.text
    # The access token carries the role claim, so a role change revokes it.
    after = await other_process.get(f"{API}/users/me", headers=headers)
    assert after.status_code == 401 and after.json()["code"] == "token_revoked", after.text


async def test_a_deletion_is_refused_at_once_by_another_process(
    client: httpx.AsyncClient,
    other_process: httpx.AsyncClient,
    student: User,
    admin: User,
    auth: Auth,
    login: Login,
) -> None:
    headers = bearer((await login(student.email))["access_token"])
    await _in_use(other_process, headers)
    deleted = await client.delete(f"{API}/admin/users/{student.id}", headers=auth(admin))
    assert deleted.status_code in (200, 204), deleted.text
    assert (await other_process.get(f"{API}/users/me", headers=headers)).status_code == 401
