"""Billing use cases: the wallet, its ledger, reservations, quotas, course caps and figures.

The rules:
- Every movement is an immutable ledger entry carrying `balance_delta` and `reserved_delta`;
  the wallet row caches balance = Σ balance_delta and reserved = Σ reserved_delta, and is only
  changed while locked (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite), in the same
  transaction as its entries. available = balance - reserved; none of the three is ever negative.
- A wallet is created lazily on first use. A positive `signup_bonus` becomes its first entry
  (a `topup` with reason "Signup bonus", no actor); with 0 the wallet starts empty and has none.
- reserve → finalize(actual) | release | expiry: the first resolution wins, later calls return
  the reservation as it is (a second finalize returns the first result). finalize charges
  min(actual, reserved) and releases the rest; an overdue reservation that the sweep has not
  expired yet may still be finalized or released.
- The daily limit counts tokens charged since the window started plus tokens held now; the window
  starts every day at `reset_hour` in `timezone`. It is checked before the balance, so a user
  who may not spend more today learns it (429) before being asked to buy tokens (402).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.billing import repository
from studyhall.billing.errors import (
    AdjustmentTooLarge,
    CourseBudgetExhausted,
    DailyLimitReached,
    ExceedsReservation,
    InsufficientTokens,
    ReservationNotFound,
    UnknownTier,
)
from studyhall.billing.models import (
    CourseCap,
    Direction,
    EntryType,
    Expense,
    LedgerEntry,
    Reservation,
    ReservationStatus,
    Wallet,
)
from studyhall.config import BillingSettings
from studyhall.core import idempotency
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable
from studyhall.core.ids import new_id

MAX_AMOUNT = 10**12
SIGNUP_BONUS_REASON = "Signup bonus"
_RESERVE_ROUTE = "billing.reserve"


def _cfg(settings: BillingSettings | None) -> BillingSettings:
    """The billing settings passed in, else the process settings."""
    if settings is not None:
        return settings
    from studyhall.config import get_settings

    return get_settings().billing


# Views returned to callers


@dataclass(frozen=True)
class WalletView:
    """A user's wallet as clients see it."""

    user_id: uuid.UUID
    balance: int
    reserved: int
    available: int
    tier: str
    daily_limit: int
    used_today: int
    resets_at: datetime


@dataclass(frozen=True)
class CourseCapView:
    """A course's daily cap and today's consumption."""

    course_id: uuid.UUID
    daily_cap: int | None
    used_today: int
    reserved: int
    resets_at: datetime


@dataclass(frozen=True)
class TransactionTotals:
    count: int
    credits: int
    debits: int
    net: int


@dataclass(frozen=True)
class TransactionsPage:
    entries: list[LedgerEntry]
    totals: TransactionTotals


@dataclass(frozen=True)
class UsageStats:
    """Token figures of a period (for GET /admin/stats)."""

    since: datetime
    until: datetime | None
    tokens_used: int
    usage_entries: int
    active_users: int
    tokens_topped_up: int
    tokens_purchased: int
    tokens_refunded: int
    tokens_adjusted: int
    tokens_expired_unused: int


@dataclass(frozen=True)
class CurrencyRevenue:
    """Money per currency, in the currency's minor unit (cents)."""

    currency: str
    gross: int
    refunded: int
    net: int
    expenses: int
    margin: int
    payments: int
    tokens_sold: int


@dataclass(frozen=True)
class CourseRevenue:
    """Seats sold in one paid course, per currency (minor units)."""

    course_id: uuid.UUID
    currency: str
    gross: int
    refunded: int
    net: int
    payments: int


@dataclass(frozen=True)
class MonthRevenue:
    """One UTC month of payments (token packages and course seats) and expenses, per currency."""

    month: str
    currency: str
    gross: int
    refunded: int
    net: int
    courses_gross: int
    packages_gross: int
    expenses: int
    margin: int
    payments: int


@dataclass(frozen=True)
class Revenue:
    """Payments and expenses (for GET /admin/stats)."""

    currencies: list[CurrencyRevenue]
    payments: int
    tokens_sold: int
    by_course: list[CourseRevenue]
    by_month: list[MonthRevenue]


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


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def effective_daily_limit(wallet: Wallet, settings: BillingSettings) -> int:
    """The wallet's own limit, else its tier's (an unknown tier falls back to the default's)."""
    if wallet.daily_limit is not None:
        return wallet.daily_limit
    if wallet.tier in settings.tiers:
        return settings.tiers[wallet.tier]
    return settings.tiers.get(settings.default_tier, 0)


def _view(wallet: Wallet, settings: BillingSettings, now: datetime) -> WalletView:
    start, resets_at = day_window(now, settings)
    used = wallet.used_today if wallet.usage_window_start >= start else 0
    return WalletView(
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


async def _locked_wallet(
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
    _start_day(wallet, settings, now)
    return wallet


def _start_day(wallet: Wallet, settings: BillingSettings, now: datetime) -> None:
    start, _ = day_window(now, settings)
    if wallet.usage_window_start < start:
        # A new day began since the last charge: the daily count starts over.
        wallet.used_today = 0
        wallet.usage_window_start = start


def _post(
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
) -> WalletView:
    """The user's wallet, created on first use (needs a write unit of work)."""
    cfg = _cfg(settings)
    now = utcnow()
    wallet = await repository.get_wallet(session, user_id)
    if wallet is None:
        wallet = await _locked_wallet(session, user_id, cfg, now)
        await session.flush()
    return _view(wallet, cfg, now)


async def lock_wallet(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> WalletView:
    """Lock the user's wallet until the transaction ends (created when missing).

    For multi-step operations on one user's money (payments): everything after this call is
    serialized with every other movement of that wallet.
    """
    cfg = _cfg(settings)
    now = utcnow()
    return _view(await _locked_wallet(session, user_id, cfg, now), cfg, now)


async def find_wallet(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> WalletView | None:
    """The user's wallet if it exists yet; never writes (safe in read-only units of work)."""
    wallet = await repository.get_wallet(session, user_id)
    return None if wallet is None else _view(wallet, _cfg(settings), utcnow())


def _check_amount(amount: int, what: str = "amount") -> None:
    if amount <= 0 or amount > MAX_AMOUNT:
        raise Unprocessable(f"{what} must be between 1 and {MAX_AMOUNT}", code="invalid_amount")


# Reservations


async def reserve(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    purpose: str,
    course_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
    ttl_s: int | None = None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> Reservation:
    """Hold `amount` tokens or fail: 429 daily limit / course cap, 402 not enough tokens."""
    cfg = _cfg(settings)
    _check_amount(amount)
    if idempotency_key is not None:
        stored = await idempotency.claim(
            session,
            key=idempotency_key,
            user_id=user_id,
            route=_RESERVE_ROUTE,
            request={"amount": amount, "purpose": purpose, "course_id": course_id, "ttl_s": ttl_s},
        )
        if stored is not None:
            existing = await repository.get_reservation(
                session, uuid.UUID(stored.body["reservation_id"])
            )
            if existing is None:
                raise ReservationNotFound()
            return existing
    now = utcnow()
    wallet = await _locked_wallet(session, user_id, cfg, now)
    if wallet.reserved > 0:
        # Nothing held means no open reservation (reserved = Σ open holds), so none overdue:
        # the query is skipped on the common path.
        for overdue in await repository.overdue_reservations_of(session, user_id, now):
            _resolve_expired(session, wallet, overdue, now)

    start, resets_at = day_window(now, cfg)
    limit = effective_daily_limit(wallet, cfg)
    if wallet.used_today + wallet.reserved + amount > limit:
        raise DailyLimitReached(
            f"Daily token limit reached ({limit} tokens a day, "
            f"{wallet.used_today} used and {wallet.reserved} held); it resets at "
            f"{resets_at.isoformat().replace('+00:00', 'Z')}",
            retry_after=_seconds_until(resets_at, now),
        )
    if course_id is not None:
        # The course's row lock serializes its reservations across users; the figures below are
        # read after it is taken, so two answers can never both fit in the same room.
        cap = await repository.lock_course_cap(session, course_id)
        if cap is not None and (cap.daily_cap is not None or cap.token_budget is not None):
            # Today's usage, the total spent and the open holds: one statement under the lock.
            figures = await repository.course_figures(
                session,
                course_id,
                since=start if cap.daily_cap is not None else None,
                ever=cap.token_budget is not None,
            )
            held = figures.held
            if cap.daily_cap is not None and figures.used_since + held + amount > cap.daily_cap:
                raise DailyLimitReached(
                    f"This course's daily token cap is reached ({cap.daily_cap} tokens a day "
                    "for all its students together)",
                    retry_after=_seconds_until(resets_at, now),
                    code="course_cap_reached",
                )
            if cap.token_budget is not None and figures.spent + held + amount > cap.token_budget:
                raise CourseBudgetExhausted(
                    budget=cap.token_budget, spent=figures.spent, held=held, requested=amount
                )
    available = wallet.balance - wallet.reserved
    if amount > available:
        raise InsufficientTokens(requested=amount, available=available)

    ttl = cfg.reservation_ttl_s if ttl_s is None else ttl_s
    reservation = Reservation(
        id=new_id(),
        user_id=user_id,
        course_id=course_id,
        amount=amount,
        actual=None,
        purpose=purpose[:200],
        status=ReservationStatus.reserved,
        created_at=now,
        expires_at=now + timedelta(seconds=max(1, ttl)),
    )
    session.add(reservation)
    _post(
        session,
        wallet,
        entry_type=EntryType.reservation_hold,
        reserved_delta=amount,
        now=now,
        reservation=reservation,
        actor_id=actor_id,
        reason=purpose[:500],
    )
    await session.flush()
    if actor_id is not None:
        await record(
            session,
            action="billing.reservation_created",
            actor_id=actor_id,
            target_type="reservation",
            target_id=reservation.id,
            details={"user_id": str(user_id), "amount": amount, "purpose": purpose[:200]},
        )
    if idempotency_key is not None:
        await idempotency.complete(
            session,
            key=idempotency_key,
            user_id=user_id,
            route=_RESERVE_ROUTE,
            status_code=201,
            body={"reservation_id": str(reservation.id)},
        )
    return reservation


def _resolve_expired(
    session: AsyncSession, wallet: Wallet, reservation: Reservation, now: datetime
) -> None:
    reservation.status = ReservationStatus.expired
    reservation.resolved_at = now
    _post(
        session,
        wallet,
        entry_type=EntryType.expiry,
        reserved_delta=-reservation.amount,
        now=now,
        reservation=reservation,
        reason="Reservation expired",
    )


async def _open_reservation_locked(
    session: AsyncSession,
    reservation_id: uuid.UUID,
    settings: BillingSettings,
    user_id: uuid.UUID | None,
) -> tuple[Reservation, Wallet | None]:
    """The reservation read under its wallet's lock; the wallet is None when it is resolved.

    The wallet is found through the reservation and locked in one statement, then the
    reservation is read: after the lock, so a concurrent finalize or expiry is seen.
    """
    now = utcnow()
    wallet = await repository.lock_wallet_of_reservation(session, reservation_id, user_id)
    reservation = await repository.get_reservation(session, reservation_id)
    if reservation is None or (user_id is not None and reservation.user_id != user_id):
        raise ReservationNotFound()
    if reservation.status != ReservationStatus.reserved:
        return reservation, None
    if wallet is None:
        # An open hold whose wallet row is gone (never the case after a reserve): recreate it
        # as every movement does, then re-read the hold under that lock.
        wallet = await _locked_wallet(session, reservation.user_id, settings, now)
        reservation = await repository.get_reservation(session, reservation_id)
        assert reservation is not None
        if reservation.status != ReservationStatus.reserved:
            return reservation, None
        return reservation, wallet
    _start_day(wallet, settings, now)
    return reservation, wallet


async def finalize(
    session: AsyncSession,
    *,
    reservation_id: uuid.UUID,
    actual: int,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> Reservation:
    """Charge `actual` and release the rest of the hold; once only (later calls return it as is).

    More than the hold is refused (422): the hold is the most the user agreed to spend, and a
    silent cap would report one figure and charge another. `user_id`, when given, must own the
    reservation (404 otherwise).
    """
    cfg = _cfg(settings)
    if actual < 0:
        raise Unprocessable("actual must not be negative", code="invalid_amount")
    reservation, wallet = await _open_reservation_locked(session, reservation_id, cfg, user_id)
    if wallet is None:
        return reservation
    if actual > reservation.amount:
        raise ExceedsReservation(actual=actual, reserved=reservation.amount)
    now = utcnow()
    charged = actual
    rest = reservation.amount - charged
    if charged > 0:
        _post(
            session,
            wallet,
            entry_type=EntryType.usage,
            balance_delta=-charged,
            reserved_delta=-charged,
            now=now,
            reservation=reservation,
            actor_id=actor_id,
            reason=reservation.purpose,
        )
        wallet.used_today += charged
    if rest > 0:
        _post(
            session,
            wallet,
            entry_type=EntryType.release,
            reserved_delta=-rest,
            now=now,
            reservation=reservation,
            actor_id=actor_id,
            reason="Unused part of the reservation",
        )
    reservation.status = ReservationStatus.finalized
    reservation.actual = charged
    reservation.resolved_at = now
    await session.flush()
    if actor_id is not None:
        await record(
            session,
            action="billing.reservation_finalized",
            actor_id=actor_id,
            target_type="reservation",
            target_id=reservation.id,
            details={"user_id": str(reservation.user_id), "actual": charged},
        )
    return reservation


async def release(
    session: AsyncSession,
    *,
    reservation_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> Reservation:
    """Give every held token back; once only (later calls return the reservation as is)."""
    cfg = _cfg(settings)
    reservation, wallet = await _open_reservation_locked(session, reservation_id, cfg, user_id)
    if wallet is None:
        return reservation
    now = utcnow()
    _post(
        session,
        wallet,
        entry_type=EntryType.release,
        reserved_delta=-reservation.amount,
        now=now,
        reservation=reservation,
        actor_id=actor_id,
        reason="Reservation released",
    )
    reservation.status = ReservationStatus.released
    reservation.actual = 0
    reservation.resolved_at = now
    await session.flush()
    if actor_id is not None:
        await record(
            session,
            action="billing.reservation_released",
            actor_id=actor_id,
            target_type="reservation",
            target_id=reservation.id,
            details={"user_id": str(reservation.user_id)},
        )
    return reservation


async def expire_due(
    session: AsyncSession, *, limit_users: int = 200, settings: BillingSettings | None = None
) -> int:
    """Expire open reservations past their time (wallets locked in id order); returns how many."""
    cfg = _cfg(settings)
    now = utcnow()
    user_ids = await repository.users_with_overdue(session, now, limit_users)
    count = 0
    for user_id in user_ids:  # already sorted: one lock order everywhere
        wallet = await _locked_wallet(session, user_id, cfg, now)
        for reservation in await repository.overdue_reservations_of(session, user_id, now):
            _resolve_expired(session, wallet, reservation, now)
            count += 1
    await session.flush()
    return count


async def get_reservation(
    session: AsyncSession, *, reservation_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> Reservation:
    """One reservation (of `user_id` when given), else 404."""
    reservation = await repository.get_reservation(session, reservation_id)
    if reservation is None or (user_id is not None and reservation.user_id != user_id):
        raise ReservationNotFound()
    return reservation


async def list_reservations(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    status: ReservationStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Reservation], int]:
    """A user's reservations, newest first."""
    return await repository.list_reservations(
        session, user_id=user_id, status=status, limit=limit, offset=offset
    )


# Credits and debits


async def topup(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    reason: str,
    actor_id: uuid.UUID | None,
    reference: str | None = None,
    settings: BillingSettings | None = None,
) -> tuple[LedgerEntry, WalletView]:
    """Credit tokens (amount > 0: `topup`) or correct them (amount < 0: `adjustment`); audited.

    A negative adjustment may take only available tokens (never held ones): 422 otherwise.
    """
    cfg = _cfg(settings)
    if amount == 0 or abs(amount) > MAX_AMOUNT:
        raise Unprocessable(
            f"amount must be non-zero and at most {MAX_AMOUNT} in size", code="invalid_amount"
        )
    now = utcnow()
    wallet = await _locked_wallet(session, user_id, cfg, now)
    if amount < 0 and -amount > wallet.balance - wallet.reserved:
        raise AdjustmentTooLarge(requested=-amount, available=wallet.balance - wallet.reserved)
    entry = _post(
        session,
        wallet,
        entry_type=EntryType.topup if amount > 0 else EntryType.adjustment,
        balance_delta=amount,
        now=now,
        actor_id=actor_id,
        reason=reason,
        reference=reference,
    )
    await session.flush()
    await record(
        session,
        action="billing.topup" if amount > 0 else "billing.adjustment",
        actor_id=actor_id,
        target_type="wallet",
        target_id=user_id,
        details={
            "amount": amount,
            "reason": reason,
            "reference": reference,
            "transaction_id": str(entry.id),
            "new_balance": wallet.balance,
        },
    )
    return entry, _view(wallet, cfg, now)


async def credit_purchase(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tokens: int,
    reference: str,
    dedupe_key: str,
    reason: str = "Token package purchase",
    settings: BillingSettings | None = None,
) -> LedgerEntry | None:
    """Credit bought tokens exactly once per `dedupe_key`; None when it was already credited."""
    cfg = _cfg(settings)
    _check_amount(tokens, "tokens")
    now = utcnow()
    wallet = await _locked_wallet(session, user_id, cfg, now)
    if await repository.entry_exists(session, dedupe_key):
        return None
    entry = _post(
        session,
        wallet,
        entry_type=EntryType.purchase,
        balance_delta=tokens,
        now=now,
        reason=reason,
        reference=reference,
        dedupe_key=dedupe_key,
    )
    await session.flush()
    await record(
        session,
        action="billing.purchase",
        actor_id=None,
        target_type="wallet",
        target_id=user_id,
        details={"tokens": tokens, "reference": reference, "transaction_id": str(entry.id)},
    )
    return entry


@dataclass(frozen=True)
class RefundDebit:
    """What a refund took: `debited` tokens, and `shortfall` it could not (already spent/held)."""

    requested: int
    debited: int
    shortfall: int
    entry: LedgerEntry | None


async def debit_refund(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tokens: int,
    reference: str,
    dedupe_key: str,
    reason: str = "Payment refunded",
    settings: BillingSettings | None = None,
) -> RefundDebit | None:
    """Take back refunded tokens, never below zero nor from held tokens; once per `dedupe_key`.

    Takes min(tokens, available); the rest is the shortfall (tokens already spent), reported in
    the result and the audit log. None when this refund was already processed.
    """
    cfg = _cfg(settings)
    _check_amount(tokens, "tokens")
    now = utcnow()
    wallet = await _locked_wallet(session, user_id, cfg, now)
    if await repository.entry_exists(session, dedupe_key):
        return None
    debit = min(tokens, wallet.balance - wallet.reserved)
    entry = None
    if debit > 0:
        entry = _post(
            session,
            wallet,
            entry_type=EntryType.refund,
            balance_delta=-debit,
            now=now,
            reason=reason if debit == tokens else f"{reason} (shortfall {tokens - debit} tokens)",
            reference=reference,
            dedupe_key=dedupe_key,
        )
        await session.flush()
    await record(
        session,
        action="billing.refund",
        actor_id=None,
        target_type="wallet",
        target_id=user_id,
        details={
            "reference": reference,
            "tokens": tokens,
            "debited": debit,
            "shortfall": tokens - debit,
            "transaction_id": str(entry.id) if entry else None,
        },
    )
    return RefundDebit(requested=tokens, debited=debit, shortfall=tokens - debit, entry=entry)


# Tiers and limits


async def set_limits(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    actor_id: uuid.UUID,
    tier: str | None = None,
    daily_limit: int | None = None,
    change_daily_limit: bool = False,
    settings: BillingSettings | None = None,
) -> WalletView:
    """Change a wallet's tier and/or its own daily limit (None: the tier's); audited."""
    cfg = _cfg(settings)
    if tier is not None and tier not in cfg.tiers:
        raise UnknownTier(tier, list(cfg.tiers))
    if change_daily_limit and daily_limit is not None and not 0 <= daily_limit <= MAX_AMOUNT:
        raise Unprocessable("daily_limit must be between 0 and 10^12", code="invalid_amount")
    now = utcnow()
    wallet = await _locked_wallet(session, user_id, cfg, now)
    before = {"tier": wallet.tier, "daily_limit": wallet.daily_limit}
    if tier is not None:
        wallet.tier = tier
    if change_daily_limit:
        wallet.daily_limit = daily_limit
    await session.flush()
    await record(
        session,
        action="billing.limits_changed",
        actor_id=actor_id,
        target_type="wallet",
        target_id=user_id,
        details={
            "before": before,
            "after": {"tier": wallet.tier, "daily_limit": wallet.daily_limit},
        },
    )
    return _view(wallet, cfg, now)


async def set_course_cap(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    daily_cap: int | None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> CourseCapView:
    """Set (or with None remove) a course's daily token cap for all its students together."""
    if daily_cap is not None and not 0 <= daily_cap <= MAX_AMOUNT:
        raise Unprocessable("daily_cap must be between 0 and 10^12", code="invalid_amount")
    await _set_course_limit(session, course_id, actor_id, daily_cap=daily_cap)
    await record(
        session,
        action="billing.course_cap_set",
        actor_id=actor_id,
        target_type="course",
        target_id=course_id,
        details={"daily_cap": daily_cap},
    )
    return await get_course_cap(session, course_id=course_id, settings=settings)


_UNCHANGED: Any = object()


async def _set_course_limit(
    session: AsyncSession,
    course_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    *,
    daily_cap: int | None = _UNCHANGED,
    token_budget: int | None = _UNCHANGED,
) -> None:
    """Change one of a course's limits; the row goes when neither is left."""
    cap = await repository.lock_course_cap(session, course_id)
    current = (cap.daily_cap, cap.token_budget) if cap is not None else (None, None)
    wanted = (
        current[0] if daily_cap is _UNCHANGED else daily_cap,
        current[1] if token_budget is _UNCHANGED else token_budget,
    )
    if wanted == (None, None):
        if cap is not None:
            await repository.delete_course_cap(session, course_id)
            session.expunge(cap)
        return
    if cap is None:
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


async def get_course_cap(
    session: AsyncSession, *, course_id: uuid.UUID, settings: BillingSettings | None = None
) -> CourseCapView:
    """A course's cap (None when unset) with today's usage and open holds."""
    cfg = _cfg(settings)
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
    if token_budget is not None and not 0 <= token_budget <= MAX_AMOUNT:
        raise Unprocessable("token_budget must be between 0 and 10^12", code="invalid_amount")
    await _set_course_limit(session, course_id, actor_id, token_budget=token_budget)
    await record(
        session,
        action="billing.course_budget_set",
        actor_id=actor_id,
        target_type="course",
        target_id=course_id,
        details={"token_budget": token_budget},
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


# Reports


async def list_transactions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None = None,
    direction: Direction | None = None,
    entry_type: EntryType | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
    offset: int = 0,
) -> TransactionsPage:
    """Ledger entries, newest first, with the totals of all that match the filters."""
    entries, totals = await repository.list_entries(
        session,
        user_id=user_id,
        direction=direction,
        entry_type=entry_type,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return TransactionsPage(
        entries=entries,
        totals=TransactionTotals(
            count=totals.count,
            credits=totals.credits,
            debits=totals.debits,
            net=totals.credits - totals.debits,
        ),
    )


async def record_expense(
    session: AsyncSession,
    *,
    category: str,
    amount: int,
    currency: str,
    description: str,
    actor_id: uuid.UUID,
) -> Expense:
    """Record a platform cost (minor units of `currency`); audited."""
    _check_amount(amount)
    expense = Expense(
        category=category,
        amount=amount,
        currency=currency.lower(),
        description=description,
        recorded_by=actor_id,
        created_at=utcnow(),
    )
    session.add(expense)
    await session.flush()
    await record(
        session,
        action="billing.expense",
        actor_id=actor_id,
        target_type="expense",
        target_id=expense.id,
        details={"category": category, "amount": amount, "currency": expense.currency},
    )
    return expense


async def list_expenses(
    session: AsyncSession, *, category: str | None, limit: int, offset: int
) -> tuple[list[Expense], int]:
    """Expenses, newest first."""
    return await repository.list_expenses(session, category=category, limit=limit, offset=offset)


async def usage_stats(
    session: AsyncSession, *, since: datetime, until: datetime | None = None
) -> UsageStats:
    """Token figures between `since` and `until` (default: now)."""
    by_type = {s.type: s for s in await repository.sums_by_type(session, since=since, until=until)}

    def amount(t: EntryType) -> int:
        return by_type[t].amount if t in by_type else 0

    return UsageStats(
        since=since,
        until=until,
        tokens_used=amount(EntryType.usage),
        usage_entries=by_type[EntryType.usage].count if EntryType.usage in by_type else 0,
        active_users=await repository.active_spenders(session, since=since, until=until),
        tokens_topped_up=amount(EntryType.topup),
        tokens_purchased=amount(EntryType.purchase),
        tokens_refunded=amount(EntryType.refund),
        tokens_adjusted=amount(EntryType.adjustment),
        tokens_expired_unused=amount(EntryType.expiry),
    )


async def revenue(
    session: AsyncSession, *, since: datetime | None = None, until: datetime | None = None
) -> Revenue:
    """Payments (gross, refunded, net) and expenses per currency, in minor units."""
    money = await repository.revenue_by_currency(session, since=since, until=until)
    expenses = await repository.expenses_by_currency(session, since=since, until=until)
    currencies = sorted({m.currency for m in money} | set(expenses))
    by_currency = {m.currency: m for m in money}
    rows = []
    for currency in currencies:
        m = by_currency.get(currency)
        gross = m.gross if m else 0
        refunded = m.refunded if m else 0
        spent = expenses.get(currency, 0)
        rows.append(
            CurrencyRevenue(
                currency=currency,
                gross=gross,
                refunded=refunded,
                net=gross - refunded,
                expenses=spent,
                margin=gross - refunded - spent,
                payments=m.payments if m else 0,
                tokens_sold=m.tokens_sold if m else 0,
            )
        )
    return Revenue(
        currencies=rows,
        payments=sum(r.payments for r in rows),
        tokens_sold=sum(r.tokens_sold for r in rows),
        by_course=[
            CourseRevenue(
                course_id=c.course_id,
                currency=c.currency,
                gross=c.gross,
                refunded=c.refunded,
                net=c.gross - c.refunded,
                payments=c.payments,
            )
            for c in await repository.revenue_by_course(session, since=since, until=until)
        ],
        by_month=await _revenue_by_month(session, since=since, until=until),
    )


async def _revenue_by_month(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[MonthRevenue]:
    payments = {
        (m.month, m.currency): m
        for m in await repository.revenue_by_month(session, since=since, until=until)
    }
    expenses = await repository.expenses_by_month(session, since=since, until=until)
    lines = []
    for month, currency in sorted(set(payments) | set(expenses)):
        m = payments.get((month, currency))
        gross = m.gross if m else 0
        refunded = m.refunded if m else 0
        courses = m.course_gross if m else 0
        spent = expenses.get((month, currency), 0)
        lines.append(
            MonthRevenue(
                month=month,
                currency=currency,
                gross=gross,
                refunded=refunded,
                net=gross - refunded,
                courses_gross=courses,
                packages_gross=gross - courses,
                expenses=spent,
                margin=gross - refunded - spent,
                payments=m.payments if m else 0,
            )
        )
    return lines


async def forget_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """On account deletion: drop the user's stored responses; the ledger stays (it holds ids)."""
    await idempotency.forget_user(session, user_id=user_id)


# Invariants (tests, benchmarks, operators)


async def check_invariants(
    session: AsyncSession, *, user_id: uuid.UUID, settings: BillingSettings | None = None
) -> list[str]:
    """Every broken wallet invariant of a user, as sentences (empty when consistent)."""
    cfg = _cfg(settings)
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
