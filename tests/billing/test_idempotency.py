"""Idempotency keys: same key + same body → the first response; another body → 409."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from studyhall.billing import service
from studyhall.config import Settings
from studyhall.core import idempotency
from studyhall.core.db import Database
from studyhall.core.idempotency import IdempotencyKeyReused
from studyhall.identity.models import User
from tests.billing.conftest import API, Headers, credit, invariants, wallet


async def test_topup_replays_the_first_response(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    student: User,
    admin: User,
    auth: Headers,
) -> None:
    h = {**auth(admin), "Idempotency-Key": "topup-1"}
    body = {"amount": 250, "reason": "refund of a bug"}
    first = await client.post(f"{API}/admin/wallets/{student.id}/topup", json=body, headers=h)
    assert first.status_code == 201
    second = await client.post(f"{API}/admin/wallets/{student.id}/topup", json=body, headers=h)
    assert second.status_code == 201 and second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (await wallet(db, settings.billing, student.id)).balance == 250

    other = await client.post(
        f"{API}/admin/wallets/{student.id}/topup", json={**body, "amount": 251}, headers=h
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    # The same key aimed at another user is another request too.
    someone = uuid.uuid4()
    async with db.session() as session:
        await service.get_wallet(session, user_id=someone, settings=settings.billing)
    r = await client.post(f"{API}/admin/wallets/{admin.id}/topup", json=body, headers=h)
    assert r.status_code == 409
    # Without a key, every call is a new top-up.
    plain = auth(admin)
    await client.post(f"{API}/admin/wallets/{student.id}/topup", json=body, headers=plain)
    await client.post(f"{API}/admin/wallets/{student.id}/topup", json=body, headers=plain)
    assert (await wallet(db, settings.billing, student.id)).balance == 750


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_user: object,
    student: User,
    auth: Headers,
) -> None:
    admin1 = await make_user("admin")  # type: ignore[operator]
    admin2 = await make_user("admin")  # type: ignore[operator]
    body = {"amount": 100, "reason": "x"}
    for a in (admin1, admin2):
        r = await client.post(
            f"{API}/admin/wallets/{student.id}/topup",
            json=body,
            headers={**auth(a), "Idempotency-Key": "shared-key"},
        )
        assert r.status_code == 201
    assert (await wallet(db, settings.billing, student.id)).balance == 200


async def test_reservation_routes_replay(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    student: User,
    admin: User,
    auth: Headers,
) -> None:
    await credit(db, settings.billing, student.id, 1000)
    h = {**auth(admin), "Idempotency-Key": "res-1"}
    a = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 100}, headers=h
    )
    b = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 100}, headers=h
    )
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert (await wallet(db, settings.billing, student.id)).reserved == 100
    rid = a.json()["id"]
    fh = {**auth(admin), "Idempotency-Key": "fin-1"}
    f1 = await client.post(
        f"{API}/admin/reservations/{rid}/finalize", json={"actual": 40}, headers=fh
    )
    f2 = await client.post(
        f"{API}/admin/reservations/{rid}/finalize", json={"actual": 40}, headers=fh
    )
    assert f1.json() == f2.json() and f1.json()["actual"] == 40
    f3 = await client.post(
        f"{API}/admin/reservations/{rid}/finalize", json={"actual": 41}, headers=fh
    )
    assert f3.status_code == 409
    rh = {**auth(admin), "Idempotency-Key": "rel-1"}
    assert (
        await client.post(f"{API}/admin/reservations/{rid}/release", headers=rh)
    ).status_code == 200
    assert (
        await client.post(f"{API}/admin/reservations/{rid}/release", headers=rh)
    ).status_code == 200
    assert await invariants(db, settings.billing, student.id) == []


async def test_failed_requests_are_not_remembered(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    student: User,
    admin: User,
    auth: Headers,
) -> None:
    h = {**auth(admin), "Idempotency-Key": "try-again"}
    poor = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 100}, headers=h
    )
    assert poor.status_code == 402
    await credit(db, settings.billing, student.id, 100)
    rich = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 100}, headers=h
    )
    assert rich.status_code == 201


async def test_concurrent_retries_with_one_key_credit_once(
    app: object, db: Database, settings: Settings, student: User, admin: User, auth: Headers
) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    h = {**auth(admin), "Idempotency-Key": "burst"}
    body = {"amount": 10, "reason": "burst"}

    async def one() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post(f"{API}/admin/wallets/{student.id}/topup", json=body, headers=h)

    responses = await asyncio.gather(*(one() for _ in range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    assert (await wallet(db, settings.billing, student.id)).balance == 10


async def test_service_level_reserve_key(db: Database, settings: Settings) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 500)
    async with db.session() as s:
        first = await service.reserve(
            s,
            user_id=user_id,
            amount=200,
            purpose="tutor",
            idempotency_key="msg-1",
            settings=settings.billing,
        )
    async with db.session() as s:
        again = await service.reserve(
            s,
            user_id=user_id,
            amount=200,
            purpose="tutor",
            idempotency_key="msg-1",
            settings=settings.billing,
        )
    assert again.id == first.id
    async with db.session() as s:
        try:
            await service.reserve(
                s,
                user_id=user_id,
                amount=201,
                purpose="tutor",
                idempotency_key="msg-1",
                settings=settings.billing,
            )
            raise AssertionError("expected 409")
        except IdempotencyKeyReused:
            pass
    assert (await wallet(db, settings.billing, user_id)).reserved == 200


async def test_reusable_api_for_other_domains(db: Database) -> None:
    user_id = uuid.uuid4()
    async with db.session() as s:
        assert (
            await idempotency.claim(
                s, key="k", user_id=user_id, route="tutor.message", request={"a": 1}
            )
            is None
        )
        await idempotency.complete(
            s, key="k", user_id=user_id, route="tutor.message", status_code=200, body={"ok": True}
        )
    async with db.session() as s:
        stored = await idempotency.claim(
            s, key="k", user_id=user_id, route="tutor.message", request={"a": 1}
        )
    assert stored is not None and stored.status_code == 200 and stored.body == {"ok": True}
    async with db.session() as s:
        # Another route with the same key is independent.
        assert (
            await idempotency.claim(s, key="k", user_id=user_id, route="other", request={"a": 2})
            is None
        )
    async with db.session() as s:
        assert await idempotency.purge(s, ttl_s=0) >= 0
