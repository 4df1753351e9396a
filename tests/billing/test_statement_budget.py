"""What a reserve and a finalize cost the database: statements, counted (issue 12).

The wallet row stays locked from the first statement to COMMIT, so every statement between
them is time during which the user's other answers wait.
"""

from __future__ import annotations

import uuid

import pytest

from studyhall.billing import service
from studyhall.billing.errors import DailyLimitReached, ReservationNotFound
from studyhall.config import Settings
from studyhall.core.db import Database
from tests.billing.conftest import credit, invariants, wallet
from tests.sql_statements import listing, recorded_statements


async def test_reserve_and_finalize_each_take_a_handful_of_statements(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 1_000)
    with recorded_statements(db.engine) as reserving:
        async with db.session() as session:
            reservation = await service.reserve(
                session, user_id=user_id, amount=100, purpose="t", settings=settings.billing
            )
    # PostgreSQL: one statement (the wallet's update, the hold and its ledger entry as CTEs).
    # SQLite: lock the wallet, insert the hold and its ledger entry, update the wallet; nothing
    # held before, so no search for overdue holds.
    assert len(reserving) <= (4 if db.is_sqlite else 1), listing(reserving)
    with recorded_statements(db.engine) as finalizing:
        async with db.session() as session:
            done = await service.finalize(
                session, reservation_id=reservation.id, actual=70, settings=settings.billing
            )
    # PostgreSQL: one statement. SQLite: lock the owner's wallet (found through the hold), read
    # the hold, insert the ledger entries (usage and release, one batch), update the hold and
    # the wallet.
    assert len(finalizing) <= (5 if db.is_sqlite else 1), listing(finalizing)
    assert done.status == "finalized" and done.actual == 70
    view = await wallet(db, settings.billing, user_id)
    assert (view.balance, view.reserved) == (930, 0)
    assert await invariants(db, settings.billing, user_id) == []


async def test_finalize_of_someone_elses_hold_is_not_found_and_changes_nothing(
    db: Database, settings: Settings
) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    await credit(db, settings.billing, owner, 1_000)
    async with db.session() as session:
        reservation = await service.reserve(
            session, user_id=owner, amount=100, purpose="t", settings=settings.billing
        )
    with recorded_statements(db.engine) as statements:
        async with db.session() as session:
            with pytest.raises(ReservationNotFound):
                await service.finalize(
                    session,
                    reservation_id=reservation.id,
                    actual=70,
                    user_id=stranger,
                    settings=settings.billing,
                )
    assert not any(s.startswith(("INSERT", "UPDATE")) for s in statements), listing(statements)
    view = await wallet(db, settings.billing, owner)
    assert (view.balance, view.reserved) == (1_000, 100)
    assert await invariants(db, settings.billing, owner) == []


async def test_a_reserve_under_a_capped_course_reads_its_figures_in_one_statement(
    db: Database, settings: Settings
) -> None:
    user_id, course_id = uuid.uuid4(), uuid.uuid4()
    await credit(db, settings.billing, user_id, 1_000)
    async with db.session() as session:
        await service.set_course_budget(session, course_id=course_id, token_budget=500)
        await service.set_course_cap(session, course_id=course_id, daily_cap=300)
    with recorded_statements(db.engine) as statements:
        async with db.session() as session:
            await service.reserve(
                session,
                user_id=user_id,
                amount=200,
                purpose="t",
                course_id=course_id,
                settings=settings.billing,
            )
    # The wallet's lock, the course's lock, today's usage + the total spent + the open holds
    # together, then the hold's three writes. On PostgreSQL the one-statement reserve is tried
    # first and writes nothing for a capped course (its figures must be read after the course's
    # lock is granted, which one statement's snapshot cannot do): one statement more.
    assert len(statements) <= (6 if db.is_sqlite else 7), listing(statements)
    # The next 200 fits the budget (500) but not the daily cap (300): refused, nothing written.
    with pytest.raises(DailyLimitReached) as refused:
        async with db.session() as session:
            await service.reserve(
                session,
                user_id=user_id,
                amount=200,
                purpose="t",
                course_id=course_id,
                settings=settings.billing,
            )
    assert refused.value.code == "course_cap_reached"
    async with db.session(write=False) as session:
        cap = await service.get_course_cap(session, course_id=course_id, settings=settings.billing)
        budget = await service.get_course_budget(session, course_id=course_id)
    assert (cap.used_today, cap.reserved) == (0, 200)
    assert (budget.tokens_spent, budget.tokens_held, budget.tokens_remaining) == (0, 200, 300)
