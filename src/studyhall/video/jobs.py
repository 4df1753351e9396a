"""Video jobs: expire unfinished uploads (periodic), free the bytes of deleted videos."""

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


async def delete_bytes(ctx: JobContext) -> None:
    """Remove stored video files once the rows pointing to them are gone (missing is fine)."""
    keys = [str(key) for key in ctx.payload.get("keys", [])]
    for key in keys:
        await ctx.storage.delete(key)
    ctx.result = {"deleted": len(keys)}
