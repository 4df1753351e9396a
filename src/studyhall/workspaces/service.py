"""Workspace use cases: start or return mine, status, stop, admin list and stop, idle cull.

Starting takes seconds, so it is not one unit of work: the row is claimed as `starting` in a
short transaction (a second request then gets 409, and the unique (user, scope) pair makes two
first starts race safely), the backend starts it outside any transaction, and a second short
transaction records the outcome. A start that never finishes (a killed api process) is
abandoned at its deadline by the cull job.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.errors import AppError
from studyhall.courses import service as courses
from studyhall.courses.errors import CourseNotFound
from studyhall.identity.models import User
from studyhall.workspaces import repository
from studyhall.workspaces.backends.base import BackendState, WorkspaceBackend, WorkspaceSpec
from studyhall.workspaces.errors import (
    BackendUnavailable,
    NotYourWorkspace,
    UnknownProfile,
    WorkspaceNotFound,
    WorkspaceNotRunning,
    WorkspaceQuotaExceeded,
    WorkspaceStarting,
)
from studyhall.workspaces.models import PERSONAL_SCOPE, Workspace, WorkspaceStatus
from studyhall.workspaces.schemas import CourseWorkspaceProfileOut, WorkspaceOut

log = structlog.get_logger(__name__)

# Proxy traffic refreshes last_activity_at at most this often (one write, not one per request).
ACTIVITY_RESOLUTION_S = 30.0
# Workspaces stopped per cull transaction.
_CULL_BATCH = 50


def proxy_path(workspace_id: uuid.UUID) -> str:
    """The path prefix the proxy serves a workspace under (its base URL)."""
    return f"/workspaces/{workspace_id}/"


def _out(workspace: Workspace, settings: Settings) -> WorkspaceOut:
    out = WorkspaceOut.model_validate(
        {
            **{k: getattr(workspace, k) for k in WorkspaceOut.model_fields if k != "url"},
            "url": settings.public_url.rstrip("/") + proxy_path(workspace.id),
        }
    )
    return out


def _scope(course_id: uuid.UUID | None) -> str:
    return PERSONAL_SCOPE if course_id is None else f"course:{course_id}"


@dataclass(frozen=True)
class Started:
    """The workspace and whether this request started it (201) or found it running (200)."""

    workspace: WorkspaceOut
    created: bool


async def _profile_for(
    session: AsyncSession, settings: Settings, *, user: User, course_id: uuid.UUID | None
) -> str:
    if course_id is None:
        return "default"
    if not await courses.can_read_course(session, user=user, course_id=course_id):
        raise CourseNotFound()
    return await repository.course_profile(session, course_id) or "default"


async def _check_quotas(session: AsyncSession, settings: Settings, *, user: User) -> None:
    config = settings.workspaces
    if await repository.count_active(session, user_id=user.id) >= config.max_running_per_user:
        raise WorkspaceQuotaExceeded(
            f"You already have {config.max_running_per_user} workspaces running; stop one first"
        )
    if await repository.count_active(session) >= config.max_running_total:
        raise BackendUnavailable(
            "Every workspace slot of this server is in use; try again later",
            retry_after_s=config.retry_after_s,
        )


async def _claim(
    db: Database, settings: Settings, *, user: User, course_id: uuid.UUID | None
) -> tuple[Workspace, bool]:
    """(the row, True) when this request claimed it to start; (the row, False) when it is
    already running. 409 while another start is under way."""
    scope = _scope(course_id)
    now = utcnow()
    config = settings.workspaces
    starting = {
        "status": WorkspaceStatus.starting,
        "backend": config.backend,
        "token": secrets.token_urlsafe(32),
        "error": None,
        "start_deadline_at": now + timedelta(seconds=config.start_timeout_s),
        "last_activity_at": now,
        "updated_at": now,
    }
    try:
        async with db.session() as session:
            profile = await _profile_for(session, settings, user=user, course_id=course_id)
            workspace = await repository.by_scope(session, user_id=user.id, scope=scope)
            if workspace is not None and workspace.status == WorkspaceStatus.running:
                return workspace, False
            if (
                workspace is not None
                and workspace.status == WorkspaceStatus.starting
                and workspace.start_deadline_at is not None
                and workspace.start_deadline_at > now
            ):
                raise WorkspaceStarting()
            await _check_quotas(session, settings, user=user)
            if workspace is None:
                workspace = Workspace(
                    user_id=user.id, course_id=course_id, scope=scope, profile=profile, **starting
                )
                session.add(workspace)
                await session.flush()
            else:
                seen = workspace.updated_at
                if not await repository.claim(
                    session,
                    workspace=workspace,
                    seen_updated_at=seen,
                    values={**starting, "profile": profile},
                ):
                    raise WorkspaceStarting()
                await session.refresh(workspace)
    except IntegrityError:
        # Another request created this user's row for the scope a moment ago.
        raise WorkspaceStarting() from None
    return workspace, True


def _spec(workspace: Workspace, settings: Settings) -> WorkspaceSpec:
    return WorkspaceSpec(
        workspace_id=workspace.id,
        user_id=workspace.user_id,
        scope=workspace.scope,
        token=workspace.token,
        base_url=proxy_path(workspace.id),
        profile=settings.workspaces.profile(workspace.profile),
    )


async def _audit(
    session: AsyncSession,
    action: str,
    workspace: Workspace,
    *,
    actor_id: uuid.UUID | None,
    details: dict[str, Any],
) -> None:
    """An audit row about a workspace (its start, failure or stop)."""
    await audit.record(
        session,
        action=action,
        actor_id=actor_id,
        target_type="workspace",
        target_id=workspace.id,
        details=details,
    )


async def _finish_start(
    db: Database, backend: WorkspaceBackend, settings: Settings, *, workspace: Workspace
) -> Workspace:
    try:
        endpoint = await backend.start(_spec(workspace, settings))
    except AppError as exc:
        async with db.session() as session:
            row = await repository.get(session, workspace.id)
            if row is not None:
                row.status = WorkspaceStatus.failed
                row.error = exc.message
                row.start_deadline_at = None
            await _audit(
                session,
                "workspace.start_failed",
                workspace,
                actor_id=workspace.user_id,
                details={"backend": backend.name, "error": exc.message},
            )
        raise
    now = utcnow()
    async with db.session() as session:
        row = await repository.get(session, workspace.id)
        if row is None:  # the user or course was deleted meanwhile
            await backend.stop(endpoint.backend_id)
            raise WorkspaceNotFound()
        row.status = WorkspaceStatus.running
        row.backend_id = endpoint.backend_id
        row.endpoint = endpoint.url
        row.started_at = now
        row.stopped_at = None
        row.start_deadline_at = None
        row.last_activity_at = now
        await _audit(
            session,
            "workspace.start",
            row,
            actor_id=row.user_id,
            details={"backend": backend.name, "scope": row.scope, "profile": row.profile},
        )
        return row


async def start(
    db: Database,
    backend: WorkspaceBackend,
    settings: Settings,
    *,
    user: User,
    course_id: uuid.UUID | None,
) -> Started:
    """Start my workspace for a course (or my own), or return it when it is running."""
    workspace, claimed = await _claim(db, settings, user=user, course_id=course_id)
    if not claimed:
        assert workspace.backend_id is not None
        if await backend.status(workspace.backend_id) == BackendState.running:
            return Started(_out(workspace, settings), created=False)
        # It died behind our back (engine restart, crash): record that, then start again.
        await _mark_stopped(db, workspace.id, error="The workspace had stopped")
        workspace, claimed = await _claim(db, settings, user=user, course_id=course_id)
        if not claimed:
            return Started(_out(workspace, settings), created=False)
    row = await _finish_start(db, backend, settings, workspace=workspace)
    return Started(_out(row, settings), created=True)


async def _mark_stopped(db: Database, workspace_id: uuid.UUID, *, error: str | None) -> None:
    async with db.session() as session:
        row = await repository.get(session, workspace_id)
        if row is not None and row.status == WorkspaceStatus.running:
            row.status = WorkspaceStatus.stopped
            row.stopped_at = utcnow()
            row.error = error


async def mine(
    db: Database,
    backend: WorkspaceBackend,
    settings: Settings,
    *,
    user: User,
    course_id: uuid.UUID | None,
) -> WorkspaceOut:
    """My workspace for a course (or my own), its status checked with the backend."""
    async with db.session(write=False) as session:
        workspace = await repository.by_scope(session, user_id=user.id, scope=_scope(course_id))
        if workspace is None:
            raise WorkspaceNotFound("You have no workspace here yet")
    if (
        workspace.status == WorkspaceStatus.running
        and workspace.backend_id is not None
        and await backend.status(workspace.backend_id) != BackendState.running
    ):
        await _mark_stopped(db, workspace.id, error="The workspace had stopped")
        async with db.session(write=False) as session:
            workspace = await repository.get(session, workspace.id) or workspace
    return _out(workspace, settings)


async def _stop(
    db: Database,
    backend: WorkspaceBackend,
    *,
    workspace: Workspace,
    actor_id: uuid.UUID | None,
    action: str,
) -> Workspace:
    if workspace.status == WorkspaceStatus.starting:
        raise WorkspaceStarting()
    if workspace.status == WorkspaceStatus.running and workspace.backend_id is not None:
        await backend.stop(workspace.backend_id)
    async with db.session() as session:
        row = await repository.get(session, workspace.id)
        if row is None:
            raise WorkspaceNotFound()
        if row.status == WorkspaceStatus.running:
            row.status = WorkspaceStatus.stopped
            row.stopped_at = utcnow()
            details = {"backend": row.backend, "owner_id": str(row.user_id)}
            await _audit(session, action, row, actor_id=actor_id, details=details)
        return row


async def stop_mine(
    db: Database, backend: WorkspaceBackend, *, user: User, course_id: uuid.UUID | None
) -> None:
    """Stop my workspace; its files stay for the next start."""
    async with db.session(write=False) as session:
        workspace = await repository.by_scope(session, user_id=user.id, scope=_scope(course_id))
    if workspace is None:
        raise WorkspaceNotFound("You have no workspace here")
    await _stop(db, backend, workspace=workspace, actor_id=user.id, action="workspace.stop")


async def admin_list(
    session: AsyncSession,
    settings: Settings,
    *,
    status: WorkspaceStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[WorkspaceOut], int]:
    """Every workspace, newest first."""
    rows, total = await repository.page(
        session, status=status, user_id=user_id, limit=limit, offset=offset
    )
    return [_out(r, settings) for r in rows], total


async def admin_stop(
    db: Database,
    backend: WorkspaceBackend,
    settings: Settings,
    *,
    actor: User,
    workspace_id: uuid.UUID,
) -> WorkspaceOut:
    """Stop anyone's workspace (files kept)."""
    async with db.session(write=False) as session:
        workspace = await repository.get(session, workspace_id)
    if workspace is None:
        raise WorkspaceNotFound()
    row = await _stop(
        db, backend, workspace=workspace, actor_id=actor.id, action="workspace.admin_stop"
    )
    return _out(row, settings)


@dataclass(frozen=True)
class ProxyTarget:
    """Where the proxy sends a user's request, and the token it adds."""

    endpoint: str
    token: str


async def proxy_target(db: Database, *, user: User, workspace_id: uuid.UUID) -> ProxyTarget:
    """The running workspace the user may reach (404 unknown, 403 another's, 409 not running);
    the request counts as activity."""
    async with db.session(write=False) as session:
        workspace = await repository.get(session, workspace_id)
    if workspace is None:
        raise WorkspaceNotFound()
    if workspace.user_id != user.id:
        raise NotYourWorkspace()
    if workspace.status != WorkspaceStatus.running or workspace.endpoint is None:
        raise WorkspaceNotRunning()
    await touch(db, workspace=workspace)
    return ProxyTarget(endpoint=workspace.endpoint, token=workspace.token)


async def touch(db: Database, *, workspace: Workspace) -> None:
    """Keep the workspace alive (written at most every ACTIVITY_RESOLUTION_S)."""
    now = utcnow()
    if (now - workspace.last_activity_at).total_seconds() < ACTIVITY_RESOLUTION_S:
        return
    async with db.session() as session:
        await repository.touch(session, workspace_id=workspace.id, now=now)
    workspace.last_activity_at = now


async def touch_by_id(db: Database, *, workspace_id: uuid.UUID) -> None:
    """Activity on a long-lived connection (a WebSocket)."""
    async with db.session(write=False) as session:
        workspace = await repository.get(session, workspace_id)
    if workspace is not None:
        await touch(db, workspace=workspace)


async def cull(db: Database, backend: WorkspaceBackend, settings: Settings) -> dict[str, int]:
    """Stop workspaces idle past the timeout; fail starts past their deadline."""
    now = utcnow()
    before = now - timedelta(seconds=settings.workspaces.idle_timeout_s)
    culled = 0
    while True:
        async with db.session(write=False) as session:
            idle = await repository.idle(session, before=before, limit=_CULL_BATCH)
        if not idle:
            break
        for workspace in idle:
            await _stop(db, backend, workspace=workspace, actor_id=None, action="workspace.cull")
            culled += 1
        if len(idle) < _CULL_BATCH:
            break
    async with db.session() as session:
        abandoned = await repository.abandoned_starts(session, now=now, limit=_CULL_BATCH)
        for workspace in abandoned:
            workspace.status = WorkspaceStatus.failed
            workspace.error = "The start did not finish in time"
            workspace.start_deadline_at = None
    if culled or abandoned:
        log.info("workspaces_culled", culled=culled, abandoned=len(abandoned))
    return {"culled": culled, "abandoned": len(abandoned)}


async def course_profile(
    session: AsyncSession, settings: Settings, *, course_id: uuid.UUID
) -> CourseWorkspaceProfileOut:
    """The profile a course's workspaces use."""
    profile = await repository.course_profile(session, course_id) or "default"
    return CourseWorkspaceProfileOut(profile=profile, choices=settings.workspaces.profile_names())


async def set_course_profile(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: User,
    course_id: uuid.UUID,
    profile: str,
) -> CourseWorkspaceProfileOut:
    """Choose one of the operator's profiles for a course (new starts use it)."""
    choices = settings.workspaces.profile_names()
    if profile not in choices:
        raise UnknownProfile(f"Unknown workspace profile {profile!r}; choose one of {choices}")
    await repository.set_course_profile(session, course_id=course_id, profile=profile)
    await audit.record(
        session,
        action="workspace.course_profile",
        actor_id=actor.id,
        target_type="course",
        target_id=course_id,
        details={"profile": profile},
    )
    return CourseWorkspaceProfileOut(profile=profile, choices=choices)
