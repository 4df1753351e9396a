"""Runs the reference tus server (`@tus/server` with its file store, npm) as a local peer.

It lives in tests/peers/tus_node (package.json + lock; `npm ci` there installs it, as `.ci/run`
does). `TusPeer.start()` launches `node server.mjs <directory>`; uploads are created at
`{url}/files` and their bytes land in `<directory>/<upload id>`. Without Node or the installed
package, `unavailable()` says why (tests skip, CI fails).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers.oidc_provider import MIN_NODE

HERE = Path(__file__).resolve().parent / "tus_node"


def unavailable() -> str | None:
    """Why the peer cannot run here, or None."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    try:
        major, minor = (int(x) for x in version.lstrip("v").split(".")[:2])
    except ValueError:
        return f"unreadable node version {version!r}"
    if (major, minor) < MIN_NODE:
        return f"node {version} is older than {MIN_NODE[0]}.{MIN_NODE[1]} (@tus/server 2)"
    if not (HERE / "node_modules" / "@tus" / "server").is_dir():
        return f"@tus/server is not installed: run `npm ci` in {HERE}"
    return None


def require() -> None:
    """Skip without the peer, except in CI, where its absence is a failure."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError(f"the tus reference server is required in CI: {reason}")
        pytest.skip(reason)


@dataclass
class TusPeer:
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tus-peer-")))
    port: int = 0
    _process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """Where uploads are created."""
        return f"{self.url}/files"

    def stored(self, upload_url: str) -> bytes:
        """The bytes the server stored for an upload."""
        return (self.directory / upload_url.rstrip("/").rsplit("/", 1)[1]).read_bytes()

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["node", "server.mjs", str(self.directory)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            error = self._process.stderr.read() if self._process.stderr else ""
            raise RuntimeError(f"the tus peer did not start: {error[-2000:]}")
        self.port = int(json.loads(line)["port"])

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            for stream in (self._process.stdout, self._process.stderr):
                if stream is not None:
                    stream.close()
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
