"""JupyterLab as a process workspace (the default command), with a kernel run through the
proxy: the REST API starts a kernel and its WebSocket channel executes code. Needs the
`jupyter` extra (pip install -e .[jupyter]); slow, so it runs once, on PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from studyhall.config import Settings
from studyhall.identity.models import Role, User
from studyhall.main import create_app
from tests.conftest import MakeUser
from tests.tutor.conftest import live_server
from tests.workspaces.conftest import API, with_workspaces

Headers = Callable[[User], dict[str, str]]
# Seconds, not minutes, on an idle machine; the limit leaves room for a loaded CI.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _require_jupyterlab(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the JupyterLab test runs once, on PostgreSQL")
    if importlib.util.find_spec("jupyterlab") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs the jupyter extra, but jupyterlab is missing")
        pytest.skip("jupyterlab is not installed (pip install -e .[jupyter])")


async def test_a_kernel_runs_code_through_the_proxy(
    database_url: str, settings: Settings, make_user: MakeUser, auth: Headers
) -> None:
    _require_jupyterlab(database_url)
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    default = Settings.model_fields["workspaces"].default_factory().process_command  # type: ignore[misc]
    # CI runs as root; a deployment sets WORKSPACES__PROCESS_USER instead.
    command = [jupyter, *default[1:], "--allow-root"]
    lab = with_workspaces(settings, process_command=command, start_timeout_s=120.0, memory_mb=2048)
    app = create_app(lab, run_worker=False)
    student = await make_user(Role.student)
    try:
        await _run_a_cell(app, student, auth)
    finally:
        await app.state.db.dispose()


async def _run_a_cell(app: Any, student: User, auth: Headers) -> None:
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=180) as client:
        try:
            started = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
            assert started.status_code == 201, started.text
            prefix = f"/workspaces/{started.json()['id']}"
            kernel = await client.post(
                f"{prefix}/api/kernels", json={"name": "python3"}, headers=auth(student)
            )
            assert kernel.status_code == 201, kernel.text
            channels = (
                base.replace("http", "ws") + f"{prefix}/api/kernels/{kernel.json()['id']}/channels"
            )
            async with connect(channels, additional_headers=auth(student), max_size=None) as ws:
                msg_id = uuid.uuid4().hex
                await ws.send(json.dumps(_execute(msg_id, "print(6 * 7)")))
                output = await _stdout_of(ws, msg_id)
            assert output == "42\n"
        finally:
            await client.delete(f"{API}/workspaces/me", headers=auth(student))


def _execute(msg_id: str, code: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "student",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "2026-01-01T00:00:00Z",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }


async def _stdout_of(ws: Any, msg_id: str) -> str:
    text = ""
    async for raw in ws:
        message = json.loads(raw)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["header"]["msg_type"]
        if kind == "stream":
            text += message["content"]["text"]
        if kind == "status" and message["content"]["execution_state"] == "idle":
            return text
    return text
