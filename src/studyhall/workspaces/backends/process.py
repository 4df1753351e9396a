"""One local process per workspace, for one-machine installs (JupyterHub's LocalProcessSpawner).

Each workspace runs the configured command through `studyhall.workspaces.launch` (address-space
cap, no core dumps, a process cap under a dedicated user) in its own session, as
`process_user` when set (the server then runs as root to switch users), on a free loopback port, with a home under DATA_DIR kept across
restarts. The server's environment is not passed on: a workspace sees PATH, LANG, its home and
its own token, never StudyHall's secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import re
import signal
import socket
import sys
from pathlib import Path

import structlog

from studyhall.config import WorkspaceSettings
from studyhall.workspaces.backends.base import BackendState, Endpoint, WorkspaceSpec
from studyhall.workspaces.backends.readiness import wait_until_serving
from studyhall.workspaces.errors import BackendUnavailable, WorkspaceStartFailed

log = structlog.get_logger(__name__)

_LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _home_name(spec: WorkspaceSpec) -> str:
    return f"{spec.user_id}-{re.sub(r'[^A-Za-z0-9-]', '-', spec.scope)}"


class ProcessBackend:
    name = "process"

    def __init__(self, settings: WorkspaceSettings, data_dir: Path) -> None:
        self.settings = settings
        self.homes = settings.process_homes_dir or data_dir / "workspaces" / "homes"
        self.logs = data_dir / "workspaces" / "logs"
        # Children started by this process, so their exit is collected (no zombies).
        self._children: dict[int, asyncio.subprocess.Process] = {}

    def _account(self) -> pwd.struct_passwd | None:
        name = self.settings.process_user
        if name is None:
            return None
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise BackendUnavailable(
                f"The workspace user {name!r} does not exist on this machine"
            ) from None

    def _prepare_home(self, spec: WorkspaceSpec, account: pwd.struct_passwd | None) -> Path:
        # The folder of homes is only traversable, so no workspace lists the others.
        self.homes.mkdir(parents=True, exist_ok=True, mode=0o711)
        home = self.homes / _home_name(spec)
        home.mkdir(exist_ok=True, mode=0o700)
        self.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        if account is not None:
            os.chown(home, account.pw_uid, account.pw_gid)
        return home

    async def start(self, spec: WorkspaceSpec) -> Endpoint:
        account = self._account()
        home = self._prepare_home(spec, account)
        port = _free_port()
        argv = spec.argv(port, str(home))
        if not argv:
            raise WorkspaceStartFailed("No command is configured for the process backend")
        limits = {
            "memory_mb": self.settings.memory_mb,
            # Per user: only a dedicated user's processes can be counted this way.
            "max_processes": self.settings.pids_limit if account is not None else None,
            "uid": account.pw_uid if account is not None else None,
            "gid": account.pw_gid if account is not None else None,
        }
        env = {
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]
            ),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **spec.environment(port, str(home)),
        }
        command = [sys.executable, "-P", "-m", "studyhall.workspaces.launch", json.dumps(limits)]
        # The workspace's output goes to its log file (a small O_APPEND open, not worth a thread).
        output = os.open(
            self.logs / f"{spec.workspace_id}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                "--",
                *argv,
                cwd=home,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        except OSError as exc:
            raise WorkspaceStartFailed(f"The workspace command could not start: {exc}") from exc
        finally:
            os.close(output)
        self._children[proc.pid] = proc
        url = f"http://{_LOOPBACK}:{port}"

        async def alive() -> bool:
            return proc.returncode is None

        if not await wait_until_serving(
            url + spec.base_url, timeout_s=self.settings.start_timeout_s, still_alive=alive
        ):
            # Read before stopping it, which gives every workspace an exit status.
            exited = proc.returncode
            await self.stop(str(proc.pid))
            raise WorkspaceStartFailed(
                f"The workspace did not answer within {self.settings.start_timeout_s:.0f} s"
                if exited is None
                else f"The workspace exited with status {exited} while starting"
            )
        log.info("workspace_process_started", workspace_id=str(spec.workspace_id), pid=proc.pid)
        return Endpoint(backend_id=str(proc.pid), url=url)

    async def status(self, backend_id: str) -> BackendState:
        pid = int(backend_id)
        proc = self._children.get(pid)
        if proc is not None:
            return BackendState.running if proc.returncode is None else BackendState.gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return BackendState.gone
        except PermissionError:
            return BackendState.running
        return BackendState.running

    async def stop(self, backend_id: str) -> None:
        pid = int(backend_id)
        proc = self._children.pop(pid, None)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        if await self._exited(pid, proc, self.settings.stop_timeout_s):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        await self._exited(pid, proc, self.settings.stop_timeout_s)

    async def _exited(
        self, pid: int, proc: asyncio.subprocess.Process | None, timeout_s: float
    ) -> bool:
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                return False
            return True
        # Started by another process of this machine: poll until the pid is gone.
        for _ in range(int(timeout_s / 0.1) + 1):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            await asyncio.sleep(0.1)
        return False

    async def aclose(self) -> None:
        return None
