"""Workspace errors, each with its status and code."""

from __future__ import annotations

from studyhall.core.errors import AppError, Conflict, Forbidden, NotFound, ServiceUnavailable


class WorkspaceNotFound(NotFound):
    code = "workspace_not_found"

    def __init__(self, message: str = "Workspace not found") -> None:
        super().__init__(message)


class NotYourWorkspace(Forbidden):
    code = "not_your_workspace"

    def __init__(self) -> None:
        super().__init__("This workspace belongs to another user")


class WorkspaceStarting(Conflict):
    code = "workspace_starting"

    def __init__(self) -> None:
        super().__init__("The workspace is starting; ask again in a few seconds")


class WorkspaceNotRunning(Conflict):
    code = "workspace_not_running"

    def __init__(self) -> None:
        super().__init__("The workspace is not running; start it with POST /api/v1/workspaces")


class WorkspaceQuotaExceeded(Conflict):
    code = "workspace_quota_exceeded"


class UnknownProfile(AppError):
    status_code = 422
    code = "unknown_workspace_profile"


class BackendUnavailable(ServiceUnavailable):
    """The engine does not answer (or no backend is configured): 503, with Retry-After when
    trying again later may help."""

    code = "workspace_backend_unavailable"

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        if retry_after_s is not None:
            self.headers = {"Retry-After": str(retry_after_s)}


class WorkspaceStartFailed(AppError):
    """The backend answered but the workspace did not come up (bad image, crash, timeout)."""

    status_code = 502
    code = "workspace_start_failed"
