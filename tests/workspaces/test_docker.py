"""The docker backend against a real Docker-compatible engine (`podman system service`, see
tests/peers/podman_engine.py): start, the limits and dropped capabilities as the engine and the
workspace itself report them, the proxy over HTTP and WebSocket, another user refused, the home
kept across a stop and a start, the idle cull, and the engine going down (503 + Retry-After).

Slow (an engine and containers): runs once, on PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from studyhall.config import Settings
from studyhall.core.clock import clock
from studyhall.identity.models import Role, User
from studyhall.jobs.worker import Worker
from studyhall.main import create_app
from studyhall.workspaces.backends import backend_for
from studyhall.workspaces.backends.docker import LABEL, DockerBackend
from tests.conftest import MakeUser
from tests.peers.podman_engine import HOME, IMAGE, PORT, PodmanEngine, missing_tools
from tests.tutor.conftest import live_server
from tests.workspaces.conftest import API, with_workspaces

Headers = Callable[[User], dict[str, str]]
# Seconds, not minutes, on an idle machine; the limit leaves room for a loaded CI.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
IDLE_S = 600.0
MEMORY_MB = 128


@pytest.fixture
def engine(database_url: str) -> Iterator[PodmanEngine]:
    if database_url.startswith("sqlite"):
        pytest.skip("container tests run once, on PostgreSQL")
    missing = missing_tools()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs these, but they are missing: {missing}")
        pytest.skip(f"missing {missing} (apt-get install podman runc busybox-static gcc)")
    # A short path: a unix socket's path is limited to 108 bytes.
    podman = PodmanEngine(Path(tempfile.mkdtemp(prefix="sh-podman-")))
    try:
        podman.prepare()
        podman.start()
        yield podman
    finally:
        podman.stop()
        podman.remove_everything()


async def test_container_workspaces_end_to_end(
    engine: PodmanEngine, settings: Settings, make_user: MakeUser, auth: Headers
) -> None:
    docker = with_workspaces(
        settings,
        backend="docker",
        docker_url=engine.url,
        image=IMAGE,
        container_command=["/app/echo"],
        container_port=PORT,
        container_user="1000:1000",
        container_home=HOME,
        memory_mb=MEMORY_MB,
        cpus=0.5,
        pids_limit=64,
        idle_timeout_s=IDLE_S,
        retry_after_s=11,
    )
    app = create_app(docker, run_worker=False)
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    try:
        await _exercise(app, docker, engine, owner, other, auth)
    finally:
        await app.state.db.dispose()


async def _exercise(
    app: Any, settings: Settings, engine: PodmanEngine, owner: User, other: User, auth: Headers
) -> None:
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=120) as client:
        started = await client.post(f"{API}/workspaces", json={}, headers=auth(owner))
        assert started.status_code == 201, started.text
        workspace = started.json()
        assert workspace["backend"] == "docker" and workspace["status"] == "running"
        prefix = f"/workspaces/{workspace['id']}"

        # What the engine was asked for, as it reports it.
        backend = backend_for(settings)
        assert isinstance(backend, DockerBackend)
        container = await _container_of(backend, workspace["id"])
        host = container["HostConfig"]
        assert host["Memory"] == MEMORY_MB * 1024 * 1024
        assert host["NanoCpus"] == 500_000_000
        assert host["PidsLimit"] == 64
        assert "no-new-privileges" in host["SecurityOpt"]
        assert host["ReadonlyRootfs"] is True and host["Privileged"] is False
        assert container["Config"]["User"] == "1000:1000"
        assert container["Config"]["Labels"][LABEL] == workspace["id"]
        assert host["PortBindings"][f"{PORT}/tcp"][0]["HostIp"] == "127.0.0.1"
        mounts = container["Mounts"]
        assert [m["Destination"] for m in mounts if m["Type"] == "volume"] == [HOME]
        assert not any(".sock" in (m.get("Source") or "") for m in mounts)

        # What the workspace itself sees: not root, no capability, a read-only root.
        probe = await client.get(f"{prefix}/probe", headers=auth(owner))
        assert probe.status_code == 200, probe.text
        assert probe.json() == {
            "uid": 1000,
            "capeff": "0000000000000000",
            "root_writable": False,
            "home_writable": True,
            "method": "GET",
            "path": f"{prefix}/probe",
        }
        assert (await client.get(f"{prefix}/probe", headers=auth(other))).status_code == 403

        ws_url = base.replace("http", "ws") + f"{prefix}/terminals/websocket/1"
        async with connect(ws_url, additional_headers=auth(owner)) as ws:
            await ws.send("ls")
            assert await ws.recv() == "echo:ls"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url, additional_headers=auth(other)):
                pass
        assert refused.value.response.status_code == 403

        # The home volume outlives the container.
        put = await client.put(f"{prefix}/files/work.py", content=b"x = 1", headers=auth(owner))
        assert put.status_code == 201
        assert (await client.delete(f"{API}/workspaces/me", headers=auth(owner))).status_code == 204
        assert await backend.inspect(container["Id"]) is None
        again = await client.post(f"{API}/workspaces", json={}, headers=auth(owner))
        assert again.status_code == 201
        kept = await client.get(f"{prefix}/files/work.py", headers=auth(owner))
        assert kept.status_code == 200 and kept.content == b"x = 1"

        # Idle past the timeout: the worker's cull stops and removes the container.
        second = await _container_of(backend, workspace["id"])
        clock.advance(timedelta(seconds=IDLE_S + 1))
        worker = Worker(app.state.db, settings, app.state.storage, name="cull")
        await worker.schedule_periodic()
        await worker.run_until_idle()
        assert await backend.inspect(second["Id"]) is None
        mine = await client.get(f"{API}/workspaces/me", headers=auth(owner))
        assert mine.json()["status"] == "stopped"

        # The engine goes down: starting is 503 with Retry-After.
        engine.stop()
        down = await client.post(f"{API}/workspaces", json={}, headers=auth(owner))
        assert down.status_code == 503 and down.headers["retry-after"] == "11"
        assert down.json()["code"] == "workspace_backend_unavailable"


async def _container_of(backend: DockerBackend, workspace_id: str) -> dict[str, Any]:
    found = await backend.client.get(
        "/containers/json", params={"filters": f'{{"label": ["{LABEL}={workspace_id}"]}}'}
    )
    assert found.status_code == 200, found.text
    (summary,) = found.json()
    info = await backend.inspect(summary["Id"])
    assert info is not None
    return info
