"""The job queue: claim, lease, heartbeat, retry with backoff, dead letter, periodic jobs."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from studyhall.config import Settings
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.jobs import repository
from studyhall.jobs.models import Job, JobStatus
from studyhall.jobs.registry import (
    KINDS,
    PERIODIC,
    JobContext,
    PermanentJobError,
    register_kind,
)
from studyhall.jobs.service import enqueue
from studyhall.jobs.worker import Worker

RUNS: Counter[str] = Counter()
FAILURES_LEFT: dict[str, int] = {}


async def _record(ctx: JobContext) -> None:
    await ctx.progress(0.5, "half way")
    await asyncio.sleep(0.001)
    RUNS[ctx.payload["tag"]] += 1
    ctx.result["tag"] = ctx.payload["tag"]


async def _flaky(ctx: JobContext) -> None:
    tag = ctx.payload["tag"]
    if FAILURES_LEFT.get(tag, 0) > 0:
        FAILURES_LEFT[tag] -= 1
        raise ConnectionError("peer is down")
    RUNS[tag] += 1


async def _hopeless(ctx: JobContext) -> None:
    RUNS[ctx.payload["tag"]] += 1
    ctx.result["checked"] = ctx.payload["tag"]
    raise PermanentJobError("the input can never be processed")


async def _slow(ctx: JobContext) -> None:
    await asyncio.sleep(ctx.payload["seconds"])
    RUNS[ctx.payload["tag"]] += 1


@pytest.fixture(autouse=True)
def _test_kinds() -> None:
    """The kinds these tests run, registered as the wiring registers the real ones."""
    register_kind("test.record", _record)
    register_kind("test.flaky", _flaky, max_attempts=3)
    register_kind("test.hopeless", _hopeless, max_attempts=5)
    register_kind("test.slow", _slow)


async def _add(db: Database, kind: str, **payload: Any) -> Job:
    async with db.session() as session:
        return await enqueue(session, kind=kind, payload=payload)


async def _get(db: Database, job: Job) -> Job:
    async with db.session(write=False) as session:
        found = await session.get(Job, job.id)
        assert found is not None
        return found


def _worker(db: Database, settings: Settings, app: Any, name: str = "w") -> Worker:
    return Worker(db, settings, app.state.storage, name=name)


async def test_job_runs_once_and_records_result(db: Database, settings: Settings, app: Any) -> None:
    job = await _add(db, "test.record", tag="one")
    worker = _worker(db, settings, app)
    assert await worker.run_once() is True
    assert await worker.run_once() is False
    done = await _get(db, job)
    assert done.status == JobStatus.succeeded
    assert done.progress == 1.0
    assert done.result == {"tag": "one"}
    assert done.attempts == 1
    assert done.started_at is not None and done.finished_at is not None
    assert RUNS["one"] == 1


async def test_enqueue_is_part_of_the_callers_unit_of_work(
    db: Database, settings: Settings, app: Any
) -> None:
    try:
        async with db.session() as session:
            await enqueue(session, kind="test.record", payload={"tag": "rolled-back"})
            raise RuntimeError("request failed")
    except RuntimeError:
        pass
    assert await _worker(db, settings, app).run_once() is False


async def test_failing_job_retries_with_backoff_then_succeeds(
    db: Database, settings: Settings, app: Any
) -> None:
    FAILURES_LEFT["flaky-ok"] = 1
    job = await _add(db, "test.flaky", tag="flaky-ok")
    worker = _worker(db, settings, app)
    await worker.run_once()
    retried = await _get(db, job)
    assert retried.status == JobStatus.queued
    assert "peer is down" in (retried.error or "")
    assert retried.run_after > clock.now()
    assert await worker.run_once() is False  # not due yet: backoff
    clock.advance(timedelta(seconds=settings.jobs.backoff_base_s * 2))
    assert await worker.run_once() is True
    done = await _get(db, job)
    assert done.status == JobStatus.succeeded
    assert done.attempts == 2
    assert RUNS["flaky-ok"] == 1


async def test_job_that_keeps_failing_ends_failed_after_max_attempts(
    db: Database, settings: Settings, app: Any
) -> None:
    FAILURES_LEFT["doomed"] = 99
    job = await _add(db, "test.flaky", tag="doomed")
    worker = _worker(db, settings, app)
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        assert await worker.run_once() is True
    dead = await _get(db, job)
    assert dead.status == JobStatus.failed
    assert dead.attempts == 3
    assert dead.error is not None and "ConnectionError: peer is down" in dead.error
    clock.advance(timedelta(hours=1))
    assert await worker.run_once() is False


async def test_a_permanent_failure_ends_the_job_at_once_without_retries(
    db: Database, settings: Settings, app: Any
) -> None:
    job = await _add(db, "test.hopeless", tag="hopeless")
    worker = _worker(db, settings, app)
    assert await worker.run_once() is True
    dead = await _get(db, job)
    assert (dead.status, dead.attempts) == (JobStatus.failed, 1)
    assert dead.error == "the input can never be processed"
    assert dead.result == {"checked": "hopeless"} and dead.finished_at is not None
    clock.advance(timedelta(hours=1))
    assert await worker.run_once() is False
    assert RUNS["hopeless"] == 1


async def test_two_workers_never_run_the_same_job(
    db: Database, settings: Settings, app: Any
) -> None:
    tags = [f"pair-{i}" for i in range(40)]
    async with db.session() as session:
        for tag in tags:
            await enqueue(session, kind="test.record", payload={"tag": tag})
    a, b = _worker(db, settings, app, "a"), _worker(db, settings, app, "b")
    ran = await asyncio.gather(a.run_until_idle(), b.run_until_idle(), a.run_until_idle())
    assert sum(ran) == 40
    assert all(RUNS[tag] == 1 for tag in tags)
    async with db.session(write=False) as session:
        statuses = set((await session.scalars(select(Job.status))).all())
    assert statuses == {JobStatus.succeeded}


async def test_job_of_a_dead_worker_is_taken_over_after_its_lease(
    db: Database, settings: Settings, app: Any
) -> None:
    job = await _add(db, "test.record", tag="orphan")
    async with db.session() as session:  # a worker claims it, then dies without a word
        claimed = await repository.claim_next(
            session, worker="dead-worker", now=clock.now(), lease_s=30
        )
    assert claimed is not None and claimed.id == job.id
    survivor = _worker(db, settings, app, "survivor")
    assert await survivor.run_once() is False  # the lease still holds
    clock.advance(timedelta(seconds=31))
    assert await survivor.run_once() is True
    done = await _get(db, job)
    assert done.status == JobStatus.succeeded
    assert done.attempts == 2
    assert RUNS["orphan"] == 1


async def test_job_lost_by_too_many_workers_ends_failed(
    db: Database, settings: Settings, app: Any
) -> None:
    async with db.session() as session:
        job = await enqueue(session, kind="test.record", payload={"tag": "cursed"}, max_attempts=2)
    for i in range(2):
        async with db.session() as session:
            assert await repository.claim_next(
                session, worker=f"dead-{i}", now=clock.now(), lease_s=5
            )
        clock.advance(timedelta(seconds=6))
    await _worker(db, settings, app).run_once()
    dead = await _get(db, job)
    assert dead.status == JobStatus.failed
    assert RUNS["cursed"] == 0


async def test_heartbeat_keeps_a_long_job_from_being_taken_over(
    db: Database, settings: Settings, app: Any
) -> None:
    fast = settings.model_copy(
        update={"jobs": settings.jobs.model_copy(update={"lease_s": 0.3, "heartbeat_s": 0.05})}
    )
    await _add(db, "test.slow", tag="long", seconds=0.8)
    holder = Worker(db, fast, app.state.storage, name="holder")
    thief = Worker(db, fast, app.state.storage, name="thief")
    running = asyncio.create_task(holder.run_once())
    stolen = 0
    for _ in range(12):
        await asyncio.sleep(0.06)
        stolen += int(await thief.run_once())
    await running
    assert stolen == 0
    assert RUNS["long"] == 1


async def test_progress_is_visible_while_running(
    db: Database, settings: Settings, app: Any
) -> None:
    job = await _add(db, "test.record", tag="progress")
    worker = _worker(db, settings, app)
    await worker.run_once()
    assert (await _get(db, job)).progress_message == "half way"


async def test_unknown_kind_fails_without_retry(db: Database, settings: Settings, app: Any) -> None:
    job = await _add(db, "test.no-such-kind")
    await _worker(db, settings, app).run_once()
    failed = await _get(db, job)
    assert failed.status == JobStatus.failed
    assert "unknown job kind" in (failed.error or "")


async def test_periodic_job_is_scheduled_once_across_workers(
    db: Database, settings: Settings, app: Any
) -> None:
    async def _tick(ctx: JobContext) -> None:
        RUNS["tick"] += 1

    register_kind("test.tick", _tick, every_s=60)
    try:
        workers = [_worker(db, settings, app, f"p{i}") for i in range(3)]
        await asyncio.gather(*(w.schedule_periodic() for w in workers))
        await asyncio.gather(*(w.schedule_periodic() for w in workers))
        async with db.session(write=False) as session:
            ticks = (await session.scalars(select(Job).where(Job.kind == "test.tick"))).all()
        assert len(ticks) == 1
        await workers[0].run_until_idle()
        clock.advance(timedelta(seconds=61))
        await asyncio.gather(*(w.schedule_periodic() for w in workers))
        await workers[1].run_until_idle()
        assert RUNS["tick"] == 2
    finally:
        PERIODIC.pop("test.tick", None)
        KINDS.pop("test.tick", None)


async def test_started_worker_drains_the_queue_and_stops(
    db: Database, settings: Settings, app: Any
) -> None:
    fast = settings.model_copy(
        update={"jobs": settings.jobs.model_copy(update={"poll_interval_s": 0.05})}
    )
    worker = Worker(db, fast, app.state.storage, name="bg")
    await worker.start()
    try:
        for i in range(5):
            await _add(db, "test.record", tag=f"bg-{i}")
        worker.wake()
        for _ in range(100):
            if all(RUNS[f"bg-{i}"] for i in range(5)):
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert all(RUNS[f"bg-{i}"] == 1 for i in range(5))
