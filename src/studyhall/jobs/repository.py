"""All SQL of the job queue."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.pagination import paginate
from studyhall.jobs.models import Job, JobStatus, PeriodicSchedule


def _is_due(now: datetime) -> Any:
    # Queued and due, or running with a lease that expired (its worker died).
    return or_(
        and_(Job.status == JobStatus.queued, Job.run_after <= now),
        and_(Job.status == JobStatus.running, Job.lease_expires_at < now),
    )


async def claim_next(
    session: AsyncSession, *, worker: str, now: datetime, lease_s: float
) -> Job | None:
    """Atomically take the oldest due job: SKIP LOCKED on PostgreSQL, the write lock on SQLite."""
    candidate = (
        select(Job.id)
        .where(_is_due(now))
        .order_by(Job.run_after, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(Job)
        .where(Job.id == candidate, _is_due(now))
        .values(
            status=JobStatus.running,
            locked_by=worker,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
        )
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalars().first()


async def extend_lease(
    session: AsyncSession, *, job_id: uuid.UUID, worker: str, until: datetime
) -> bool:
    """Heartbeat; False when the job is no longer ours."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == worker, Job.status == JobStatus.running)
        .values(lease_expires_at=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_progress(
    session: AsyncSession, *, job_id: uuid.UUID, worker: str, progress: float, message: str | None
) -> None:
    """Record progress of a job we hold."""
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == worker)
        .values(progress=progress, progress_message=message)
    )


async def finish(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    worker: str,
    now: datetime,
    status: JobStatus,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    run_after: datetime | None = None,
) -> bool:
    """Move a held job to its next state; False when another worker took it over meanwhile."""
    values: dict[str, Any] = {
        "status": status,
        "locked_by": None,
        "lease_expires_at": None,
        "error": error,
    }
    if status == JobStatus.succeeded:
        values.update(finished_at=now, progress=1.0, result=result)
    elif status == JobStatus.failed:
        values.update(finished_at=now, result=result)
    else:
        values.update(run_after=run_after or now)
    outcome = await session.execute(
        update(Job).where(Job.id == job_id, Job.locked_by == worker).values(**values)
    )
    return bool(outcome.rowcount)  # type: ignore[attr-defined]


async def find_active_by_dedupe(session: AsyncSession, dedupe_key: str) -> Job | None:
    """An unfinished job with this dedupe key."""
    return await session.scalar(
        select(Job).where(
            Job.dedupe_key == dedupe_key, Job.status.in_((JobStatus.queued, JobStatus.running))
        )
    )


async def oldest_queued(session: AsyncSession, *, kinds: Collection[str] | None) -> Job | None:
    """The queued job created first (of these kinds), locked against a concurrent dispatch."""
    query = select(Job).where(Job.status == JobStatus.queued)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    query = query.order_by(Job.created_at, Job.id).limit(1).with_for_update(skip_locked=True)
    return await session.scalar(query)


async def get(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """A job by id."""
    return await session.get(Job, job_id)


async def list_jobs(
    session: AsyncSession, *, status: JobStatus | None, kind: str | None, limit: int, offset: int
) -> tuple[list[Job], int]:
    """Newest-first page of jobs."""
    query = select(Job)
    if status is not None:
        query = query.where(Job.status == status)
    if kind:
        query = query.where(Job.kind == kind)
    return await paginate(
        session, query, order_by=[Job.created_at.desc(), Job.id.desc()], limit=limit, offset=offset
    )


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """Jobs per status."""
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {str(status): int(n) for status, n in rows.all()}


async def ensure_schedule(session: AsyncSession, *, name: str, first_run_at: datetime) -> None:
    """Create the schedule row of a periodic job if it is missing."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(PeriodicSchedule)
        .values(name=name, next_run_at=first_run_at)
        .on_conflict_do_nothing(index_elements=["name"])
    )


async def take_schedule_slot(
    session: AsyncSession, *, name: str, now: datetime, next_run_at: datetime
) -> bool:
    """Advance a due periodic schedule; True for the one worker whose UPDATE won."""
    result = await session.execute(
        update(PeriodicSchedule)
        .where(PeriodicSchedule.name == name, PeriodicSchedule.next_run_at <= now)
        .values(next_run_at=next_run_at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
