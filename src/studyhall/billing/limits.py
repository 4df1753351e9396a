"""Limits on spending: a wallet's tier and daily limit, a course's daily cap and total budget."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.billing import repository
from studyhall.billing.errors import UnknownTier
from studyhall.billing.ledger import (
    MAX_AMOUNT,
    audit_wallet,
    day_window,
    lock_wallet_row,
    settings_or_default,
    wallet_view,
)
from studyhall.billing.models import CourseCap
from studyhall.billing.schemas import WalletOut
from studyhall.config import BillingSettings
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable


@dataclass(frozen=True)
class CourseCapView:
    """A course's daily cap and today's consumption."""

    course_id: uuid.UUID
    daily_cap: int | None
    used_today: int
    reserved: int
    resets_at: datetime


async def set_limits(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    actor_id: uuid.UUID,
    tier: str | None = None,
    daily_limit: int | None = None,
    change_daily_limit: bool = False,
    settings: BillingSettings | None = None,
) -> WalletOut:
    """Change a wallet's tier and/or its own daily limit (None: the tier's); audited."""
    cfg = settings_or_default(settings)
    if tier is not None and tier not in cfg.tiers:
        raise UnknownTier(tier, list(cfg.tiers))
    if change_daily_limit and daily_limit is not None and not 0 <= daily_limit <= MAX_AMOUNT:
        raise Unprocessable("daily_limit must be between 0 and 10^12", code="invalid_amount")
    now = utcnow()
    wallet = await lock_wallet_row(session, user_id, cfg, now)
    before = {"tier": wallet.tier, "daily_limit": wallet.daily_limit}
    if tier is not None:
        wallet.tier = tier
    if change_daily_limit:
        wallet.daily_limit = daily_limit
    await session.flush()
    await audit_wallet(
        session,
        "billing.limits_changed",
        user_id,
        actor_id=actor_id,
        details={
            "before": before,
            "after": {"tier": wallet.tier, "daily_limit": wallet.daily_limit},
        },
    )
    return wallet_view(wallet, cfg, now)


async def set_course_cap(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    daily_cap: int | None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> CourseCapView:
    """Set (or with None remove) a course's daily token cap for all its students together."""
    await _set_course_limit(
        session, course_id, actor_id, "daily_cap", daily_cap, action="billing.course_cap_set"
    )
    return await get_course_cap(session, course_id=course_id, settings=settings)


async def _set_course_limit(
    session: AsyncSession,
    course_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    limit: Literal["daily_cap", "token_budget"],
    value: int | None,
    *,
    action: str,
) -> None:
    """Change one of a course's limits (None removes it), audited; the row goes when neither is
    left."""
    if value is not None and not 0 <= value <= MAX_AMOUNT:
        raise Unprocessable(f"{limit} must be between 0 and 10^12", code="invalid_amount")
    cap = await repository.lock_course_cap(session, course_id)
    current = (cap.daily_cap, cap.token_budget) if cap is not None else (None, None)
    wanted = (value, current[1]) if limit == "daily_cap" else (current[0], value)
    if wanted == (None, None):
        if cap is not None:
            await repository.delete_course_cap(session, course_id)
            session.expunge(cap)
    elif cap is None:
        session.add(
            CourseCap(
                course_id=course_id,
                daily_cap=wanted[0],
                token_budget=wanted[1],
                updated_by=actor_id,
            )
        )
    else:
        cap.daily_cap, cap.token_budget = wanted
        cap.updated_by = actor_id
    await session.flush()
    await record(
        session,
        action=action,
        actor_id=actor_id,
        target_type="course",
        target_id=course_id,
        details={limit: value},
    )


async def get_course_cap(
    session: AsyncSession, *, course_id: uuid.UUID, settings: BillingSettings | None = None
) -> CourseCapView:
    """A course's cap (None when unset) with today's usage and open holds."""
    cfg = settings_or_default(settings)
    now = utcnow()
    start, resets_at = day_window(now, cfg)
    cap = await repository.get_course_cap(session, course_id)
    figures = await repository.course_figures(session, course_id, since=start, ever=False)
    return CourseCapView(
        course_id=course_id,
        daily_cap=cap.daily_cap if cap is not None else None,
        used_today=figures.used_since,
        reserved=figures.held,
        resets_at=resets_at,
    )


@dataclass(frozen=True)
class CourseBudgetView:
    """A course's total token budget and what it has spent and holds against it."""

    course_id: uuid.UUID
    token_budget: int | None
    tokens_spent: int
    tokens_held: int
    tokens_remaining: int | None


async def set_course_budget(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    token_budget: int | None,
    actor_id: uuid.UUID | None = None,
) -> CourseBudgetView:
    """Set (or with None remove) a course's total token budget; audited.

    A budget below what the course has already spent is accepted: the tutor then refuses at once.
    """
    await _set_course_limit(
        session,
        course_id,
        actor_id,
        "token_budget",
        token_budget,
        action="billing.course_budget_set",
    )
    return await get_course_budget(session, course_id=course_id)


async def get_course_budget(session: AsyncSession, *, course_id: uuid.UUID) -> CourseBudgetView:
    """A course's total token budget (None when unset), its spending and its open holds."""
    cap = await repository.get_course_cap(session, course_id)
    budget = cap.token_budget if cap is not None else None
    figures = await repository.course_figures(session, course_id, since=None, ever=True)
    spent, held = figures.spent, figures.held
    return CourseBudgetView(
        course_id=course_id,
        token_budget=budget,
        tokens_spent=spent,
        tokens_held=held,
        tokens_remaining=None if budget is None else max(0, budget - spent - held),
    )
