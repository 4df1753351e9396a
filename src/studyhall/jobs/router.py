"""Admin routes over the job queue."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.pagination import PageParams, listed
from studyhall.core.schemas import Page
from studyhall.identity.dependencies import AdminUser
from studyhall.jobs import service
from studyhall.jobs.models import JobStatus
from studyhall.jobs.schemas import JobOut

router = APIRouter(prefix="/admin/jobs", tags=["jobs"], route_class=DocumentedRoute)


@router.get("")
async def list_jobs(
    session: SessionDep,
    _admin: AdminUser,
    page: PageParams,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[JobOut]:
    """Jobs, newest first; filter by status and kind."""
    return await listed(
        page, JobOut.model_validate, service.list_jobs, session, status=status, kind=kind
    )


@router.post("/dispatch", responses=errors(404))
async def dispatch_job(
    session: SessionDep,
    _admin: AdminUser,
    kind: Annotated[str | None, Query(max_length=100)] = None,
) -> JobOut:
    """Start the oldest queued job (of a kind) now, ahead of any retry backoff: the workers
    run it at their next poll (404 `no_queued_job` when nothing waits)."""
    return JobOut.model_validate(
        await service.dispatch_next(session, kinds=[kind] if kind else None)
    )


@router.get("/{job_id}")
async def get_job(job_id: uuid.UUID, session: SessionDep, _admin: AdminUser) -> JobOut:
    """One job with its progress and error."""
    return JobOut.model_validate(await service.get_job(session, job_id=job_id))


@router.post("/{job_id}/retry", responses=errors(409))
async def retry_job(job_id: uuid.UUID, session: SessionDep, _admin: AdminUser) -> JobOut:
    """Re-queue a failed job (409 for any other status)."""
    return JobOut.model_validate(await service.retry_job(session, job_id=job_id))
