"""Concurrent clients on real connections: PostgreSQL row locks, SQLite's serialized writers."""

from __future__ import annotations

import asyncio
import random
import uuid

from studyhall.billing import service
from studyhall.billing.errors import DailyLimitReached, InsufficientTokens
from studyhall.billing.models import EntryType, Reservation
from studyhall.config import Settings
from studyhall.core.db import Database
from tests.billing.conftest import credit, invariants, wallet


async def _reserve(
    db: Database, settings: Settings, user_id: uuid.UUID, amount: int
) -> Reservation | None:
    try:
        async with db.session() as session:
            return await service.reserve(
                session,
                user_id=user_id,
                amount=amount,
                purpose="concurrent",
                settings=settings.billing,
            )
    except InsufficientTokens:
        return None


async def test_fifty_concurrent_reservations_exactly_ten_succeed(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 10 * 100)
    results = await asyncio.gather(*(_reserve(db, settings, user_id, 100) for _ in range(50)))
    won = [r for r in results if r is not None]
    assert len(won) == 10
    view = await wallet(db, settings.billing, user_id)
    assert (view.balance, view.reserved, view.available) == (1000, 1000, 0)
    assert await invariants(db, settings.billing, user_id) == []


async def test_concurrent_first_use_creates_one_wallet_and_one_bonus(
    db: Database, settings: Settings
) -> None:
    cfg = settings.billing.model_copy(update={"signup_bonus": 300})
    user_id = uuid.uuid4()

    async def visit() -> int:
        async with db.session() as session:
            return (await service.get_wallet(session, user_id=user_id, settings=cfg)).balance

    assert set(await asyncio.gather(*(visit() for _ in range(20)))) == {300}
    async with db.session(write=False) as session:
        page = await service.list_transactions(session, user_id=user_id)
    assert page.totals.count == 1 and page.totals.credits == 300
    assert await invariants(db, cfg, user_id) == []


async def test_twenty_concurrent_finalizes_charge_once(db: Database, settings: Settings) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 1000)
    reservation = await _reserve(db, settings, user_id, 400)
    assert reservation is not None

    async def finalize(actual: int) -> Reservation:
        async with db.session() as session:
            return await service.finalize(
                session, reservation_id=reservation.id, actual=actual, settings=settings.billing
            )

    results = await asyncio.gather(*(finalize(100 + i) for i in range(20)))
    # Everyone sees the one result that won, whatever actual they asked for.
    assert {r.status for r in results} == {"finalized"}
    assert len({r.actual for r in results}) == 1
    charged = results[0].actual
    assert charged is not None and 100 <= charged < 120
    view = await wallet(db, settings.billing, user_id)
    assert (view.balance, view.reserved, view.used_today) == (1000 - charged, 0, charged)
    async with db.session(write=False) as session:
        usage = await service.list_transactions(
            session, user_id=user_id, entry_type=EntryType.usage
        )
    assert usage.totals.count == 1
    assert await invariants(db, settings.billing, user_id) == []


async def test_concurrent_finalize_and_release_resolve_once(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 1000)
    reservation = await _reserve(db, settings, user_id, 500)
    assert reservation is not None

    async def finalize() -> Reservation:
        async with db.session() as session:
            return await service.finalize(
                session, reservation_id=reservation.id, actual=500, settings=settings.billing
            )

    async def release() -> Reservation:
        async with db.session() as session:
            return await service.release(
                session, reservation_id=reservation.id, settings=settings.billing
            )

    results = await asyncio.gather(*(finalize() if i % 2 else release() for i in range(10)))
    assert len({r.status for r in results}) == 1
    view = await wallet(db, settings.billing, user_id)
    assert view.reserved == 0 and view.balance in (500, 1000)
    assert await invariants(db, settings.billing, user_id) == []


async def test_concurrent_topups_and_spends_keep_balance_equal_to_entries(
    db: Database, settings: Settings
) -> None:
    cfg = settings.billing.model_copy(update={"tiers": {"free": 10**9}})
    users = [uuid.uuid4() for _ in range(3)]
    for user_id in users:
        await credit(db, cfg, user_id, 200)
    rng = random.Random(7)
    credited = dict.fromkeys(users, 200)
    charged = dict.fromkeys(users, 0)

    async def top(user_id: uuid.UUID, amount: int) -> None:
        await credit(db, cfg, user_id, amount)
        credited[user_id] += amount

    async def spend(user_id: uuid.UUID, amount: int, actual: int) -> None:
        try:
            async with db.session() as session:
                res = await service.reserve(
                    session, user_id=user_id, amount=amount, purpose="spend", settings=cfg
                )
        except (InsufficientTokens, DailyLimitReached):
            return
        async with db.session() as session:
            done = await service.finalize(
                session, reservation_id=res.id, actual=actual, settings=cfg
            )
        charged[user_id] += done.actual or 0

    tasks = []
    for _ in range(60):
        user_id = rng.choice(users)
        if rng.random() < 0.4:
            tasks.append(top(user_id, rng.randint(1, 100)))
        else:
            amount = rng.randint(1, 150)
            tasks.append(spend(user_id, amount, rng.randint(0, amount)))
    await asyncio.gather(*tasks)
    for user_id in users:
        assert await invariants(db, cfg, user_id) == []
        view = await wallet(db, cfg, user_id)
        assert view.balance == credited[user_id] - charged[user_id]
        assert view.reserved == 0 and view.balance >= 0
