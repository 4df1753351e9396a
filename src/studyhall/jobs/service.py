"""Enqueueing and administering jobs."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.errors import Conflict, NotFound
from studyhall.jobs import repository
from studyhall.jobs.models import Job, JobStatus
from studyhall.jobs.registry import KINDS

DEFAULT_MAX_ATTEMPTS = 5


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any],
    max_attempts: int | None = None,
    run_after: datetime | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """Add a job in the caller's unit of work: it exists only if the caller commits."""
    if dedupe_key is not None:
        existing = await repository.find_active_by_dedupe(session, dedupe_key)
        if existing is not None:
            return existing
    registered = KINDS.get(kind)
    attempts = (
        max_attempts or (registered.max_attempts if registered else None) or DEFAULT_MAX_ATTEMPTS
    )
    job = Job(
        kind=kind,
        payload=payload,
        max_attempts=attempts,
        run_after=run_after or utcnow(),
        dedupe_key=dedupe_key,
        created_at=utcnow(),
        status=JobStatus.queued,
        attempts=0,
        progress=0.0,
    )
    session.add(job)
    await session.flush()
    return job


def is_waiting(job: Job) -> bool:
    """Whether the job is still waiting for a worker (not running, not finished)."""
    return job.status == JobStatus.queued


async def get_job(session: AsyncSession, *, job_id: uuid.UUID) -> Job:
    """A job by id or 404."""
    job = await repository.get(session, job_id)
    if job is None:
        raise NotFound("Job not found")
    return job


async def list_jobs(
    session: AsyncSession, *, status: JobStatus | None, kind: str | None, limit: int, offset: int
) -> tuple[list[Job], int]:
    """Page of jobs for admins."""
    return await repository.list_jobs(session, status=status, kind=kind, limit=limit, offset=offset)


async def retry_job(session: AsyncSession, *, job_id: uuid.UUID) -> Job:
    """Put a failed (dead-letter) job back in the queue with fresh attempts."""
    job = await get_job(session, job_id=job_id)
    if job.status != JobStatus.failed:
        raise Conflict("Only failed jobs can be retried", code="job_not_failed")
    job.status = JobStatus.queued
    job.attempts = 0
    job.run_after = utcnow()
    job.finished_at = None
    job.progress = 0.0
    job.progress_message = None
    await session.flush()
    return job


async def dispatch_next(session: AsyncSession, *, kinds: Collection[str] | None) -> Job:
    """Make the oldest queued job (of these kinds) due now, ahead of a retry's backoff: the
    next worker poll starts it. 404 `no_queued_job` when nothing waits."""
    job = await repository.oldest_queued(session, kinds=kinds)
    if job is None:
        raise NotFound("No queued job to dispatch", code="no_queued_job")
    job.run_after = utcnow()
    await session.flush()
    return job


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """Jobs per status, every status present."""
    counts = await repository.count_by_status(session)
    return {status.value: counts.get(status.value, 0) for status in JobStatus}
