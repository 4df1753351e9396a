"""A wallet and its ledger: the one place a wallet's figures change.

- Every movement is an immutable ledger entry carrying `balance_delta` and `reserved_delta`;
  the wallet row caches balance = Σ balance_delta and reserved = Σ reserved_delta, and is only
  changed while locked (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite), in the same
  transaction as its entries. available = balance - reserved; none of the three is ever negative.
- A wallet is created lazily on first use. A positive `signup_bonus` becomes its first entry
  (a `topup` with reason "Signup bonus", no actor); with 0 the wallet starts empty and has none.
- The daily limit counts tokens charged since the window started plus tokens held now; the window
  starts every day at `reset_hour` in `timezone`.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.billing import repository
from studyhall.billing.models import Direction, EntryType, LedgerEntry, Reservation, Wallet
from studyhall.billing.schemas import WalletOut
from studyhall.config import BillingSettings
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable

MAX_AMOUNT = 10**12
SIGNUP_BONUS_REASON = "Signup bonus"


def settings_or_default(settings: BillingSettings | None) -> BillingSettings:
    """The billing settings passed in, else the process settings."""
    if settings is not None:
        return settings
    from studyhall.config import get_settings

    return get_settings().billing


# Time windows


def day_window(now: datetime, settings: BillingSettings) -> tuple[datetime, datetime]:
    """(start, resets_at) in UTC of the daily-limit window containing `now`."""
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    reset = time(settings.reset_hour)
    start = datetime.combine(local.date(), reset, tzinfo=zone)
    if start.astimezone(UTC) > now:
        start = datetime.combine(local.date() - timedelta(days=1), reset, tzinfo=zone)
    end = datetime.combine(start.date() + timedelta(days=1), reset, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def effective_daily_limit(wallet: Wallet, settings: BillingSettings) -> int:
    """The wallet's own limit, else its tier's (an unknown tier falls back to the default's)."""
    if wallet.daily_limit is not None:
        return wallet.daily_limit
    if wallet.tier in settings.tiers:
        return settings.tiers[wallet.tier]
    return settings.tiers.get(settings.default_tier, 0)


def wallet_view(wallet: Wallet, settings: BillingSettings, now: datetime) -> WalletOut:
    """A user's wallet as clients see it (the figures of the window containing `now`)."""
    start, resets_at = day_window(now, settings)
    used = wallet.used_today if wallet.usage_window_start >= start else 0
    return WalletOut(
        user_id=wallet.user_id,
        balance=wallet.balance,
        reserved=wallet.reserved,
        available=wallet.balance - wallet.reserved,
        tier=wallet.tier,
        daily_limit=effective_daily_limit(wallet, settings),
        used_today=used,
        resets_at=resets_at,
    )


# Wallet rows and entries


async def lock_wallet_row(
    session: AsyncSession, user_id: uuid.UUID, settings: BillingSettings, now: datetime
) -> Wallet:
    """The user's wallet locked for this transaction, created (with its bonus) when missing."""
    wallet = await repository.lock_wallet(session, user_id)
    if wallet is None:
        bonus = max(0, settings.signup_bonus)
        start, _ = day_window(now, settings)
        created = await repository.insert_wallet_if_missing(
            session,
            user_id=user_id,
            tier=settings.default_tier,
            balance=bonus,
            window_start=start,
            now=now,
        )
        wallet = await repository.lock_wallet(session, user_id)
        assert wallet is not None
        if created and bonus > 0:
            session.add(
                LedgerEntry(
                    user_id=user_id,
                    type=EntryType.topup,
                    direction=Direction.credit,
                    amount=bonus,
                    balance_delta=bonus,
                    reserved_delta=0,
                    balance_after=bonus,
                    reserved_after=0,
                    reason=SIGNUP_BONUS_REASON,
                    reference="signup",
                    dedupe_key=f"signup:{user_id}",
                    created_at=now,
                )
            )
    start_day(wallet, settings, now)
    return wallet


def start_day(wallet: Wallet, settings: BillingSettings, now: datetime) -> None:
    start, _ = day_window(now, settings)
    if wallet.usage_window_start < start:
        # A new day began since the last charge: the daily count starts over.
        wallet.used_today = 0
        wallet.usage_window_start = start


def post_entry(
    session: AsyncSession,
    wallet: Wallet,
    *,
    entry_type: EntryType,
    balance_delta: int = 0,
    reserved_delta: int = 0,
    now: datetime,
    reservation: Reservation | None = None,
    actor_id: uuid.UUID | None = None,
    reason: str | None = None,
    reference: str | None = None,
    dedupe_key: str | None = None,
    course_id: uuid.UUID | None = None,
) -> LedgerEntry:
    """Apply a movement to the locked wallet and write its ledger entry."""
    wallet.balance += balance_delta
    wallet.reserved += reserved_delta
    if wallet.balance < 0 or wallet.reserved < 0 or wallet.reserved > wallet.balance:
        raise AssertionError("billing invariant broken: refusing to write a negative wallet")
    if balance_delta > 0:
        direction = Direction.credit
    elif balance_delta < 0:
        direction = Direction.debit
    else:
        direction = Direction.hold
    entry = LedgerEntry(
        user_id=wallet.user_id,
        type=entry_type,
        direction=direction,
        amount=abs(balance_delta) if balance_delta else abs(reserved_delta),
        balance_delta=balance_delta,
        reserved_delta=reserved_delta,
        balance_after=wallet.balance,
        reserved_after=wallet.reserved,
        reservation_id=reservation.id if reservation is not None else None,
        course_id=course_id
        if course_id is not None
        else (reservation.course_id if reservation else None),
        actor_id=actor_id,
        reason=reason,
        reference=reference,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    session.add(entry)
    return entry


async def get_wallet(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> WalletOut:
    """The user's wallet, created on first use (needs a write unit of work)."""
    cfg = settings_or_default(settings)
    now = utcnow()
    wallet = await repository.get_wallet(session, user_id)
    if wallet is None:
        wallet = await lock_wallet_row(session, user_id, cfg, now)
        await session.flush()
    return wallet_view(wallet, cfg, now)


async def lock_wallet(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> WalletOut:
    """Lock the user's wallet until the transaction ends (created when missing).

    For multi-step operations on one user's money (payments): everything after this call is
    serialized with every other movement of that wallet.
    """
    cfg = settings_or_default(settings)
    now = utcnow()
    return wallet_view(await lock_wallet_row(session, user_id, cfg, now), cfg, now)


async def find_wallet(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> WalletOut | None:
    """The user's wallet if it exists yet; never writes (safe in read-only units of work)."""
    wallet = await repository.get_wallet(session, user_id)
    return None if wallet is None else wallet_view(wallet, settings_or_default(settings), utcnow())


async def audit_wallet(
    session: AsyncSession,
    action: str,
    user_id: uuid.UUID | None,
    *,
    actor_id: uuid.UUID | None = None,
    details: dict[str, Any],
) -> None:
    """An audit row (`billing.…`) about a user's wallet, or about many (`user_id` None), in the
    caller's unit of work; no actor: the payment provider or the system did it."""
    await record(
        session,
        action=action,
        actor_id=actor_id,
        target_type="wallet",
        target_id=user_id,
        details=details,
    )


def check_amount(amount: int, what: str = "amount") -> None:
    if amount <= 0 or amount > MAX_AMOUNT:
        raise Unprocessable(f"{what} must be between 1 and {MAX_AMOUNT}", code="invalid_amount")


# Invariants (tests, benchmarks, operators)


async def check_invariants(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> list[str]:
    """Every broken wallet invariant of a user, as sentences (empty when consistent)."""
    cfg = settings_or_default(settings)
    wallet = await repository.get_wallet(session, user_id)
    if wallet is None:
        return []
    problems = []
    sums = await repository.ledger_sums(session, user_id)
    open_held = await repository.open_reserved_total(session, user_id)
    if wallet.balance != sums.balance:
        problems.append(f"balance {wallet.balance} != Σ ledger {sums.balance}")
    if wallet.reserved != sums.reserved:
        problems.append(f"reserved {wallet.reserved} != Σ ledger holds {sums.reserved}")
    if wallet.reserved != open_held:
        problems.append(f"reserved {wallet.reserved} != Σ open reservations {open_held}")
    if wallet.balance < 0 or wallet.reserved < 0 or wallet.balance - wallet.reserved < 0:
        problems.append(f"negative figure: balance {wallet.balance}, reserved {wallet.reserved}")
    start, _ = day_window(utcnow(), cfg)
    if wallet.usage_window_start >= start:
        used = await repository.usage_since(session, user_id, wallet.usage_window_start)
        if used != wallet.used_today:
            problems.append(f"used_today {wallet.used_today} != Σ usage this window {used}")
    return problems
