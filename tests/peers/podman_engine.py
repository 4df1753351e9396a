"""A real Docker-compatible engine for the container tests: `podman system service` on a unix
socket in a temporary directory, with its own storage (vfs), runc as the runtime and explicit
default ulimits, and a workspace image built locally (no registry is reachable): a static build
of workspace_image/echo.c (HTTP + WebSocket echo) and busybox in a root filesystem imported
with `podman import`, its home owned by the non-root user 1000.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("workspace_image") / "echo.c"
IMAGE = "localhost/studyhall-test-workspace:latest"
HOME = "/home/student"
PORT = 8888
TOOLS = ("podman", "runc", "gcc")
BUSYBOX = Path("/bin/busybox")

_CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def missing_tools() -> list[str]:
    """What the engine needs that this machine lacks (CI installs them)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not BUSYBOX.exists():
        missing.append(str(BUSYBOX))
    return missing


@dataclass
class PodmanEngine:
    """One running `podman system service` and the image it holds."""

    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "podman.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.directory / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.directory / "storage.conf"),
        }

    def _podman(self, *args: str, stdin: bytes | None = None) -> None:
        subprocess.run(
            ["podman", *args], input=stdin, env=self._env(), check=True, capture_output=True
        )

    def prepare(self) -> None:
        """Write the configuration and build the image."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "containers.conf").write_text(_CONTAINERS_CONF)
        (self.directory / "storage.conf").write_text(
            '[storage]\ndriver = "vfs"\n'
            f'graphroot = "{self.directory / "root"}"\nrunroot = "{self.directory / "run"}"\n'
        )
        rootfs = self.directory / "rootfs"
        for folder in ("bin", "app", "tmp", "etc", "proc", "dev", "sys", HOME.lstrip("/")):
            (rootfs / folder).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["gcc", "-static", "-O2", "-o", str(rootfs / "app" / "echo"), str(SOURCE)],
            check=True,
            capture_output=True,
        )
        shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
        (rootfs / "bin" / "sh").symlink_to("busybox")
        (rootfs / "etc" / "passwd").write_text(
            "root:x:0:0::/root:/bin/sh\nstudent:x:1000:1000::/home/student:/bin/sh\n"
        )
        # Docker and Podman copy the image's home into a new volume, owner included.
        os.chown(rootfs / HOME.lstrip("/"), 1000, 1000)
        archive = subprocess.run(
            ["tar", "-C", str(rootfs), "-c", "."], check=True, capture_output=True
        ).stdout
        self._podman("import", "--change", 'CMD ["/app/echo"]', "-", IMAGE, stdin=archive)

    def start(self) -> None:
        """Serve the Docker Engine API on the socket."""
        self.process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.url],
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("podman system service did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the service (the engine is then down)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def remove_everything(self) -> None:
        """Remove the containers and volumes this engine made, then its files."""
        for args in (("rm", "--all", "--force"), ("volume", "rm", "--all", "--force")):
            subprocess.run(["podman", *args], env=self._env(), check=False, capture_output=True)
        shutil.rmtree(self.directory, ignore_errors=True)
