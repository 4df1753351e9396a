"""The idle cull: the periodic job stops workspaces without proxy traffic for the idle timeout;
traffic through the proxy keeps one alive; a start that never finished is given up."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from studyhall.audit.models import AuditLog
from studyhall.config import Settings
from studyhall.core.clock import clock, utcnow
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.jobs.service import enqueue
from studyhall.jobs.worker import Worker
from studyhall.workspaces.jobs import CULL_KIND
from studyhall.workspaces.models import Workspace, WorkspaceStatus
from tests.tutor.conftest import live_server
from tests.workspaces.conftest import API, with_workspaces

Headers = Callable[[User], dict[str, str]]
IDLE_S = 600.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_workspaces(settings, idle_timeout_s=IDLE_S)


async def _cull(app: Any, db: Database, settings: Settings) -> None:
    """Run the periodic job as the worker does (due at once: its schedule is new)."""
    worker = Worker(db, settings, app.state.storage, name="cull-test")
    await worker.schedule_periodic()
    await worker.run_until_idle()


async def _row(db: Database, workspace_id: str) -> Workspace:
    async with db.session(write=False) as session:
        row = await session.get(Workspace, uuid.UUID(workspace_id))
        assert row is not None
        return row


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_idle_workspaces_are_stopped_and_traffic_keeps_them_alive(
    app: Any,
    client: httpx.AsyncClient,
    student: User,
    auth: Headers,
    db: Database,
    settings: Settings,
) -> None:
    h = auth(student)
    started = (await client.post(f"{API}/workspaces", json={}, headers=h)).json()
    pid = int((await _row(db, started["id"])).backend_id or 0)

    clock.advance(timedelta(seconds=IDLE_S * 0.7))
    assert (await client.get(f"/workspaces/{started['id']}/", headers=h)).status_code == 200
    clock.advance(timedelta(seconds=IDLE_S * 0.7))
    await _cull(app, db, settings)
    assert (await _row(db, started["id"])).status == WorkspaceStatus.running
    assert _alive(pid)

    clock.advance(timedelta(seconds=IDLE_S * 0.4))
    await _cull(app, db, settings)
    row = await _row(db, started["id"])
    assert row.status == WorkspaceStatus.stopped
    assert not _alive(pid)
    async with db.session(write=False) as session:
        culled = await session.scalar(
            select(AuditLog).where(
                AuditLog.action == "workspace.cull", AuditLog.target_id == started["id"]
            )
        )
    assert culled is not None and culled.actor_id is None
    # Stopped, not gone: the student starts it again (with a token of the moved clock).
    again = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
    assert again.status_code == 201 and again.json()["id"] == started["id"]


async def test_a_start_that_never_finished_is_given_up(
    app: Any, student: User, db: Database, settings: Settings
) -> None:
    async with db.session() as session:
        row = Workspace(
            user_id=student.id,
            scope="personal",
            backend="process",
            token="t",
            status=WorkspaceStatus.starting,
            start_deadline_at=utcnow() + timedelta(seconds=30),
        )
        session.add(row)
    await _cull(app, db, settings)
    assert (await _row(db, str(row.id))).status == WorkspaceStatus.starting
    clock.advance(timedelta(seconds=31))
    async with db.session() as session:
        # The schedule is not due again yet: queue the kind directly, as the schedule would.
        await enqueue(session, kind=CULL_KIND, payload={})
    await Worker(db, settings, app.state.storage, name="cull-test").run_until_idle()
    failed = await _row(db, str(row.id))
    assert failed.status == WorkspaceStatus.failed and failed.error


async def test_websocket_traffic_keeps_the_workspace_alive(
    app: Any, student: User, auth: Headers, db: Database, settings: Settings
) -> None:
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
        started = (await client.post(f"{API}/workspaces", json={}, headers=auth(student))).json()
        pid = int((await _row(db, started["id"])).backend_id or 0)
        ws_url = base.replace("http", "ws") + f"/workspaces/{started['id']}/api/kernels/k/channels"
        async with connect(ws_url, additional_headers=auth(student)) as ws:
            clock.advance(timedelta(seconds=IDLE_S * 0.7))
            moved_to = utcnow()
            await ws.send("still here")
            assert await ws.recv() == "echo:still here"
            # The relay records the frame as activity (its own write, just after relaying it).
            for _ in range(100):
                if (await _row(db, started["id"])).last_activity_at >= moved_to:
                    break
                await asyncio.sleep(0.05)
            clock.advance(timedelta(seconds=IDLE_S * 0.7))
            await _cull(app, db, settings)
            assert (await _row(db, started["id"])).status == WorkspaceStatus.running
            assert _alive(pid)

            clock.advance(timedelta(seconds=IDLE_S * 0.4))
            await _cull(app, db, settings)
            assert (await _row(db, started["id"])).status == WorkspaceStatus.stopped
            assert not _alive(pid)
