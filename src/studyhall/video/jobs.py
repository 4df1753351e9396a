"""Video jobs: expire unfinished uploads (periodic); studyhall.jobs.files frees deleted bytes."""

from __future__ import annotations

from studyhall.jobs.registry import JobContext
from studyhall.video import service

EXPIRE_KIND = "video.expire_uploads"
_PER_BATCH = 100


async def expire_uploads(ctx: JobContext) -> None:
    """Fail every local upload past its expiry and queue its bytes for deletion."""
    total = 0
    while True:
        async with ctx.db.session() as session:
            expired = await service.expire_uploads(session, limit=_PER_BATCH)
        total += expired
        if expired < _PER_BATCH:
            break
    ctx.result = {"expired": total}
