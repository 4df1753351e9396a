"""All SQL of the workspaces domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.listing import newest_first, where_given
from studyhall.core.pagination import paginate
from studyhall.workspaces.models import CourseWorkspaceProfile, Workspace, WorkspaceStatus

ACTIVE = (WorkspaceStatus.starting, WorkspaceStatus.running)


async def get(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def by_scope(session: AsyncSession, *, user_id: uuid.UUID, scope: str) -> Workspace | None:
    return await session.scalar(
        select(Workspace).where(Workspace.user_id == user_id, Workspace.scope == scope)
    )


async def count_active(session: AsyncSession, *, user_id: uuid.UUID | None = None) -> int:
    """Starting or running workspaces (of one user, or of everyone)."""
    query = select(func.count()).select_from(Workspace).where(Workspace.status.in_(ACTIVE))
    if user_id is not None:
        query = query.where(Workspace.user_id == user_id)
    return int(await session.scalar(query) or 0)


async def claim(
    session: AsyncSession,
    *,
    workspace: Workspace,
    seen_updated_at: datetime,
    values: dict[str, Any],
) -> bool:
    """Update the row only if nobody changed it since it was read (two starts race here)."""
    result = await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id, Workspace.updated_at == seen_updated_at)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(session: AsyncSession, *, workspace_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(last_activity_at=now)
        .execution_options(synchronize_session=False)
    )


async def idle(session: AsyncSession, *, before: datetime, limit: int) -> list[Workspace]:
    rows = await session.scalars(
        select(Workspace)
        .where(Workspace.status == WorkspaceStatus.running, Workspace.last_activity_at < before)
        .order_by(Workspace.last_activity_at)
        .limit(limit)
    )
    return list(rows)


async def abandoned_starts(session: AsyncSession, *, now: datetime, limit: int) -> list[Workspace]:
    rows = await session.scalars(
        select(Workspace)
        .where(Workspace.status == WorkspaceStatus.starting, Workspace.start_deadline_at < now)
        .limit(limit)
    )
    return list(rows)


async def page(
    session: AsyncSession,
    *,
    status: WorkspaceStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[Workspace], int]:
    query = where_given(select(Workspace), (Workspace.status, status), (Workspace.user_id, user_id))
    return await paginate(
        session, query, order_by=newest_first(Workspace), limit=limit, offset=offset
    )


async def course_profile(session: AsyncSession, course_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(CourseWorkspaceProfile.profile).where(CourseWorkspaceProfile.course_id == course_id)
    )


async def set_course_profile(session: AsyncSession, *, course_id: uuid.UUID, profile: str) -> None:
    row = await session.get(CourseWorkspaceProfile, course_id)
    if row is None:
        session.add(CourseWorkspaceProfile(course_id=course_id, profile=profile))
    else:
        row.profile = profile
