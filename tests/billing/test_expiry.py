"""Reservations left open expire after the configured time, through the periodic job."""

from __future__ import annotations

import uuid
from datetime import timedelta

from studyhall.billing import service
from studyhall.billing.jobs import EXPIRE_KIND
from studyhall.billing.models import EntryType
from studyhall.config import Settings
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.core.storage import LocalStorage
from studyhall.jobs.registry import KINDS, PERIODIC
from studyhall.jobs.service import enqueue
from studyhall.jobs.worker import Worker
from tests.billing.conftest import credit, invariants, wallet


async def _reserve(
    db: Database, settings: Settings, user_id: uuid.UUID, amount: int, **kw: object
) -> uuid.UUID:
    async with db.session() as session:
        res = await service.reserve(
            session,
            user_id=user_id,
            amount=amount,
            purpose="t",
            settings=settings.billing,
            **kw,  # type: ignore[arg-type]
        )
    return res.id


async def test_the_sweep_is_a_registered_periodic_job(db: Database, settings: Settings) -> None:
    Worker(db, settings, LocalStorage(settings.data_dir / "files"), name="t")  # loads job kinds
    assert EXPIRE_KIND in KINDS and KINDS[EXPIRE_KIND].max_attempts == 3
    assert PERIODIC[EXPIRE_KIND].every_s == 60


async def test_open_reservations_expire_after_the_ttl(db: Database, settings: Settings) -> None:
    ttl = settings.billing.reservation_ttl_s
    worker = Worker(db, settings, LocalStorage(settings.data_dir / "files"), name="t")
    a, b = uuid.uuid4(), uuid.uuid4()
    await credit(db, settings.billing, a, 1000)
    await credit(db, settings.billing, b, 1000)
    old = await _reserve(db, settings, a, 300)
    done = await _reserve(db, settings, a, 100)
    async with db.session() as session:
        await service.finalize(session, reservation_id=done, actual=60, settings=settings.billing)
    other = await _reserve(db, settings, b, 200)
    clock.advance(timedelta(seconds=ttl // 2))
    young = await _reserve(db, settings, a, 50)

    # Not yet due: the sweep changes nothing.
    async with db.session() as session:
        await enqueue(session, kind=EXPIRE_KIND, payload={})
    assert await worker.run_until_idle() == 1
    assert (await wallet(db, settings.billing, a)).reserved == 350

    clock.advance(timedelta(seconds=ttl // 2 + 1))
    async with db.session() as session:
        await enqueue(session, kind=EXPIRE_KIND, payload={})
    assert await worker.run_until_idle() == 1
    view_a = await wallet(db, settings.billing, a)
    assert (view_a.balance, view_a.reserved, view_a.available) == (940, 50, 890)
    assert (await wallet(db, settings.billing, b)).reserved == 0
    async with db.session(write=False) as session:
        assert (await service.get_reservation(session, reservation_id=old)).status == "expired"
        assert (await service.get_reservation(session, reservation_id=other)).status == "expired"
        assert (await service.get_reservation(session, reservation_id=young)).status == "reserved"
        assert (await service.get_reservation(session, reservation_id=done)).status == "finalized"
        expiries = await service.list_transactions(session, user_id=a, entry_type=EntryType.expiry)
    assert expiries.totals.count == 1 and expiries.entries[0].reserved_delta == -300

    # An expired reservation is resolved: finalizing it later charges nothing.
    async with db.session() as session:
        late = await service.finalize(
            session, reservation_id=old, actual=300, settings=settings.billing
        )
    assert late.status == "expired" and late.actual is None
    assert (await wallet(db, settings.billing, a)).balance == 940
    for user_id in (a, b):
        assert await invariants(db, settings.billing, user_id) == []


async def test_periodic_scheduling_runs_the_sweep(db: Database, settings: Settings) -> None:
    worker = Worker(db, settings, LocalStorage(settings.data_dir / "files"), name="t")
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 100)
    await _reserve(db, settings, user_id, 100, ttl_s=5)
    clock.advance(timedelta(seconds=6))
    await worker.schedule_periodic()
    await worker.run_until_idle()
    assert (await wallet(db, settings.billing, user_id)).available == 100


async def test_overdue_holds_do_not_block_new_reservations(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 100)
    first = await _reserve(db, settings, user_id, 100, ttl_s=30)
    clock.advance(timedelta(seconds=31))
    # No sweep has run; reserving expires the user's overdue hold first.
    await _reserve(db, settings, user_id, 100)
    async with db.session(write=False) as session:
        assert (await service.get_reservation(session, reservation_id=first)).status == "expired"
    assert await invariants(db, settings.billing, user_id) == []


async def test_overdue_but_unswept_reservation_can_still_be_finalized(
    db: Database, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    await credit(db, settings.billing, user_id, 100)
    rid = await _reserve(db, settings, user_id, 100, ttl_s=30)
    clock.advance(timedelta(seconds=60))
    async with db.session() as session:
        res = await service.finalize(
            session, reservation_id=rid, actual=70, settings=settings.billing
        )
    assert res.status == "finalized" and res.actual == 70
    async with db.session() as session:
        assert await service.expire_due(session, settings=settings.billing) == 0
    assert (await wallet(db, settings.billing, user_id)).balance == 30
