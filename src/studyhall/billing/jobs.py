"""Billing's background jobs: expire overdue reservations, forget old idempotency keys."""

from __future__ import annotations

import functools

from studyhall.billing import service
from studyhall.core import idempotency
from studyhall.core.sweeps import sweep
from studyhall.jobs.registry import JobContext

EXPIRE_KIND = "billing.expire_reservations"
# Wallets locked per transaction, so one sweep never holds many locks for long.
_USERS_PER_BATCH = 200


async def expire_reservations(ctx: JobContext) -> None:
    """Release every reservation past its expiry (batch by batch), then purge old keys."""
    expire = functools.partial(
        service.expire_due, limit_users=_USERS_PER_BATCH, settings=ctx.settings.billing
    )
    total = await sweep(ctx.db, expire)
    async with ctx.db.session() as session:
        purged = await idempotency.purge(session, ttl_s=ctx.settings.billing.idempotency_ttl_s)
    ctx.result = {"expired": total, "idempotency_keys_purged": purged}
