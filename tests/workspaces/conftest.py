"""Workspace fixtures: the process backend running the tiny echo workspace (echo_app.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.workspaces.backends import backend_for
from studyhall.workspaces.models import Workspace, WorkspaceStatus

ECHO_APP = Path(__file__).with_name("echo_app.py")
API = "/api/v1"


def with_workspaces(settings: Settings, **changes: Any) -> Settings:
    """The settings with these workspace settings changed."""
    return settings.model_copy(
        update={"workspaces": settings.workspaces.model_copy(update=changes)}
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The process backend with the echo workspace as its command."""
    return with_workspaces(
        settings,
        backend="process",
        process_command=[sys.executable, str(ECHO_APP), "{port}"],
        memory_mb=512,
        start_timeout_s=30.0,
        stop_timeout_s=5.0,
    )


@pytest.fixture(autouse=True)
async def stop_leftover_workspaces(app: Any, settings: Settings) -> AsyncIterator[None]:
    """No workspace process outlives its test (a failed assertion may leave one running);
    containers go with their engine (tests/peers/podman_engine.py)."""
    yield
    db: Database = app.state.db
    async with db.session(write=False) as session:
        rows = (
            await session.scalars(
                select(Workspace).where(
                    Workspace.status == WorkspaceStatus.running, Workspace.backend == "process"
                )
            )
        ).all()
    backend = backend_for(settings)
    for row in rows:
        if row.backend_id is not None:
            await backend.stop(row.backend_id)
