"""What the workspace routes need: the backend, the database, and callers read in their own
short unit of work (a start waits seconds on the engine and must hold no transaction)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from studyhall.core.db import Database
from studyhall.identity.dependencies import (
    CallerInOwnSession,
    SettingsDep,
    require_role_in_own_session,
)
from studyhall.identity.models import Role, User
from studyhall.workspaces.backends import backend_for
from studyhall.workspaces.backends.base import WorkspaceBackend


async def get_backend(settings: SettingsDep) -> WorkspaceBackend:
    """The configured workspace backend (one per process)."""
    return backend_for(settings)


async def get_database(request: Request) -> Database:
    """The app's database, for use cases that run their own units of work."""
    db: Database = request.app.state.db
    return db


async def limit_creation(request: Request, user: User) -> None:
    """Seed 004's limit on workspace creation, per user (429 with Retry-After). Called by the
    route once the body is valid, so a refused body never uses up a start."""
    settings = request.app.state.settings
    await request.app.state.limiter.hit(
        settings.rate_limits.workspace_create_per_user,
        "workspace-create",
        str(user.id),
        message="Too many workspace starts; try again later",
    )


BackendDep = Annotated[WorkspaceBackend, Depends(get_backend)]
DatabaseDep = Annotated[Database, Depends(get_database)]
WorkspaceCaller = CallerInOwnSession
WorkspaceAdmin = Annotated[User, Depends(require_role_in_own_session(Role.admin))]
