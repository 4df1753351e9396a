"""Workspace routes: start or return mine, my status, stop, a course's profile, admin list/stop."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.pagination import PageParams, page_of
from studyhall.core.schemas import Page
from studyhall.courses.dependencies import OwnedCourse
from studyhall.identity.dependencies import AdminUser, CurrentUser, SettingsDep
from studyhall.workspaces import service
from studyhall.workspaces.dependencies import (
    BackendDep,
    DatabaseDep,
    WorkspaceAdmin,
    WorkspaceCaller,
    limit_creation,
)
from studyhall.workspaces.models import WorkspaceStatus
from studyhall.workspaces.schemas import (
    CourseWorkspaceProfileIn,
    CourseWorkspaceProfileOut,
    WorkspaceOut,
    WorkspaceStart,
)

router = APIRouter(tags=["workspaces"], route_class=DocumentedRoute)

CourseQuery = Annotated[
    uuid.UUID | None,
    Query(description="The course's workspace; leave out for your own (personal) workspace"),
]


@router.post(
    "/workspaces",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": WorkspaceOut, "description": "It was already running"},
        **errors(404, 409, 429, 502, 503),
    },
)
async def start_workspace(
    body: WorkspaceStart,
    request: Request,
    response: Response,
    user: WorkspaceCaller,
    db: DatabaseDep,
    backend: BackendDep,
    settings: SettingsDep,
) -> WorkspaceOut:
    """Start my workspace (201), or return it when it runs (200). 409 while it is starting;
    503 `workspace_backend_unavailable` (with `Retry-After` when the engine does not answer)."""
    await limit_creation(request, user)
    started = await service.start(db, backend, settings, user=user, course_id=body.course_id)
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return started.workspace


@router.get("/workspaces/me", responses=errors(404, 503))
async def my_workspace(
    user: WorkspaceCaller,
    db: DatabaseDep,
    backend: BackendDep,
    settings: SettingsDep,
    course_id: CourseQuery = None,
) -> WorkspaceOut:
    """My workspace for a course (or my own) and its status."""
    return await service.mine(db, backend, settings, user=user, course_id=course_id)


@router.delete(
    "/workspaces/me", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 503)
)
async def stop_my_workspace(
    user: WorkspaceCaller,
    db: DatabaseDep,
    backend: BackendDep,
    course_id: CourseQuery = None,
) -> Response:
    """Stop my workspace; its files are kept for the next start."""
    await service.stop_mine(db, backend, user=user, course_id=course_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/courses/{course_id}/workspace-profile")
async def get_course_workspace_profile(
    course: OwnedCourse, session: SessionDep, settings: SettingsDep
) -> CourseWorkspaceProfileOut:
    """The workspace profile (image or command) this course's students get."""
    return await service.course_profile(session, settings, course_id=course.id)


@router.put("/courses/{course_id}/workspace-profile", responses=errors(422))
async def set_course_workspace_profile(
    body: CourseWorkspaceProfileIn,
    course: OwnedCourse,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> CourseWorkspaceProfileOut:
    """Choose one of the operator's profiles for this course; new starts use it."""
    return await service.set_course_profile(
        session, settings, actor=user, course_id=course.id, profile=body.profile
    )


@router.get("/admin/workspaces")
async def list_workspaces(
    session: SessionDep,
    _admin: AdminUser,
    settings: SettingsDep,
    page: PageParams,
    status: Annotated[WorkspaceStatus | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[WorkspaceOut]:
    """Every workspace, newest first; filter by status and user."""
    items, total = await service.admin_list(
        session, settings, status=status, user_id=user_id, limit=page.limit, offset=page.offset
    )
    return page_of(items, total, page)


@router.post("/admin/workspaces/{workspace_id}/stop", responses=errors(404, 409, 503))
async def admin_stop_workspace(
    workspace_id: uuid.UUID,
    admin: WorkspaceAdmin,
    db: DatabaseDep,
    backend: BackendDep,
    settings: SettingsDep,
) -> WorkspaceOut:
    """Stop anyone's workspace (files kept)."""
    return await service.admin_stop(db, backend, settings, actor=admin, workspace_id=workspace_id)
