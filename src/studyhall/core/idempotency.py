"""Idempotency keys, for any domain: the first response to a key is replayed for retries.

Service-level use (any caller that wants a retry-safe operation):

    stored = await claim(session, key=key, user_id=user.id, route="tutor.message", request=payload)
    if stored is not None:
        return rebuild(stored.body)          # a retry: answer as the first time
    result = await do_the_work(...)
    await complete(session, key=key, user_id=user.id, route="tutor.message",
                   status_code=200, body=serializable(result))

HTTP use (the `Idempotency-Key` header), through the `IdempotencyDep` dependency:

    async def topup() -> TopupOut:
        ...
    return await idem.run(topup, user_id=admin.id, route="POST /admin/wallets/{user_id}/topup",
                          request={"user_id": target.id, "body": body}, status_code=201)

or declared on the route, its body then being the work: `core.idempotent_routes.idempotent`.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import JSON, String, UniqueConstraint, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.db import SessionDep, dialect_insert
from studyhall.core.errors import Conflict
from studyhall.core.ids import new_id
from studyhall.core.models import Base, IdMixin

T = TypeVar("T")

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


class IdempotencyKey(IdMixin, Base):
    """The first response to a write, replayed for retries carrying the same key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "route", "key"),)

    key: Mapped[str] = mapped_column(String(255))
    # The caller the key belongs to (keys of different users never collide).
    user_id: Mapped[uuid.UUID]
    # A stable name of the operation, e.g. "POST /admin/wallets/{user_id}/topup".
    route: Mapped[str] = mapped_column(String(200))
    body_hash: Mapped[str] = mapped_column(String(64))
    # None while the first request is still running.
    status_code: Mapped[int | None]
    response_json: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class IdempotencyKeyReused(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request",
            code="idempotency_key_reused",
        )


class IdempotencyInProgress(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed",
            code="idempotency_in_progress",
        )


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


def _same_key(key: str, user_id: uuid.UUID, route: str) -> tuple[Any, ...]:
    return (
        IdempotencyKey.user_id == user_id,
        IdempotencyKey.route == route,
        IdempotencyKey.key == key,
    )


async def _stored(
    session: AsyncSession, *, key: str, user_id: uuid.UUID, route: str
) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey)
        .where(*_same_key(key, user_id, route))
        .execution_options(populate_existing=True)
    )


async def _insert_claim(
    session: AsyncSession, *, key: str, user_id: uuid.UUID, route: str, body_hash: str
) -> bool:
    """Insert an in-progress key row; False when the key is already taken.

    On PostgreSQL a concurrent holder of the same key makes this wait until it commits (then
    False) or rolls back (then True), so two retries never both run the operation.
    """
    stmt = (
        dialect_insert(session, IdempotencyKey)
        .values(
            id=new_id(),
            key=key,
            user_id=user_id,
            route=route,
            body_hash=body_hash,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "route", "key"])
        .returning(IdempotencyKey.id)
    )
    return (await session.execute(stmt)).first() is not None


async def claim(
    session: AsyncSession, *, key: str, user_id: uuid.UUID, route: str, request: Any
) -> StoredResponse | None:
    """None when this call owns the key (do the work, then `complete`); else the first response.

    Raises 409 when the key was used with a different request.
    """
    digest = request_hash(request)
    if await _insert_claim(session, key=key, user_id=user_id, route=route, body_hash=digest):
        return None
    row = await _stored(session, key=key, user_id=user_id, route=route)
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
    row = await _stored(session, key=key, user_id=user_id, route=route)
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
    await session.execute(
        update(IdempotencyKey)
        .where(*_same_key(key, user_id, route))
        .values(status_code=status_code, response_json=_jsonable(body))
    )


async def purge(session: AsyncSession, *, ttl_s: int) -> int:
    """Forget keys older than the TTL; returns how many."""
    older_than = utcnow() - timedelta(seconds=ttl_s)
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Forget every stored response of a user (account deletion)."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id))


class Idempotent:
    """One HTTP write guarded by the request's optional Idempotency-Key."""

    def __init__(self, session: AsyncSession, key: str | None) -> None:
        self.session = session
        # The header's value, for callers that pass it on (a payment provider's own key).
        self.key = key

    async def run(
        self,
        work: Callable[[], Awaitable[T]],
        *,
        user_id: uuid.UUID,
        route: str,
        request: Any,
        status_code: int,
    ) -> T | Response:
        """`work()`'s answer, remembered under the key; a retry gets the first answer again
        (same status and body, `Idempotent-Replayed: true`) without running `work`. No key:
        just `work()`."""
        if self.key is None:
            return await work()
        key = self.key
        stored = await claim(self.session, key=key, user_id=user_id, route=route, request=request)
        if stored is not None:
            return JSONResponse(
                stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
            )
        out = await work()
        await complete(
            self.session, key=key, user_id=user_id, route=route, status_code=status_code, body=out
        )
        return out


async def idempotent(session: SessionDep, key: IdempotencyKeyHeader = None) -> Idempotent:
    """Dependency: the request's Idempotency-Key bound to its unit of work."""
    return Idempotent(session, key)


IdempotencyDep = Annotated[Idempotent, Depends(idempotent)]
