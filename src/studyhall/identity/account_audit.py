"""The audit entries identity writes about an account (target type `user`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.audit.models import AuditLog


async def record_account_event(
    session: AsyncSession,
    action: str,
    user_id: uuid.UUID,
    *,
    by: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """One audit row about an account, in the caller's unit of work: done by `by` (an
    administrator), or by the account's owner when `by` is not given."""
    return await audit.record(
        session,
        action=action,
        actor_id=user_id if by is None else by,
        target_type="user",
        target_id=user_id,
        details=details,
    )
