"""Writing and reading the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.models import AuditLog
from studyhall.core.context import current_context
from studyhall.core.pagination import paginate


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit row in the caller's unit of work; IP and API key come from the request."""
    return _add(session, action, actor_id, target_type, target_id, details)


def _add(
    session: AsyncSession,
    action: str,
    actor_id: uuid.UUID | None,
    target_type: str | None,
    target_id: uuid.UUID | str | None,
    details: dict[str, Any] | None,
) -> AuditLog:
    ctx = current_context()
    row = AuditLog(
        actor_id=actor_id,
        api_key_id=ctx.api_key_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ctx.ip,
        details=details or {},
    )
    session.add(row)
    return row


class Identified(Protocol):
    """Anything audited by its id: the acting user, the object acted on."""

    @property
    def id(self) -> uuid.UUID: ...


async def record_on(
    session: AsyncSession,
    actor: Identified,
    target_type: str,
    target: Identified,
    action: str,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Record that `actor` did `action` to `target` (a `target_type`), in the caller's unit of
    work: who did what to which object, read off the two objects once here."""
    return _add(session, action, actor.id, target_type, target.id, details)


async def record_separately(
    sessionmaker: Any,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an audit row in its own transaction, for failures whose request rolls back."""
    async with sessionmaker() as session:
        _add(session, action, actor_id, target_type, target_id, details)
        await session.commit()


async def list_logs(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    offset: int,
) -> tuple[list[AuditLog], int]:
    """Filtered, newest-first page of the audit log (the admin's view, one's own entries)."""
    query = select(AuditLog)
    if actor_id is not None:
        query = query.where(AuditLog.actor_id == actor_id)
    if action:
        query = query.where(AuditLog.action == action)
    if target_type:
        query = query.where(AuditLog.target_type == target_type)
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    if until is not None:
        query = query.where(AuditLog.created_at < until)
    return await paginate(
        session,
        query,
        order_by=[AuditLog.created_at.desc(), AuditLog.id.desc()],
        limit=limit,
        offset=offset,
    )


async def get_log(session: AsyncSession, log_id: uuid.UUID) -> AuditLog | None:
    """One audit row by id."""
    return await session.get(AuditLog, log_id)
