"""The process backend as a dedicated unprivileged user (WORKSPACES__PROCESS_USER): the server
(root) starts the workspace through studyhall.workspaces.launch, which caps it and switches to
the user for good; the workspace then runs as that user with its limits, in a home only it can
open, reached through the proxy. A user that does not exist is the documented 503.

Switching users needs root (CI runs as root); the workspace is the static C echo of the
container tests (tests/peers/workspace_image/echo.c), so the user needs no access to the
server's Python."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.workspaces.models import Workspace
from tests.peers.podman_engine import SOURCE
from tests.workspaces.conftest import API, with_workspaces
from tests.workspaces.test_api import client_for

Headers = Callable[[User], dict[str, str]]
WORKSPACE_USER = "nobody"
MEMORY_MB = 256
PIDS = 32


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder other users may traverse (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="sh-ws-user-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def echo_binary(shared_dir: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("switching to the workspace user needs root (CI runs as root)")
    if shutil.which("gcc") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs gcc, but it is missing")
        pytest.skip("gcc is not installed")
    binary = shared_dir / "echo"
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(binary), str(SOURCE)], check=True, capture_output=True
    )
    return binary


def _proc(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def _limit(limits: str, name: str) -> tuple[str, str]:
    line = next(line for line in limits.splitlines() if line.startswith(name))
    soft, hard = line[len(name) :].split()[:2]
    return soft, hard


async def test_the_workspace_runs_as_the_dedicated_user_with_its_limits(
    settings: Settings,
    student: User,
    auth: Headers,
    db: Database,
    shared_dir: Path,
    echo_binary: Path,
) -> None:
    account = pwd.getpwnam(WORKSPACE_USER)
    homes = shared_dir / "homes"
    as_user = with_workspaces(
        settings,
        process_user=WORKSPACE_USER,
        process_command=[str(echo_binary)],
        process_homes_dir=homes,
        memory_mb=MEMORY_MB,
        pids_limit=PIDS,
    )
    async with client_for(as_user) as client:
        h = auth(student)
        started = await client.post(f"{API}/workspaces", json={}, headers=h)
        assert started.status_code == 201, started.text
        prefix = f"/workspaces/{started.json()['id']}"
        probe = (await client.get(f"{prefix}/probe", headers=h)).json()
        assert probe["uid"] == account.pw_uid
        assert probe["root_writable"] is False and probe["home_writable"] is True
        assert probe["capeff"] == "0000000000000000"

        # The process as the kernel reports it: the user for good, capped.
        async with db.session(write=False) as session:
            row = await session.get(Workspace, uuid.UUID(started.json()["id"]))
            assert row is not None and row.backend_id is not None
        pid = int(row.backend_id)  # launch execs the workspace: the same process
        status = _proc(pid, "status")
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids == [str(account.pw_uid)] * 4
        groups = next(line for line in status.splitlines() if line.startswith("Groups:"))
        assert groups.split()[1:] == []
        limits = _proc(pid, "limits")
        assert _limit(limits, "Max address space") == (str(MEMORY_MB * 2**20),) * 2
        assert _limit(limits, "Max processes") == (str(PIDS),) * 2
        assert _limit(limits, "Max core file size") == ("0", "0")

        # Its home is its own; the folder of homes cannot be listed by it.
        saved = await client.put(f"{prefix}/files/notes.txt", content=b"mine", headers=h)
        assert saved.status_code == 201
        (home,) = homes.iterdir()
        assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (account.pw_uid, 0o700)
        assert (home / "notes.txt").stat().st_uid == account.pw_uid
        assert homes.stat().st_mode & 0o777 == 0o711

        assert (await client.delete(f"{API}/workspaces/me", headers=h)).status_code == 204
        assert not Path(f"/proc/{pid}").exists()


async def test_a_workspace_user_that_does_not_exist_is_the_documented_503(
    settings: Settings, student: User, auth: Headers
) -> None:
    missing = with_workspaces(settings, process_user="studyhall-no-such-user")
    async with client_for(missing) as client:
        answer = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
        assert answer.status_code == 503
        assert answer.json()["code"] == "workspace_backend_unavailable"
        assert "studyhall-no-such-user" in answer.json()["detail"]
