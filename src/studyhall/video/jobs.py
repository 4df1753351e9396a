"""Video jobs: expire unfinished uploads (periodic); studyhall.jobs.files frees deleted bytes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.sweeps import sweep
from studyhall.jobs.registry import JobContext
from studyhall.video import service

EXPIRE_KIND = "video.expire_uploads"
_PER_BATCH = 100


async def expire_uploads(ctx: JobContext) -> None:
    """Fail every local upload past its expiry and queue its bytes for deletion."""

    async def batch(session: AsyncSession) -> int:
        return await service.expire_uploads(session, limit=_PER_BATCH)

    ctx.result = {"expired": await sweep(ctx.db, batch, full=_PER_BATCH)}
