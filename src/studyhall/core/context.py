"""Per-request facts (client address, API key) that the audit log and logs attach."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestContext:
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    api_key_id: uuid.UUID | None = None


_current: ContextVar[RequestContext | None] = ContextVar("studyhall_request", default=None)


def current_context() -> RequestContext:
    """The running request's context (an empty one outside requests)."""
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext()
        _current.set(ctx)
    return ctx


def set_context(ctx: RequestContext) -> None:
    """Install a fresh context for a request or a job."""
    _current.set(ctx)
