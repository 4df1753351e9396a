"""Writing and reading the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

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
        await record(
            session,
            action=action,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
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
