"""An answer as JSON, or as Server-Sent Events.

SSE events (each `data:` is JSON):
- `delta`   — `{"text": "..."}`, pieces of the answer in order;
- `sources` — the cited passages, as in the message's `sources`;
- `usage`   — `{prompt_tokens, completion_tokens, charged_tokens}`;
- `done`    — the stored assistant message, exactly as the JSON response would return it;
- `error`   — `{detail, code, status}` when the model fails after the stream began (nothing is
  charged then).

The route waits for the model's first piece before it answers, so a model that is down, slow or
unreadable before any text is a real 503/504/502 response, not an event. A client that
disconnects cancels the generator: the model call is closed, and the prompt plus the text
generated so far are charged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
import structlog
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.core.ratelimit import RateLimiter
from studyhall.tutor.orchestration import (
    Outcome,
    Progress,
    Question,
    Replay,
    Turn,
    begin,
    release_shielded,
    run_model,
    settle_interrupted,
    settle_shielded,
)
from studyhall.tutor.providers.base import Delta, Provider, ProviderFailure
from studyhall.tutor.schemas import MessageOut
from studyhall.tutor.service import ChatSessionNotFound

log = structlog.get_logger(__name__)


def sse(event: str, data: Any) -> bytes:
    """One SSE event with a JSON payload."""
    if isinstance(data, BaseModel):
        payload = data.model_dump_json()
    else:
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return format_sse_event(event=event, data_str=payload)


def delta_event(text: str) -> bytes:
    """`sse("delta", {"text": text})`, built directly: it runs for every piece of every
    answer. A JSON string holds no line break, so the event is one `data:` line."""
    return (
        b'event: delta\ndata: {"text":' + json.dumps(text, ensure_ascii=False).encode() + b"}\n\n"
    )


async def answer_json(db: Database, provider: Provider, turn: Turn) -> MessageOut | Replay:
    """The whole answer at once; the hold is released when the model fails."""
    outcome: Outcome | None = None
    try:
        async for item in run_model(provider, turn, stream=False, progress=Progress()):
            if isinstance(item, Outcome):
                outcome = item
    except BaseException:
        await release_shielded(db, turn)
        raise
    assert outcome is not None
    try:
        result = await settle_shielded(db, turn, outcome)
    except BaseException:
        # E.g. an Idempotency-Key reused with another body (409): give the hold back now.
        await release_shielded(db, turn)
        raise
    if result is None:
        raise ChatSessionNotFound()
    return result


def _message(result: MessageOut | Replay) -> MessageOut:
    return result if isinstance(result, MessageOut) else MessageOut.model_validate(result.body)


async def answer_events(
    db: Database, provider: Provider, turn: Turn
) -> AsyncGenerator[bytes, None]:
    """The answer as SSE bytes; raises the model's error if it fails before the first piece."""
    progress = Progress()
    resolved = False
    started = False
    try:
        outcome: Outcome | None = None
        try:
            async for item in run_model(provider, turn, stream=True, progress=progress):
                if isinstance(item, Delta):
                    started = True
                    yield delta_event(item.text)
                else:
                    outcome = item
        except ProviderFailure as exc:
            resolved = True
            await release_shielded(db, turn)
            if not started:
                raise
            yield sse("error", {"detail": exc.message, "code": exc.code, "status": exc.status_code})
            return
        assert outcome is not None
        result = await settle_shielded(db, turn, outcome)
        resolved = True
        if result is None:
            yield sse(
                "error",
                {
                    "detail": "Chat session not found",
                    "code": "chat_session_not_found",
                    "status": 404,
                },
            )
            return
        message = _message(result)
        yield sse("sources", [s.model_dump(mode="json") for s in message.sources])
        yield sse("usage", message.usage.model_dump(mode="json") if message.usage else None)
        yield sse("done", message)
    except (GeneratorExit, anyio.get_cancelled_exc_class()):
        if not resolved:
            await settle_interrupted(db, turn, progress)
        raise
    except Exception:
        if not resolved:
            await release_shielded(db, turn)
        if not started:
            raise
        log.exception("tutor_stream_failed", chat_id=str(turn.chat_id))
        yield sse(
            "error", {"detail": "Internal server error", "code": "internal_error", "status": 500}
        )


async def _chain(first: bytes | None, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()


async def event_response(db: Database, provider: Provider, turn: Turn) -> EventSourceResponse:
    """Start the stream: the first piece is awaited here so early failures keep their status."""
    events = answer_events(db, provider, turn)
    try:
        first: bytes | None = await events.__anext__()
    except StopAsyncIteration:
        first = None
    return EventSourceResponse(
        _chain(first, events),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def answer(
    db: Database,
    settings: Settings,
    limiter: RateLimiter,
    provider: Provider,
    question: Question,
    *,
    stream: bool,
    idempotency_key: str | None,
) -> MessageOut | Replay | EventSourceResponse:
    """Answer a question as JSON or as a stream; a replayed JSON answer comes back as `Replay`.

    A stream cannot be replayed, so an Idempotency-Key applies to JSON answers only.
    """
    turn = await begin(
        db, settings, limiter, question, idempotency_key=None if stream else idempotency_key
    )
    if isinstance(turn, Replay):
        return turn
    if stream:
        return await event_response(db, provider, turn)
    return await answer_json(db, provider, turn)
