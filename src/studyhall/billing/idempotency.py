"""Idempotency keys, reusable by any domain: the first response to a key is replayed for retries.

Service-level use (any caller that wants a retry-safe operation):

    stored = await claim(session, key=key, user_id=user.id, route="tutor.message", request=payload)
    if stored is not None:
        return rebuild(stored.body)          # a retry: answer as the first time
    result = await do_the_work(...)
    await complete(session, key=key, user_id=user.id, route="tutor.message",
                   status_code=200, body=serializable(result))

HTTP use (the `Idempotency-Key` header):

    idem = IdempotentRequest(session, key=idempotency_key, user_id=user.id,
                             route="POST /wallet/things", request=body)
    if (replay := await idem.replay()) is not None:
        return replay                         # same status code and body as the first time
    out = ...
    await idem.save(201, out)
    return out

The key row is written in the caller's unit of work: when the operation fails, the key goes away
with the rollback, so only successful outcomes are remembered and a failed request may be retried
with the same key. Same key + different request → 409 `idempotency_key_reused`. Keys are scoped by
(user_id, route), so two users, or two operations, never share one. Concurrent requests with one key
serialize on the key's unique index (PostgreSQL) or on SQLite's single writer.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.billing import repository
from studyhall.billing.errors import IdempotencyInProgress, IdempotencyKeyReused
from studyhall.core.clock import utcnow

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry-safe writes: the same key and body replay the first response; "
        "the same key with another body is 409.",
    ),
]


@dataclass(frozen=True)
class StoredResponse:
    """The first response recorded for a key."""

    status_code: int
    body: Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (uuid.UUID, datetime)):
        return str(value)
    return value


def request_hash(request: Any) -> str:
    """SHA-256 of a request's canonical JSON (sorted keys), so equal bodies hash alike."""
    canonical = json.dumps(_jsonable(request), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession, *, key: str, user_id: uuid.UUID, route: str, request: Any
) -> StoredResponse | None:
    """None when this call owns the key (do the work, then `complete`); else the first response.

    Raises 409 when the key was used with a different request.
    """
    digest = request_hash(request)
    if await repository.claim_idempotency_key(
        session, key=key, user_id=user_id, route=route, body_hash=digest, now=utcnow()
    ):
        return None
    row = await repository.get_idempotency_key(session, key=key, user_id=user_id, route=route)
    if row is None:  # purged between the two statements: treat as new next time
        raise IdempotencyInProgress()
    if row.body_hash != digest:
        raise IdempotencyKeyReused()
    if row.status_code is None:
        raise IdempotencyInProgress()
    return StoredResponse(status_code=row.status_code, body=row.response_json)


async def lookup(
    session: AsyncSession, *, key: str, user_id: uuid.UUID, route: str, request: Any
) -> StoredResponse | None:
    """The first response to a completed key, read without claiming anything: lets a caller
    answer a retry before doing costly work again. None when the key is unknown or its first
    request is still running (then `claim` decides); 409 when it was used with another request.
    """
    row = await repository.get_idempotency_key(session, key=key, user_id=user_id, route=route)
    if row is None:
        return None
    if row.body_hash != request_hash(request):
        raise IdempotencyKeyReused()
    if row.status_code is None:
        return None
    return StoredResponse(status_code=row.status_code, body=row.response_json)


async def complete(
    session: AsyncSession,
    *,
    key: str,
    user_id: uuid.UUID,
    route: str,
    status_code: int,
    body: Any,
) -> None:
    """Record the response of a claimed key (in the same unit of work as the operation)."""
    await repository.store_idempotent_response(
        session,
        key=key,
        user_id=user_id,
        route=route,
        status_code=status_code,
        response_json=_jsonable(body),
    )


async def purge(session: AsyncSession, *, ttl_s: int) -> int:
    """Forget keys older than the TTL; returns how many."""
    return await repository.purge_idempotency_keys(
        session, older_than=utcnow() - timedelta(seconds=ttl_s)
    )


class IdempotentRequest:
    """One HTTP write guarded by an optional Idempotency-Key (no key: both methods do nothing)."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        key: str | None,
        user_id: uuid.UUID,
        route: str,
        request: Any,
    ) -> None:
        self.session = session
        self.key = key
        self.user_id = user_id
        self.route = route
        self.request = request

    async def replay(self) -> Response | None:
        """The first response when this key was already answered; None when the work must run."""
        if self.key is None:
            return None
        stored = await claim(
            self.session, key=self.key, user_id=self.user_id, route=self.route, request=self.request
        )
        if stored is None:
            return None
        return JSONResponse(
            stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
        )

    async def save(self, status_code: int, body: Any) -> None:
        """Remember the response for later retries."""
        if self.key is None:
            return
        await complete(
            self.session,
            key=self.key,
            user_id=self.user_id,
            route=self.route,
            status_code=status_code,
            body=body,
        )
