"""Billing's reactions to other domains' events (registered by `studyhall.wiring`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core import idempotency


async def forget_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """On account deletion: drop the user's stored responses; the ledger stays (it holds ids)."""
    await idempotency.forget_user(session, user_id=user_id)
