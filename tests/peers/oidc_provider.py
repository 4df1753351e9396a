"""Runs `oidc-provider` (npm, a certified OpenID Connect implementation) as a local peer.

The provider lives in tests/peers/oidc (package.json + lock; `npm ci` there installs it, as
`.ci/run` does). `OIDCPeer.start()` launches `node server.mjs` on a free port with the given
clients and a signing key generated here, so a test can restart it with a new key (rotation).
Without Node or the installed package, `node_unavailable()` says why (tests skip, CI fails).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey

HERE = Path(__file__).resolve().parent / "oidc"
MIN_NODE = (20, 19)


def node_unavailable() -> str | None:
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
        return f"node {version} is older than {MIN_NODE[0]}.{MIN_NODE[1]} (oidc-provider 9)"
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        return f"oidc-provider is not installed: run `npm ci` in {HERE}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_signing_key(kid: str) -> dict[str, Any]:
    """A private RSA JWK for the provider to sign ID tokens with."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return dict(key.as_dict(private=True))


@dataclass
class OIDCPeer:
    clients: list[dict[str, Any]]
    port: int = field(default_factory=_free_port)
    key: dict[str, Any] = field(default_factory=lambda: new_signing_key("key-1"))
    _process: subprocess.Popen[str] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_CLIENTS": json.dumps(self.clients),
            "OIDC_JWKS": json.dumps({"keys": [self.key]}),
        }
        self._process = subprocess.Popen(
            ["node", "server.mjs"],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + 30
        line = self._process.stdout.readline()
        if not line.startswith("ready") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {line!r}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def restart_with_new_key(self, kid: str) -> None:
        """The provider rotates its signing key (same issuer, a key id StudyHall has not seen)."""
        self.stop()
        self.key = new_signing_key(kid)
        self.start()
