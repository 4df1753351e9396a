"""The interface every workspace backend implements (JupyterHub's spawner, reduced)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from studyhall.config import WorkspaceProfile

# The environment variables a workspace reads its secret from (JupyterLab reads the second).
TOKEN_ENV = ("STUDYHALL_WORKSPACE_TOKEN", "JUPYTER_TOKEN")


@dataclass(frozen=True)
class WorkspaceSpec:
    """What to start: whose workspace, with which image or command (its profile), behind which
    base URL. The limits every workspace shares (memory, CPUs, processes, start timeout) are the
    backend's settings."""

    workspace_id: uuid.UUID
    user_id: uuid.UUID
    # "personal" or "course:<id>": names the home kept across restarts.
    scope: str
    token: str
    # The proxy's path prefix (/workspaces/<id>/); the workspace serves under it.
    base_url: str
    profile: WorkspaceProfile

    def environment(self, port: int, home: str) -> dict[str, str]:
        """Variables every workspace gets."""
        env = {name: self.token for name in TOKEN_ENV}
        env.update(
            {
                "STUDYHALL_WORKSPACE_BASE_URL": self.base_url,
                "STUDYHALL_WORKSPACE_PORT": str(port),
                "HOME": home,
            }
        )
        return env

    def argv(self, port: int, home: str) -> list[str] | None:
        """The command with {port}, {base_url} and {home} filled in."""
        if not self.profile.command:
            return None
        values = {"port": str(port), "base_url": self.base_url, "home": home}
        return [part.format_map(values) for part in self.profile.command]


@dataclass(frozen=True)
class Endpoint:
    """A started workspace: the backend's id for it and the address the proxy uses."""

    backend_id: str
    url: str


class BackendState(enum.StrEnum):
    running = "running"
    # Exists but is not serving (exited, being removed).
    stopped = "stopped"
    # The backend does not know it at all.
    gone = "gone"


class WorkspaceBackend(Protocol):
    """Starts, watches and stops workspaces; state lives in the database, not here."""

    name: str

    async def start(self, spec: WorkspaceSpec) -> Endpoint:
        """Start (or restart) the workspace and return once it answers HTTP; raises
        BackendUnavailable when the engine does not answer, WorkspaceStartFailed otherwise."""
        ...

    async def status(self, backend_id: str) -> BackendState:
        """Whether it is still running."""
        ...

    async def stop(self, backend_id: str) -> None:
        """Stop and remove it; the home is kept. Stopping one that is gone is not an error."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
