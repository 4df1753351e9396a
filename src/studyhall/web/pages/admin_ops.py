"""Admin pages for running the platform: stats with charts, background jobs (retry a failed
one) and the audit log. Each reads the same service as its API route."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.analytics.platform import platform_stats
from studyhall.audit import service as audit_log
from studyhall.jobs import service as jobs
from studyhall.jobs.models import JobStatus
from studyhall.web.pages.answers import FRESH, Form, form_page, submitted
from studyhall.web.pages.common import ADMINS_ONLY, Ctx
from studyhall.web.render import page

router = APIRouter(include_in_schema=False, dependencies=[ADMINS_ONLY])
SHOWN = 50


@router.get("/admin/stats")
async def stats(ctx: Ctx) -> Response:
    async with ctx.db.session(write=False) as session:
        figures = await platform_stats(session, settings=ctx.settings)
    return page(ctx, "admin/stats.html", stats=figures)


async def _jobs_page(ctx: Ctx, *, status: str, kind: str, form: Form = FRESH) -> Response:
    wanted = JobStatus(status) if status in JobStatus.__members__ else None
    async with ctx.db.session(write=False) as session:
        rows, total = await jobs.list_jobs(
            session, status=wanted, kind=kind.strip()[:100] or None, limit=SHOWN, offset=0
        )
    return form_page(
        ctx,
        "admin/jobs.html",
        form,
        jobs=rows,
        total=total,
        status=wanted.value if wanted else "",
        kind=kind[:100],
        statuses=[s.value for s in JobStatus],
    )


@router.get("/admin/jobs")
async def job_list(ctx: Ctx, status: str = "", kind: str = "") -> Response:
    return await _jobs_page(ctx, status=status, kind=kind)


@router.post("/admin/jobs/{job_id}/retry")
async def retry(ctx: Ctx, job_id: uuid.UUID) -> Response:
    """Queue a failed job again (the service refuses any other status with 409)."""

    async def retry_job(session: AsyncSession) -> str:
        await jobs.retry_job(session, job_id=job_id)
        return "/admin/jobs"

    return await submitted(ctx, retry_job, again=partial(_jobs_page, ctx, status="", kind=""))


@router.get("/admin/audit")
async def audit(ctx: Ctx, action: str = "", target_type: str = "") -> Response:
    async with ctx.db.session(write=False) as session:
        rows, total = await audit_log.list_logs(
            session,
            action=action.strip()[:64] or None,
            target_type=target_type.strip()[:64] or None,
            limit=SHOWN,
            offset=0,
        )
    return page(
        ctx,
        "admin/audit.html",
        entries=rows,
        total=total,
        action=action[:64],
        target_type=target_type[:64],
    )
