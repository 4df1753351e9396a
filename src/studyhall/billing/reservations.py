"""Reservations: tokens held for an answer, then charged, given back or expired.

- reserve → finalize(actual) | release | expiry: the first resolution wins, later calls return
  the reservation as it is (a second finalize returns the first result). finalize charges
  min(actual, reserved) and releases the rest; an overdue reservation that the sweep has not
  expired yet may still be finalized or released.
- The daily limit (the user's, then the course's cap and budget) is checked before the balance,
  so a user who may not spend more today learns it (429) before being asked to buy tokens (402).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from studyhall.audit.service import record
from studyhall.billing import repository
from studyhall.billing.errors import (
    CourseBudgetExhausted,
    DailyLimitReached,
    ExceedsReservation,
    InsufficientTokens,
    ReservationNotFound,
)
from studyhall.billing.ledger import (
    check_amount,
    day_window,
    effective_daily_limit,
    lock_wallet_row,
    post_entry,
    seconds_until,
    settings_or_default,
    start_day,
)
from studyhall.billing.models import EntryType, Reservation, ReservationStatus, Wallet
from studyhall.billing.schemas import ReserveIn
from studyhall.config import BillingSettings
from studyhall.core import idempotency
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.errors import Unprocessable
from studyhall.core.ids import new_id

_RESERVE_ROUTE = "billing.reserve"


@dataclass(frozen=True)
class _Ask:
    """What a reserve asks for, checked, and who asks (`actor_id`, None: the user's own answer):
    every way of reserving passes this one value along."""

    user_id: uuid.UUID
    amount: int
    purpose: str
    course_id: uuid.UUID | None
    ttl_s: int | None
    actor_id: uuid.UUID | None

    def replay_request(self) -> dict[str, Any]:
        """What a retry with the same idempotency key must repeat (the key is the user's)."""
        return {
            "amount": self.amount,
            "purpose": self.purpose,
            "course_id": self.course_id,
            "ttl_s": self.ttl_s,
        }


def _asked(
    user_id: uuid.UUID,
    amount: int,
    purpose: str,
    course_id: uuid.UUID | None,
    ttl_s: int | None,
    actor_id: uuid.UUID | None = None,
) -> _Ask:
    check_amount(amount)
    return _Ask(user_id, amount, purpose, course_id, ttl_s, actor_id)


async def reserve(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int | None = None,
    purpose: str | None = None,
    course_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
    ttl_s: int | None = None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
    request: ReserveIn | None = None,
) -> Reservation:
    """Hold `amount` tokens or fail: 429 daily limit / course cap, 402 not enough tokens.

    The amount, purpose, course and TTL come together in `request` (the API's `ReserveIn`), or
    apart."""
    if request is not None:
        amount, purpose = request.amount, request.purpose
        course_id, ttl_s = request.course_id, request.ttl_s
    if amount is None or purpose is None:
        raise TypeError("reserve takes a request, or an amount and a purpose")
    cfg = settings_or_default(settings)
    ask = _asked(user_id, amount, purpose, course_id, ttl_s, actor_id)
    if idempotency_key is not None:
        replayed = await _replayed(session, idempotency_key, ask)
        if replayed is not None:
            return replayed
    reservation = await _hold_in_session(session, ask, cfg=cfg)
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


async def reserve_alone(
    db: Database,
    *,
    user_id: uuid.UUID,
    amount: int,
    purpose: str,
    course_id: uuid.UUID | None = None,
    ttl_s: int | None = None,
    settings: BillingSettings | None = None,
) -> Reservation:
    """`reserve` as a unit of work of its own, for a caller that writes nothing else with it.

    On PostgreSQL the common case is one statement sent without BEGIN/COMMIT and without an ORM
    session (it is atomic by itself: the wallet's conditional UPDATE and the two INSERTs commit
    together or not at all). When it writes nothing (a limit, a missing wallet, overdue holds,
    a capped course), `reserve` runs in a transaction as usual and decides."""
    cfg = settings_or_default(settings)
    ask = _asked(user_id, amount, purpose, course_id, ttl_s)
    if not db.is_sqlite:
        placed = await _hold_in_one_statement(db, ask, cfg=cfg, now=utcnow())
        if placed is not None:
            return placed
    async with db.session() as session:
        return await _hold_in_session(session, ask, cfg=cfg)


async def finalize_alone(
    db: Database,
    *,
    reservation_id: uuid.UUID,
    actual: int,
    user_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> Reservation:
    """`finalize` as a unit of work of its own (see `reserve_alone`): on PostgreSQL an open
    hold is settled by one statement without BEGIN/COMMIT; anything else (resolved already,
    not found, more than the hold) goes through `finalize` in a transaction."""
    cfg = settings_or_default(settings)
    if actual >= 0 and not db.is_sqlite:
        settled = await _settle_in_one_statement(
            db, reservation_id, actual=actual, user_id=user_id, actor_id=None, cfg=cfg
        )
        if settled is not None:
            return settled
    async with db.session() as session:
        return await finalize(
            session, reservation_id=reservation_id, actual=actual, user_id=user_id, settings=cfg
        )


def _new_hold(ask: _Ask, cfg: BillingSettings, now: datetime) -> Reservation:
    ttl = cfg.reservation_ttl_s if ask.ttl_s is None else ask.ttl_s
    return Reservation(
        id=new_id(),
        user_id=ask.user_id,
        course_id=ask.course_id,
        amount=ask.amount,
        actual=None,
        purpose=ask.purpose[:200],
        status=ReservationStatus.reserved,
        created_at=now,
        expires_at=now + timedelta(seconds=max(1, ttl)),
        resolved_at=None,
    )


def _one_statement_path(session: AsyncSession) -> bool:
    # PostgreSQL runs a reserve's or a finalize's common case as one statement (see
    # `repository.place_hold_in_one_statement`); SQLite has no data-modifying CTEs.
    return bool(session.get_bind().dialect.name == "postgresql")


async def _hold_in_session(
    session: AsyncSession, ask: _Ask, *, cfg: BillingSettings
) -> Reservation:
    """The hold in the caller's unit of work: one statement where it can, else the steps (which
    also find out why a hold does not fit)."""
    now = utcnow()
    if _one_statement_path(session):
        reservation = await _hold_in_one_statement(session, ask, cfg=cfg, now=now)
        if reservation is not None:
            session.add(reservation)
            return reservation
    return await _reserve_in_steps(session, ask, cfg=cfg, now=now)


async def _hold_in_one_statement(
    target: AsyncSession | Database, ask: _Ask, *, cfg: BillingSettings, now: datetime
) -> Reservation | None:
    """The common case of a reserve in one statement; None when it fits no limit (nothing
    written: the steps then decide)."""
    reservation = _new_hold(ask, cfg, now)
    placed = await repository.place_hold_in_one_statement(
        target,
        reservation,
        reason=ask.purpose[:500],
        actor_id=ask.actor_id,
        window_start=day_window(now, cfg)[0],
        tier_limits=cfg.tiers,
        default_limit=cfg.tiers.get(cfg.default_tier, 0),
    )
    if placed is None:
        return None
    # The row was written by the statement: the object stands for it as a loaded one.
    make_transient_to_detached(reservation)
    return reservation


async def _reserve_in_steps(
    session: AsyncSession, ask: _Ask, *, cfg: BillingSettings, now: datetime
) -> Reservation:
    """A reserve in steps: creates a missing wallet, expires overdue holds, checks a course's
    cap and budget, and raises the limit's error when the hold does not fit."""
    wallet = await lock_wallet_row(session, ask.user_id, cfg, now)
    if wallet.reserved > 0:
        # Nothing held means no open reservation (reserved = Σ open holds), so none overdue:
        # the query is skipped on the common path.
        for overdue in await repository.overdue_reservations_of(session, ask.user_id, now):
            _give_back(session, wallet, overdue, ReservationStatus.expired, now=now)

    start, resets_at = day_window(now, cfg)
    _check_daily_limit(wallet, cfg, amount=ask.amount, resets_at=resets_at, now=now)
    if ask.course_id is not None:
        await _check_course_limits(
            session, ask.course_id, amount=ask.amount, start=start, resets_at=resets_at, now=now
        )
    available = wallet.balance - wallet.reserved
    if ask.amount > available:
        raise InsufficientTokens(requested=ask.amount, available=available)

    # The reservation and its hold entry on the locked wallet.
    reservation = _new_hold(ask, cfg, now)
    session.add(reservation)
    post_entry(
        session,
        wallet,
        entry_type=EntryType.reservation_hold,
        reserved_delta=ask.amount,
        now=now,
        reservation=reservation,
        actor_id=ask.actor_id,
        reason=ask.purpose[:500],
    )
    await session.flush()
    return reservation


async def _replayed(session: AsyncSession, key: str, ask: _Ask) -> Reservation | None:
    """The reservation a first call with this idempotency key made, or None for a first call."""
    stored = await idempotency.claim(
        session, key=key, user_id=ask.user_id, route=_RESERVE_ROUTE, request=ask.replay_request()
    )
    if stored is None:
        return None
    existing = await repository.get_reservation(session, uuid.UUID(stored.body["reservation_id"]))
    if existing is None:
        raise ReservationNotFound()
    return existing


def _check_daily_limit(
    wallet: Wallet, settings: BillingSettings, *, amount: int, resets_at: datetime, now: datetime
) -> None:
    """429 when today's usage, the open holds and `amount` pass the wallet's daily limit."""
    limit = effective_daily_limit(wallet, settings)
    if wallet.used_today + wallet.reserved + amount > limit:
        raise DailyLimitReached(
            f"Daily token limit reached ({limit} tokens a day, "
            f"{wallet.used_today} used and {wallet.reserved} held); it resets at "
            f"{resets_at.isoformat().replace('+00:00', 'Z')}",
            retry_after=seconds_until(resets_at, now),
        )


async def _check_course_limits(
    session: AsyncSession,
    course_id: uuid.UUID,
    *,
    amount: int,
    start: datetime,
    resets_at: datetime,
    now: datetime,
) -> None:
    """429 past the course's daily cap (`course_cap_reached`), 402 past its total token budget."""
    # The course's row lock serializes its reservations across users; the figures below are
    # read after it is taken, so two answers can never both fit in the same room.
    cap = await repository.lock_course_cap(session, course_id)
    if cap is None or (cap.daily_cap is None and cap.token_budget is None):
        return
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
            retry_after=seconds_until(resets_at, now),
            code="course_cap_reached",
        )
    if cap.token_budget is not None and figures.spent + held + amount > cap.token_budget:
        raise CourseBudgetExhausted(
            budget=cap.token_budget, spent=figures.spent, held=held, requested=amount
        )


# How a hold ends without a charge (all of it goes back): its ledger entry's type and reason.
_GIVEN_BACK = {
    ReservationStatus.expired: (EntryType.expiry, "Reservation expired"),
    ReservationStatus.released: (EntryType.release, "Reservation released"),
}


def _give_back(
    session: AsyncSession,
    wallet: Wallet,
    reservation: Reservation,
    status: ReservationStatus,
    *,
    now: datetime,
    actor_id: uuid.UUID | None = None,
) -> None:
    """Resolve an open hold on its locked wallet without charging anything."""
    entry_type, reason = _GIVEN_BACK[status]
    reservation.status = status
    reservation.resolved_at = now
    post_entry(
        session,
        wallet,
        entry_type=entry_type,
        reserved_delta=-reservation.amount,
        now=now,
        reservation=reservation,
        actor_id=actor_id,
        reason=reason,
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
        wallet = await lock_wallet_row(session, reservation.user_id, settings, now)
        reservation = await repository.get_reservation(session, reservation_id)
        assert reservation is not None
        if reservation.status != ReservationStatus.reserved:
            return reservation, None
        return reservation, wallet
    start_day(wallet, settings, now)
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
    cfg = settings_or_default(settings)
    if actual < 0:
        raise Unprocessable("actual must not be negative", code="invalid_amount")
    if _one_statement_path(session):
        settled = await _settle_in_one_statement(
            session, reservation_id, actual=actual, user_id=user_id, actor_id=actor_id, cfg=cfg
        )
        if settled is not None:
            reservation = _in_session(session, settled)
            await _record_finalized(session, reservation, actor_id)
            return reservation
    # The general path: a hold that is resolved already, not found, exceeded, or SQLite.
    reservation, wallet = await _open_reservation_locked(session, reservation_id, cfg, user_id)
    if wallet is None:
        return reservation
    if actual > reservation.amount:
        raise ExceedsReservation(actual=actual, reserved=reservation.amount)
    now = utcnow()
    charged = actual
    rest = reservation.amount - charged
    if charged > 0:
        post_entry(
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
        post_entry(
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
    await _record_finalized(session, reservation, actor_id)
    return reservation


async def _record_finalized(
    session: AsyncSession, reservation: Reservation, actor_id: uuid.UUID | None
) -> None:
    if actor_id is not None:
        await record(
            session,
            action="billing.reservation_finalized",
            actor_id=actor_id,
            target_type="reservation",
            target_id=reservation.id,
            details={"user_id": str(reservation.user_id), "actual": reservation.actual},
        )


async def _settle_in_one_statement(
    target: AsyncSession | Database,
    reservation_id: uuid.UUID,
    *,
    actual: int,
    user_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    cfg: BillingSettings,
) -> Reservation | None:
    """The common case of a finalize in one statement, as the finalized row (not attached to a
    session); None when the hold is not open, not found or exceeded (nothing written)."""
    now = utcnow()
    settled = await repository.settle_hold_in_one_statement(
        target,
        reservation_id=reservation_id,
        owner_id=user_id,
        actual=actual,
        actor_id=actor_id,
        now=now,
        window_start=day_window(now, cfg)[0],
    )
    if settled is None:
        return None
    reservation = Reservation(
        id=reservation_id,
        **asdict(settled),
        status=ReservationStatus.finalized,
        actual=actual,
        resolved_at=now,
    )
    # The row was written by the statement: the object stands for it as a loaded one.
    make_transient_to_detached(reservation)
    return reservation


# What a finalize changes on a hold (what a session's copy of it is brought up to date with).
_SETTLED = ("status", "actual", "resolved_at")


def _in_session(session: AsyncSession, settled: Reservation) -> Reservation:
    """The finalized hold as an object of the session, without reading it back: the one the
    session already holds is brought up to date, else the settled row joins the session."""
    known = session.sync_session.identity_map.get(
        session.sync_session.identity_key(Reservation, settled.id)
    )
    if isinstance(known, Reservation):
        for name in _SETTLED:
            set_committed_value(known, name, getattr(settled, name))
        return known
    session.add(settled)
    return settled


async def release(
    session: AsyncSession,
    *,
    reservation_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    settings: BillingSettings | None = None,
) -> Reservation:
    """Give every held token back; once only (later calls return the reservation as is)."""
    cfg = settings_or_default(settings)
    reservation, wallet = await _open_reservation_locked(session, reservation_id, cfg, user_id)
    if wallet is None:
        return reservation
    now = utcnow()
    _give_back(session, wallet, reservation, ReservationStatus.released, now=now, actor_id=actor_id)
    reservation.actual = 0
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
    cfg = settings_or_default(settings)
    now = utcnow()
    user_ids = await repository.users_with_overdue(session, now, limit_users)
    count = 0
    for user_id in user_ids:  # already sorted: one lock order everywhere
        wallet = await lock_wallet_row(session, user_id, cfg, now)
        for reservation in await repository.overdue_reservations_of(session, user_id, now):
            _give_back(session, wallet, reservation, ReservationStatus.expired, now=now)
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


# A user's reservations, newest first: the repository's page as it is.
list_reservations = repository.list_reservations
