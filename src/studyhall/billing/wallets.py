"""The caller's own wallet as the /wallet routes read it: created on a first visit.

Read routes run in a read-only unit of work (SQLite takes no write lock for them), so a wallet
that does not exist yet is created, with its signup bonus entry, in a short write unit of work
of its own; what the caller asked for is then read in that same unit of work, so the bonus
shows at once (a SQLite read would see an older snapshot).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.billing import service
from studyhall.billing.ledger_filter import LedgerFilter
from studyhall.billing.schemas import WalletOut
from studyhall.config import BillingSettings
from studyhall.core.db import Database


async def own_wallet(
    db: Database, session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings
) -> WalletOut:
    """The user's wallet: balance, reserved, available, tier, limits."""
    view = await service.find_wallet(session, user_id=user_id, settings=settings)
    if view is not None:
        return view
    async with db.session() as write_session:
        return await service.get_wallet(write_session, user_id=user_id, settings=settings)


async def own_transactions(
    db: Database,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    settings: BillingSettings,
    where: LedgerFilter,
    limit: int,
    offset: int,
) -> service.TransactionsPage:
    """The user's ledger entries that `where` also selects, newest first, with totals."""
    own = replace(where, user_id=user_id)
    if await service.find_wallet(session, user_id=user_id, settings=settings) is not None:
        return await service.transactions(session, own, limit=limit, offset=offset)
    async with db.session() as write_session:
        await service.get_wallet(write_session, user_id=user_id, settings=settings)
        return await service.transactions(write_session, own, limit=limit, offset=offset)
