"""The registry of job kinds; `studyhall.wiring` fills it, jobs knows no kind's internals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studyhall.config import Settings
    from studyhall.core.db import Database
    from studyhall.core.storage import LocalStorage


class PermanentJobError(Exception):
    """A failure another attempt would only repeat (a corrupt file, a refused URL): the job
    ends `failed` at once with this message, without retries. A handler raises it after it has
    recorded the outcome on its own objects (e.g. the document's status and error)."""


@dataclass
class JobContext:
    """What a handler gets: its job's id and payload, and the process's resources."""

    job_id: Any
    kind: str
    attempt: int
    payload: dict[str, Any]
    db: Database
    settings: Settings
    storage: LocalStorage
    report: Callable[[float, str | None], Awaitable[None]]
    result: dict[str, Any] = field(default_factory=dict)

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Record progress (0..1) on the job row."""
        await self.report(max(0.0, min(1.0, fraction)), message)


Handler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int | None
    timeout_s: float | None


@dataclass(frozen=True)
class Periodic:
    name: str
    every_s: float


KINDS: dict[str, JobKind] = {}
PERIODIC: dict[str, Periodic] = {}


def register_kind(
    name: str,
    handler: Handler,
    *,
    max_attempts: int | None = None,
    timeout_s: float | None = None,
    every_s: float | None = None,
) -> None:
    """Register an async handler for a job kind, also run every `every_s` seconds when given.

    Called from `studyhall.wiring` only, never at import. Registering the same handler again
    changes nothing (create_app runs many times in one test process); another handler under a
    taken name is a bug that would silently reroute queued jobs, so it is refused.
    """
    existing = KINDS.get(name)
    if existing is not None and existing.handler is not handler:
        raise ValueError(f"job kind {name!r} is already registered to {existing.handler!r}")
    KINDS[name] = JobKind(name, handler, max_attempts, timeout_s)
    if every_s is not None:
        PERIODIC[name] = Periodic(name, every_s)
