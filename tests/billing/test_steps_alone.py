"""A reserve and a finalize as units of work of their own (issue 12): on PostgreSQL the common
case is one statement sent in autocommit, without BEGIN/COMMIT; everything else falls back to
the transactional path with the same answers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import event

from studyhall.billing import reservations
from studyhall.billing.errors import ExceedsReservation, InsufficientTokens
from studyhall.config import Settings
from studyhall.core.db import Database
from tests.billing.conftest import credit, invariants, wallet


async def test_a_pair_alone_is_one_statement_each_without_begin_on_postgresql(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 1_000)
    # What the driver sends (asyncpg's query loggers see BEGIN and COMMIT too).
    sent: list[str] = []
    recording = True

    def log(record: Any) -> None:
        if recording:
            sent.append(" ".join(record.query.split())[:60])

    def on_checkout(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if hasattr(driver, "add_query_logger") and log not in driver._query_loggers:
            driver.add_query_logger(log)

    event.listen(db.engine.sync_engine, "checkout", on_checkout)
    try:
        held = await reservations.reserve_alone(
            db, user_id=user_id, amount=100, purpose="t", settings=settings.billing
        )
        done = await reservations.finalize_alone(
            db, reservation_id=held.id, actual=70, settings=settings.billing
        )
    finally:
        recording = False
        event.remove(db.engine.sync_engine, "checkout", on_checkout)
    assert (done.id, done.status, done.actual) == (held.id, "finalized", 70)
    # The row's values as the ORM would load them (time zone included).
    assert (done.created_at, done.expires_at) == (held.created_at, held.expires_at)
    assert done.created_at.utcoffset() is not None
    if not db.is_sqlite:
        assert len(sent) == 2, sent
        assert not any(q.upper().startswith(("BEGIN", "COMMIT")) for q in sent), sent
    view = await wallet(db, settings.billing, user_id)
    assert (view.balance, view.reserved) == (930, 0)
    assert await invariants(db, settings.billing, user_id) == []


async def test_what_one_statement_cannot_do_gets_the_transactional_answers(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 150)
    held = await reservations.reserve_alone(
        db, user_id=user_id, amount=100, purpose="t", settings=settings.billing
    )
    with pytest.raises(InsufficientTokens):
        await reservations.reserve_alone(
            db, user_id=user_id, amount=100, purpose="t", settings=settings.billing
        )
    with pytest.raises(ExceedsReservation):
        await reservations.finalize_alone(
            db, reservation_id=held.id, actual=101, settings=settings.billing
        )
    first = await reservations.finalize_alone(
        db, reservation_id=held.id, actual=40, settings=settings.billing
    )
    # A second finalize returns the first result and charges nothing more.
    again = await reservations.finalize_alone(
        db, reservation_id=held.id, actual=90, settings=settings.billing
    )
    assert (first.actual, again.actual, again.status) == (40, 40, "finalized")
    view = await wallet(db, settings.billing, user_id)
    assert (view.balance, view.reserved) == (110, 0)
    assert await invariants(db, settings.billing, user_id) == []


async def test_a_new_users_first_reserve_alone_creates_the_wallet(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    cfg = settings.billing.model_copy(update={"signup_bonus": 50})
    held = await reservations.reserve_alone(
        db, user_id=user_id, amount=10, purpose="t", settings=cfg
    )
    assert held.amount == 10
    view = await wallet(db, cfg, user_id)
    assert (view.balance, view.reserved) == (50, 10)
    assert await invariants(db, cfg, user_id) == []


async def test_concurrent_reserves_alone_never_overdraw(db: Database, settings: Settings) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 1_000)

    async def one() -> bool:
        try:
            await reservations.reserve_alone(
                db, user_id=user_id, amount=100, purpose="t", settings=settings.billing
            )
        except InsufficientTokens:
            return False
        return True

    outcomes = await asyncio.gather(*(one() for _ in range(16)))
    assert sum(outcomes) == 10
    view = await wallet(db, settings.billing, user_id)
    assert (view.balance, view.reserved) == (1_000, 1_000)
    assert await invariants(db, settings.billing, user_id) == []
