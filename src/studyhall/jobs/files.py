"""Stored files leave after the rows that point to them, never before.

A domain that deletes rows holding storage keys queues the files' removal in the same unit of
work: the job exists only if the deletion commits, so a rolled-back request never loses a file
that rows still point to, and a committed one never leaves files behind.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.jobs.registry import JobContext
from studyhall.jobs.service import enqueue


async def delete_files_later(session: AsyncSession, *, kind: str, keys: Sequence[str]) -> None:
    """Queue the removal of these stored files under the owning domain's job kind."""
    wanted = [key for key in keys if key]
    if wanted:
        await enqueue(session, kind=kind, payload={"keys": wanted})


async def delete_stored_files(ctx: JobContext) -> None:
    """Remove the stored files of a job's payload; one already gone is fine (a retry)."""
    keys = [str(key) for key in ctx.payload.get("keys", [])]
    for key in keys:
        await ctx.storage.delete(key)
    ctx.result = {"deleted": len(keys)}
