"""Job kinds are registered here by the domains that own them; jobs knows none of them."""

from __future__ import annotations

import importlib
import pkgutil
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


def job_kind(
    name: str, *, max_attempts: int | None = None, timeout_s: float | None = None
) -> Callable[[Handler], Handler]:
    """Register an async handler for a job kind."""

    def decorator(handler: Handler) -> Handler:
        KINDS[name] = JobKind(name, handler, max_attempts, timeout_s)
        return handler

    return decorator


def periodic(name: str, *, every_s: float) -> Callable[[Handler], Handler]:
    """Also run a registered kind every `every_s` seconds, once across all workers."""

    def decorator(handler: Handler) -> Handler:
        if name not in KINDS:
            KINDS[name] = JobKind(name, handler, 1, None)
        PERIODIC[name] = Periodic(name, every_s)
        return handler

    return decorator


def load_job_kinds() -> None:
    """Import `studyhall.<domain>.jobs` of every domain so their kinds register."""
    import studyhall

    for module in pkgutil.iter_modules(studyhall.__path__):
        if module.ispkg and module.name not in ("core", "migrations", "jobs"):
            try:
                importlib.import_module(f"studyhall.{module.name}.jobs")
            except ModuleNotFoundError as exc:
                if exc.name != f"studyhall.{module.name}.jobs":
                    raise
