"""No backend configured: every start is the documented 503."""

from __future__ import annotations

from studyhall.workspaces.backends.base import BackendState, Endpoint, WorkspaceSpec
from studyhall.workspaces.errors import BackendUnavailable


class OffBackend:
    name = "off"

    async def start(self, spec: WorkspaceSpec) -> Endpoint:
        raise BackendUnavailable(
            "Workspaces are not enabled on this server (STUDYHALL_WORKSPACES__BACKEND is off)"
        )

    async def status(self, backend_id: str) -> BackendState:
        return BackendState.gone

    async def stop(self, backend_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None
