"""What a reserve and a finalize cost the database: statements, counted (issue 12).

The wallet row stays locked from the first statement to COMMIT, so every statement between
them is time during which the user's other answers wait.
"""

from __future__ import annotations

import uuid

import pytest

from studyhall.billing import service
from studyhall.billing.errors import ReservationNotFound
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
    # Lock the wallet, insert the hold and its ledger entry, update the wallet: nothing held
    # before, so no search for overdue holds.
    assert len(reserving) <= 4, listing(reserving)
    with recorded_statements(db.engine) as finalizing:
        async with db.session() as session:
            done = await service.finalize(
                session, reservation_id=reservation.id, actual=70, settings=settings.billing
            )
    # Lock the owner's wallet (found through the hold), read the hold, insert the ledger
    # entries (usage and release, one batch), update the hold and the wallet.
    assert len(finalizing) <= 5, listing(finalizing)
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
