"""Every billing endpoint's role checks and object-level checks."""

from __future__ import annotations

import uuid

import httpx
import pytest

from studyhall.identity.models import User
from tests.billing.conftest import API, Headers, topup

ADMIN_ROUTES = [
    ("GET", "/admin/wallets/{user}", None),
    ("POST", "/admin/wallets/{user}/topup", {"amount": 10, "reason": "x"}),
    ("PATCH", "/admin/wallets/{user}", {"tier": "basic"}),
    ("GET", "/admin/wallets/{user}/reservations", None),
    ("POST", "/admin/wallets/{user}/reservations", {"amount": 10}),
    ("POST", "/admin/reservations/{reservation}/finalize", {"actual": 1}),
    ("POST", "/admin/reservations/{reservation}/release", None),
    ("GET", "/admin/transactions", None),
    (
        "POST",
        "/admin/expenses",
        {"category": "servers", "amount": 1, "currency": "usd", "description": ""},
    ),
    ("GET", "/admin/expenses", None),
    ("GET", "/courses/{course}/token-cap", None),
    ("PUT", "/courses/{course}/token-cap", {"daily_cap": 5}),
]
USER_ROUTES = [
    ("GET", "/wallet", None),
    ("GET", "/wallet/reservations", None),
    ("GET", "/wallet/transactions", None),
    ("GET", "/payments/packages", None),
    ("POST", "/payments/checkout", {"package_id": "small"}),
]


async def _reservation(client: httpx.AsyncClient, admin_h: dict[str, str], user: User) -> str:
    await topup(client, admin_h, user.id, 100)
    r = await client.post(
        f"{API}/admin/wallets/{user.id}/reservations", json={"amount": 10}, headers=admin_h
    )
    assert r.status_code == 201
    rid: str = r.json()["id"]
    return rid


def _path(template: str, user: User, reservation: str) -> str:
    return API + template.format(user=user.id, reservation=reservation, course=uuid.uuid4())


@pytest.mark.parametrize("role", ["student", "teacher"])
async def test_admin_routes_refuse_students_and_teachers(
    client: httpx.AsyncClient, make_user: object, admin: User, auth: Headers, role: str
) -> None:
    caller = await make_user(role)  # type: ignore[operator]
    target = await make_user("student")  # type: ignore[operator]
    reservation = await _reservation(client, auth(admin), target)
    for method, template, body in ADMIN_ROUTES:
        r = await client.request(
            method, _path(template, target, reservation), json=body, headers=auth(caller)
        )
        assert r.status_code == 403, (method, template, r.text)
        assert r.json()["code"] == "forbidden"
    # Nothing moved.
    w = (await client.get(f"{API}/admin/wallets/{target.id}", headers=auth(admin))).json()
    assert (w["balance"], w["reserved"], w["tier"]) == (100, 10, "free")


async def test_every_route_needs_authentication(
    client: httpx.AsyncClient, student: User, admin: User, auth: Headers
) -> None:
    reservation = await _reservation(client, auth(admin), student)
    for method, template, body in ADMIN_ROUTES + USER_ROUTES:
        r = await client.request(method, _path(template, student, reservation), json=body)
        assert r.status_code == 401, (method, template)
        assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_admin_routes_404_for_unknown_users_and_reservations(
    client: httpx.AsyncClient, admin: User, auth: Headers
) -> None:
    h = auth(admin)
    ghost = uuid.uuid4()
    for method, template, body in ADMIN_ROUTES[:5]:
        r = await client.request(method, API + template.format(user=ghost), json=body, headers=h)
        assert r.status_code == 404, (method, template, r.text)
    for action, body in (("finalize", {"actual": 1}), ("release", None)):
        r = await client.post(f"{API}/admin/reservations/{ghost}/{action}", json=body, headers=h)
        assert r.status_code == 404 and r.json()["code"] == "reservation_not_found"


async def test_students_see_only_their_own_wallet_and_reservations(
    client: httpx.AsyncClient, make_user: object, admin: User, auth: Headers
) -> None:
    alice = await make_user("student")  # type: ignore[operator]
    bob = await make_user("student")  # type: ignore[operator]
    alice_res = await _reservation(client, auth(admin), alice)
    await topup(client, auth(admin), bob.id, 7)

    bob_wallet = (await client.get(f"{API}/wallet", headers=auth(bob))).json()
    assert bob_wallet["user_id"] == str(bob.id) and bob_wallet["balance"] == 7
    assert (await client.get(f"{API}/wallet/reservations", headers=auth(bob))).json()["total"] == 0
    bob_tx = (await client.get(f"{API}/wallet/transactions", headers=auth(bob))).json()
    assert {i["user_id"] for i in bob_tx["items"]} == {str(bob.id)}

    # Another user's reservation does not exist for bob; alice sees hers.
    assert (
        await client.get(f"{API}/wallet/reservations/{alice_res}", headers=auth(bob))
    ).status_code == 404
    mine = await client.get(f"{API}/wallet/reservations/{alice_res}", headers=auth(alice))
    assert mine.status_code == 200 and mine.json()["user_id"] == str(alice.id)

    # No query parameter lets a user reach someone else's wallet: it is refused as unknown.
    for path in ("/wallet/transactions", "/wallet"):
        r = await client.get(f"{API}{path}", params={"user_id": str(alice.id)}, headers=auth(bob))
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "extra_forbidden"


async def test_teacher_and_admin_have_their_own_wallets(
    client: httpx.AsyncClient, teacher: User, admin: User, auth: Headers
) -> None:
    for user in (teacher, admin):
        r = await client.get(f"{API}/wallet", headers=auth(user))
        assert r.status_code == 200 and r.json()["user_id"] == str(user.id)


async def test_bodies_refuse_unknown_fields(
    client: httpx.AsyncClient, student: User, admin: User, auth: Headers
) -> None:
    h = auth(admin)
    r = await client.post(
        f"{API}/admin/wallets/{student.id}/topup",
        json={"amount": 10, "reason": "x", "user_id": str(uuid.uuid4())},
        headers=h,
    )
    assert r.status_code == 422
    r = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations",
        json={"amount": 10, "status": "finalized"},
        headers=h,
    )
    assert r.status_code == 422
    r = await client.post(
        f"{API}/payments/checkout",
        json={"package_id": "small", "tokens": 10**9},
        headers=auth(student),
    )
    assert r.status_code == 422


async def test_account_deletion_keeps_the_ledger_and_drops_stored_responses(
    client: httpx.AsyncClient, db: object, student: User, admin: User, auth: Headers
) -> None:
    from sqlalchemy import func, select

    from studyhall.billing.models import LedgerEntry
    from studyhall.core.idempotency import IdempotencyKey

    await topup(client, auth(admin), student.id, 40)
    r = await client.post(
        f"{API}/payments/checkout",
        json={"package_id": "small"},
        headers={**auth(student), "Idempotency-Key": "k1"},
    )
    assert r.status_code == 201
    assert (await client.delete(f"{API}/users/me", headers=auth(student))).status_code == 204
    async with db.session(write=False) as session:  # type: ignore[attr-defined]
        entries = await session.scalar(
            select(func.count()).where(LedgerEntry.user_id == student.id)
        )
        keys = await session.scalar(
            select(func.count()).where(IdempotencyKey.user_id == student.id)
        )
    assert entries == 1 and keys == 0
