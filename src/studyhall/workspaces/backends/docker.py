"""Workspaces as containers through the Docker Engine API (Docker, or `podman system service`).

httpx over the engine's unix socket (or TCP): nothing blocks the event loop. Each container
gets memory, CPU and process limits, drops every capability, cannot gain privileges, runs as a
non-root user on a read-only root with a writable home volume (kept across restarts, one per
student and scope) and a small /tmp, carries StudyHall's label, and publishes its port on
127.0.0.1 only (or joins an internal network). The engine's socket is never mounted into it.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import structlog

from studyhall.config import WorkspaceSettings
from studyhall.workspaces.backends.base import BackendState, Endpoint, WorkspaceSpec
from studyhall.workspaces.backends.readiness import wait_until_serving
from studyhall.workspaces.errors import BackendUnavailable, WorkspaceStartFailed

log = structlog.get_logger(__name__)

LABEL = "io.studyhall.workspace"
USER_LABEL = "io.studyhall.user"
_LOOPBACK = "127.0.0.1"


def _client(url: str, timeout_s: float) -> httpx.AsyncClient:
    timeout = httpx.Timeout(timeout_s, connect=5.0)
    if url.startswith("unix://"):
        transport = httpx.AsyncHTTPTransport(uds=url[len("unix://") :])
        return httpx.AsyncClient(base_url="http://engine", transport=transport, timeout=timeout)
    base = "http://" + url[len("tcp://") :] if url.startswith("tcp://") else url
    return httpx.AsyncClient(base_url=base, timeout=timeout)


def _volume_name(spec: WorkspaceSpec) -> str:
    return f"studyhall-home-{spec.user_id}-{re.sub(r'[^A-Za-z0-9_.-]', '-', spec.scope)}"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message", body))[:300] if isinstance(body, dict) else str(body)[:300]


class DockerBackend:
    name = "docker"

    def __init__(self, settings: WorkspaceSettings) -> None:
        self.settings = settings
        # Stopping waits for the container's grace period; the client must wait longer.
        self.client = _client(settings.docker_url, settings.stop_timeout_s + 30.0)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            log.warning("workspace_engine_unreachable", error=str(exc))
            raise BackendUnavailable(
                "The container engine does not answer",
                retry_after_s=self.settings.retry_after_s,
            ) from exc

    async def _checked(self, method: str, path: str, *ok: int, **kwargs: Any) -> httpx.Response:
        response = await self._call(method, path, **kwargs)
        if response.status_code not in ok:
            raise WorkspaceStartFailed(
                f"The container engine refused {method} {path.split('?')[0]}: {_message(response)}"
            )
        return response

    async def _ensure_volume(self, name: str, spec: WorkspaceSpec) -> None:
        found = await self._call("GET", f"/volumes/{name}")
        if found.status_code == 200:
            return
        await self._checked(
            "POST",
            "/volumes/create",
            200,
            201,
            json={"Name": name, "Labels": {USER_LABEL: str(spec.user_id)}},
        )

    def _container_body(self, spec: WorkspaceSpec, volume: str) -> dict[str, Any]:
        config = self.settings
        port = spec.profile.port or config.container_port
        home = config.container_home
        memory = config.memory_mb * 1024 * 1024
        host: dict[str, Any] = {
            "Memory": memory,
            "MemorySwap": memory,
            "NanoCpus": int(config.cpus * 1e9),
            "PidsLimit": config.pids_limit,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "ReadonlyRootfs": True,
            "Privileged": False,
            "Mounts": [{"Type": "volume", "Source": volume, "Target": home}],
            # The container's own /tmp (its root is read-only), not the server's.
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=256m"},  # noqa: S108
            "RestartPolicy": {"Name": "no"},
        }
        if config.docker_network:
            host["NetworkMode"] = config.docker_network
        else:
            host["PortBindings"] = {f"{port}/tcp": [{"HostIp": _LOOPBACK, "HostPort": ""}]}
        body: dict[str, Any] = {
            "Image": spec.profile.image,
            "Env": [f"{k}={v}" for k, v in spec.environment(port, home).items()],
            "User": config.container_user,
            "WorkingDir": home,
            "Labels": {LABEL: str(spec.workspace_id), USER_LABEL: str(spec.user_id)},
            "ExposedPorts": {f"{port}/tcp": {}},
            "HostConfig": host,
        }
        argv = spec.argv(port, home)
        if argv:
            body["Cmd"] = argv
        return body

    def _address(self, info: dict[str, Any], port: int) -> str:
        network = info.get("NetworkSettings") or {}
        if self.settings.docker_network:
            net = (network.get("Networks") or {}).get(self.settings.docker_network) or {}
            address = net.get("IPAddress")
            if not address:
                raise WorkspaceStartFailed("The container has no address on its network")
            return f"http://{address}:{port}"
        bindings = (network.get("Ports") or {}).get(f"{port}/tcp") or []
        host_port = next((b.get("HostPort") for b in bindings if b.get("HostPort")), None)
        if not host_port:
            raise WorkspaceStartFailed("The container's port was not published")
        return f"http://{_LOOPBACK}:{host_port}"

    async def start(self, spec: WorkspaceSpec) -> Endpoint:
        name = f"studyhall-ws-{spec.workspace_id}"
        # A leftover of an earlier start of this workspace (the home volume stays).
        await self._checked("DELETE", f"/containers/{name}?force=true", 204, 404)
        image = await self._call("GET", f"/images/{spec.profile.image}/json")
        if image.status_code == 404:
            raise WorkspaceStartFailed(
                f"The image {spec.profile.image!r} is not on the container engine"
            )
        volume = _volume_name(spec)
        await self._ensure_volume(volume, spec)
        created = await self._checked(
            "POST",
            f"/containers/create?name={name}",
            201,
            json=self._container_body(spec, volume),
        )
        container_id: str = created.json()["Id"]
        try:
            await self._checked("POST", f"/containers/{container_id}/start", 204, 304)
            info = (await self._checked("GET", f"/containers/{container_id}/json", 200)).json()
            url = self._address(info, spec.profile.port or self.settings.container_port)

            async def alive() -> bool:
                return await self.status(container_id) == BackendState.running

            if not await wait_until_serving(
                url + spec.base_url, timeout_s=self.settings.start_timeout_s, still_alive=alive
            ):
                raise WorkspaceStartFailed(
                    f"The workspace did not answer within {self.settings.start_timeout_s:.0f} s"
                )
        except BaseException:
            await self.stop(container_id)
            raise
        log.info("workspace_container_started", workspace_id=str(spec.workspace_id))
        return Endpoint(backend_id=container_id, url=url)

    async def inspect(self, backend_id: str) -> dict[str, Any] | None:
        """The engine's view of a container (None when it does not exist)."""
        response = await self._call("GET", f"/containers/{backend_id}/json")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BackendUnavailable(
                f"The container engine failed: {_message(response)}",
                retry_after_s=self.settings.retry_after_s,
            )
        info: dict[str, Any] = response.json()
        return info

    async def status(self, backend_id: str) -> BackendState:
        info = await self.inspect(backend_id)
        if info is None:
            return BackendState.gone
        running = bool((info.get("State") or {}).get("Running"))
        return BackendState.running if running else BackendState.stopped

    async def stop(self, backend_id: str) -> None:
        grace = int(self.settings.stop_timeout_s)
        await self._call("POST", f"/containers/{backend_id}/stop?t={grace}")
        # The container goes; its home volume stays for the next start.
        await self._checked("DELETE", f"/containers/{backend_id}?force=true", 204, 404)

    async def aclose(self) -> None:
        await self.client.aclose()
