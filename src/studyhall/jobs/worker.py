"""The worker: claims due jobs, heartbeats their lease, retries with backoff, runs periodic jobs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import traceback
from datetime import timedelta

import structlog

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.context import RequestContext, set_context
from studyhall.core.db import Database
from studyhall.core.metrics import JOB_RUNS
from studyhall.core.storage import LocalStorage
from studyhall.jobs import repository
from studyhall.jobs.models import Job, JobStatus
from studyhall.jobs.registry import KINDS, PERIODIC, JobContext, PermanentJobError

log = structlog.get_logger(__name__)


class Worker:
    """Runs jobs from the shared table; any number of workers on any number of machines.

    It runs the kinds in the registry, which the process's entry fills (`studyhall.wiring`).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        storage: LocalStorage,
        *,
        name: str = "worker",
        concurrency: int = 2,
    ) -> None:
        self.db = db
        self.settings = settings
        self.storage = storage
        self.id = f"{socket.gethostname()}:{os.getpid()}:{name}:{random.randrange(1 << 32):08x}"
        self.concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    # Lifecycle

    async def start(self) -> None:
        """Start the polling loops in the background."""
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._loop(i), name=f"job-loop-{i}")
            for i in range(self.concurrency)
        ]
        log.info("worker_started", worker=self.id, concurrency=self.concurrency)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Finish running jobs (up to a timeout), then stop."""
        self._stopping.set()
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        log.info("worker_stopped", worker=self.id)

    def wake(self) -> None:
        """Poll now instead of after the interval."""
        self._wake.set()

    async def _loop(self, index: int) -> None:
        while not self._stopping.is_set():
            try:
                if index == 0:
                    await self.schedule_periodic()
                ran = await self.run_once()
            except Exception:  # the loop must survive a database outage and try again
                log.exception("worker_loop_error", worker=self.id)
                ran = False
            if not ran:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.jobs.poll_interval_s)

    # One step

    async def run_once(self) -> bool:
        """Claim and run one due job; False when none is due."""
        async with self.db.session() as session:
            job = await repository.claim_next(
                session, worker=self.id, now=utcnow(), lease_s=self.settings.jobs.lease_s
            )
        if job is None:
            return False
        await self._run(job)
        return True

    async def run_until_idle(self, max_jobs: int = 1000) -> int:
        """Run due jobs one after another until none is left; returns how many ran."""
        count = 0
        while count < max_jobs and await self.run_once():
            count += 1
        return count

    async def schedule_periodic(self) -> None:
        """Enqueue each due periodic job exactly once across all workers."""
        if not PERIODIC:
            return
        from studyhall.jobs.service import enqueue

        now = utcnow()
        async with self.db.session() as session:
            for periodic in PERIODIC.values():
                await repository.ensure_schedule(session, name=periodic.name, first_run_at=now)
                won = await repository.take_schedule_slot(
                    session,
                    name=periodic.name,
                    now=now,
                    next_run_at=now + timedelta(seconds=periodic.every_s),
                )
                if won:
                    await enqueue(
                        session,
                        kind=periodic.name,
                        payload={},
                        dedupe_key=f"periodic:{periodic.name}",
                    )

    async def _run(self, job: Job) -> None:
        set_context(RequestContext(request_id=f"job-{job.id}"))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(job_id=str(job.id), job_kind=job.kind)
        kind = KINDS.get(job.kind)
        if job.attempts > job.max_attempts:
            # Its earlier workers died holding it (lease expired) as often as it may be tried.
            await self._finish(
                job, JobStatus.failed, error=job.error or "worker lost the job too many times"
            )
            return
        if kind is None:
            await self._finish(job, JobStatus.failed, error=f"unknown job kind {job.kind!r}")
            return

        async def report(fraction: float, message: str | None) -> None:
            async with self.db.session() as session:
                await repository.set_progress(
                    session, job_id=job.id, worker=self.id, progress=fraction, message=message
                )

        ctx = JobContext(
            job_id=job.id,
            kind=job.kind,
            attempt=job.attempts,
            payload=dict(job.payload or {}),
            db=self.db,
            settings=self.settings,
            storage=self.storage,
            report=report,
        )
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            if kind.timeout_s:
                await asyncio.wait_for(kind.handler(ctx), kind.timeout_s)
            else:
                await kind.handler(ctx)
        except asyncio.CancelledError:
            heartbeat.cancel()
            # Stopped mid-job: hand it back at once rather than waiting for the lease to expire.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish(job, JobStatus.queued, error="worker stopped"))
            raise
        except PermanentJobError as exc:
            heartbeat.cancel()
            await self._finish(
                job, JobStatus.failed, error=str(exc)[:4000], result=ctx.result or None
            )
            JOB_RUNS.labels(job.kind, "failed").inc()
            log.warning("job_failed", attempts=job.attempts, error=str(exc)[:500], retry=False)
        except Exception as exc:
            heartbeat.cancel()
            await self._failed_attempt(job, exc)
        else:
            heartbeat.cancel()
            await self._finish(job, JobStatus.succeeded, result=ctx.result or None)
            JOB_RUNS.labels(job.kind, "succeeded").inc()
            log.info("job_succeeded", attempts=job.attempts)

    async def _heartbeat(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.settings.jobs.heartbeat_s)
            try:
                async with self.db.session() as session:
                    ours = await repository.extend_lease(
                        session,
                        job_id=job.id,
                        worker=self.id,
                        until=utcnow() + timedelta(seconds=self.settings.jobs.lease_s),
                    )
                if not ours:
                    log.warning("job_lease_lost")
                    return
            except Exception:  # a missed heartbeat is retried; the lease covers several
                log.exception("job_heartbeat_failed")

    async def _failed_attempt(self, job: Job, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"[:4000]
        log.warning(
            "job_attempt_failed",
            attempts=job.attempts,
            error=error,
            traceback="".join(traceback.format_exception(exc))[-4000:],
        )
        if job.attempts >= job.max_attempts:
            await self._finish(job, JobStatus.failed, error=error)
            JOB_RUNS.labels(job.kind, "failed").inc()
            return
        jobs = self.settings.jobs
        delay = min(jobs.backoff_max_s, jobs.backoff_base_s * 2 ** (job.attempts - 1))
        delay *= random.uniform(0.8, 1.2)  # jitter, so retries of a burst spread out
        await self._finish(
            job, JobStatus.queued, error=error, run_after=utcnow() + timedelta(seconds=delay)
        )
        JOB_RUNS.labels(job.kind, "retried").inc()

    async def _finish(self, job: Job, status: JobStatus, **kwargs: object) -> None:
        async with self.db.session() as session:
            await repository.finish(
                session,
                job_id=job.id,
                worker=self.id,
                now=utcnow(),
                status=status,
                **kwargs,  # type: ignore[arg-type]
            )
