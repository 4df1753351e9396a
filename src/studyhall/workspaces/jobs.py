"""Workspaces' periodic job: stop idle workspaces, give up on starts that never finished."""

from __future__ import annotations

from studyhall.jobs.registry import JobContext
from studyhall.workspaces import service
from studyhall.workspaces.backends import backend_for

CULL_KIND = "workspaces.cull_idle"


async def cull_idle(ctx: JobContext) -> None:
    """Stop every workspace without proxy traffic for WORKSPACES__IDLE_TIMEOUT_S."""
    if ctx.settings.workspaces.backend == "off":
        return
    ctx.result = await service.cull(ctx.db, backend_for(ctx.settings), ctx.settings)
