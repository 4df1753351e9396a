"""All SQL of the billing domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.billing.ledger_filter import LedgerFilter
from studyhall.billing.models import (
    CourseCap,
    Direction,
    EntryType,
    Expense,
    LedgerEntry,
    Payment,
    PaymentStatus,
    Reservation,
    ReservationStatus,
    Wallet,
)
from studyhall.core.db import Database, dialect_insert
from studyhall.core.ids import new_id
from studyhall.core.pagination import paginate


def _in_period(
    column: Any, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """Conditions keeping the rows whose timestamp `column` is in [since, until) (None: that
    side is open)."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


# Wallets


async def get_wallet(session: AsyncSession, user_id: uuid.UUID) -> Wallet | None:
    """A wallet without locking it (reads)."""
    return await session.scalar(
        select(Wallet).where(Wallet.user_id == user_id).execution_options(populate_existing=True)
    )


async def lock_wallet(session: AsyncSession, user_id: uuid.UUID) -> Wallet | None:
    """The wallet row, locked until the end of the transaction (FOR UPDATE on PostgreSQL).

    SQLite has no row locks; our write transactions there start with BEGIN IMMEDIATE, which
    serializes writers for the whole database, so the effect is the same.
    """
    return await session.scalar(
        select(Wallet)
        .where(Wallet.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_wallet_of_reservation(
    session: AsyncSession, reservation_id: uuid.UUID, owner_id: uuid.UUID | None
) -> Wallet | None:
    """The wallet that owns a reservation, locked, found and locked in one statement.

    None when the reservation does not exist (or is not `owner_id`'s). A reservation's owner
    never changes, so the subquery cannot go stale while the lock is awaited.
    """
    owner = select(Reservation.user_id).where(Reservation.id == reservation_id)
    if owner_id is not None:
        owner = owner.where(Reservation.user_id == owner_id)
    return await session.scalar(
        select(Wallet)
        .where(Wallet.user_id == owner.scalar_subquery())
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def insert_wallet_if_missing(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tier: str,
    balance: int,
    window_start: datetime,
    now: datetime,
) -> bool:
    """Create the wallet unless it exists (the columns not given take their defaults: the
    tier's limit, nothing held or used); True when this call created it.

    Concurrent creators on PostgreSQL wait for the first one to commit, then do nothing.
    """
    stmt = (
        dialect_insert(session, Wallet)
        .values(
            user_id=user_id,
            tier=tier,
            balance=balance,
            usage_window_start=window_start,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id"])
        .returning(Wallet.user_id)
    )
    return (await session.execute(stmt)).first() is not None


@dataclass(frozen=True)
class LedgerSums:
    balance: int
    reserved: int
    entries: int


async def ledger_sums(session: AsyncSession, user_id: uuid.UUID) -> LedgerSums:
    """Σ of the user's ledger deltas (what the wallet's cached figures must equal)."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(LedgerEntry.balance_delta), 0),
                func.coalesce(func.sum(LedgerEntry.reserved_delta), 0),
                func.count(),
            ).where(LedgerEntry.user_id == user_id)
        )
    ).one()
    return LedgerSums(int(row[0]), int(row[1]), int(row[2]))


async def open_reserved_total(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Σ of the user's open reservations."""
    value = await session.scalar(
        select(func.coalesce(func.sum(Reservation.amount), 0)).where(
            Reservation.user_id == user_id, Reservation.status == ReservationStatus.reserved
        )
    )
    return int(value or 0)


async def usage_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """Tokens charged to the user since a time."""
    value = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.user_id == user_id,
            LedgerEntry.type == EntryType.usage,
            LedgerEntry.created_at >= since,
        )
    )
    return int(value or 0)


# Ledger


async def entry_exists(session: AsyncSession, dedupe_key: str) -> bool:
    """Whether an entry with this dedupe key was already written."""
    found = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.dedupe_key == dedupe_key).limit(1)
    )
    return found is not None


def _entry_conditions(where: LedgerFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.user_id is not None:
        conditions.append(LedgerEntry.user_id == where.user_id)
    if where.direction is not None:
        conditions.append(LedgerEntry.direction == where.direction)
    if where.entry_type is not None:
        conditions.append(LedgerEntry.type == where.entry_type)
    return conditions + _in_period(LedgerEntry.created_at, where.since, where.until)


@dataclass(frozen=True)
class EntryTotals:
    count: int
    credits: int
    debits: int


async def list_entries(
    session: AsyncSession, where: LedgerFilter, *, limit: int, offset: int
) -> tuple[list[LedgerEntry], EntryTotals]:
    """Newest-first page of ledger entries with the totals of everything that matches."""
    conditions = _entry_conditions(where)
    credit = case((LedgerEntry.balance_delta > 0, LedgerEntry.balance_delta), else_=0)
    debit = case((LedgerEntry.balance_delta < 0, -LedgerEntry.balance_delta), else_=0)
    totals_row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(credit), 0),
                func.coalesce(func.sum(debit), 0),
            )
            .select_from(LedgerEntry)
            .where(*conditions)
        )
    ).one()
    rows = await session.scalars(
        select(LedgerEntry)
        .where(*conditions)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), EntryTotals(int(totals_row[0]), int(totals_row[1]), int(totals_row[2]))


@dataclass(frozen=True)
class TypeSum:
    type: EntryType
    count: int
    amount: int


async def sums_by_type(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[TypeSum]:
    """Count and Σ amount of entries per type in a period."""
    query = select(LedgerEntry.type, func.count(), func.coalesce(func.sum(LedgerEntry.amount), 0))
    query = query.where(*_in_period(LedgerEntry.created_at, since, until))
    rows = await session.execute(query.group_by(LedgerEntry.type))
    return [TypeSum(EntryType(t), int(c), int(a)) for t, c, a in rows]


async def active_spenders(session: AsyncSession, *, since: datetime, until: datetime | None) -> int:
    """Distinct users charged in a period."""
    query = select(func.count(func.distinct(LedgerEntry.user_id))).where(
        LedgerEntry.type == EntryType.usage, *_in_period(LedgerEntry.created_at, since, until)
    )
    return int(await session.scalar(query) or 0)


# Reservations


async def get_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> Reservation | None:
    """A reservation, re-read from the database (its status may have changed under us)."""
    return await session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .execution_options(populate_existing=True)
    )


async def list_reservations(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    status: ReservationStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Reservation], int]:
    """Newest-first page of a user's reservations."""
    query = select(Reservation).where(Reservation.user_id == user_id)
    if status is not None:
        query = query.where(Reservation.status == status)
    return await paginate(
        session,
        query,
        order_by=[Reservation.created_at.desc(), Reservation.id.desc()],
        limit=limit,
        offset=offset,
    )


async def overdue_reservations_of(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> list[Reservation]:
    """The user's open reservations past their expiry."""
    rows = await session.scalars(
        select(Reservation)
        .where(
            Reservation.user_id == user_id,
            Reservation.status == ReservationStatus.reserved,
            Reservation.expires_at <= now,
        )
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def users_with_overdue(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Users owning open reservations past their expiry (at most `limit` of them)."""
    rows = await session.scalars(
        select(Reservation.user_id)
        .where(Reservation.status == ReservationStatus.reserved, Reservation.expires_at <= now)
        .group_by(Reservation.user_id)
        .order_by(Reservation.user_id)
        .limit(limit)
    )
    return list(rows)


# Course caps


async def get_course_cap(session: AsyncSession, course_id: uuid.UUID) -> CourseCap | None:
    """A course's cap row, if any."""
    return await session.get(CourseCap, course_id, populate_existing=True)


async def lock_course_cap(session: AsyncSession, course_id: uuid.UUID) -> CourseCap | None:
    """A course's cap row locked, so the course's reservations serialize across users."""
    return await session.scalar(
        select(CourseCap)
        .where(CourseCap.course_id == course_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def delete_course_cap(session: AsyncSession, course_id: uuid.UUID) -> None:
    """Remove a course's cap."""
    await session.execute(delete(CourseCap).where(CourseCap.course_id == course_id))


@dataclass(frozen=True)
class CourseFigures:
    """What a course's users spent (since the day's start, and ever) and hold right now."""

    used_since: int
    spent: int
    held: int


async def course_figures(
    session: AsyncSession, course_id: uuid.UUID, *, since: datetime | None, ever: bool
) -> CourseFigures:
    """A course's usage since `since` (when given), ever (when `ever`) and its open holds, all
    its users together, in one statement (a figure not asked for is 0 and costs nothing)."""
    usage = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.course_id == course_id, LedgerEntry.type == EntryType.usage
    )
    held = select(func.coalesce(func.sum(Reservation.amount), 0)).where(
        Reservation.course_id == course_id, Reservation.status == ReservationStatus.reserved
    )
    columns: list[Any] = [
        usage.where(LedgerEntry.created_at >= since).scalar_subquery()
        if since is not None
        else literal(0),
        usage.scalar_subquery() if ever else literal(0),
        held.scalar_subquery(),
    ]
    row = (await session.execute(select(*columns))).one()
    return CourseFigures(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


# Payments


async def get_payment_by_provider_id(
    session: AsyncSession, provider_payment_id: str
) -> Payment | None:
    """The payment of a provider's PaymentIntent id, re-read."""
    return await session.scalar(
        select(Payment)
        .where(Payment.provider_payment_id == provider_payment_id)
        .execution_options(populate_existing=True)
    )


async def insert_payment_if_missing(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert a payment row unless its provider id is already known."""
    await session.execute(
        dialect_insert(session, Payment)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["provider_payment_id"])
    )


async def pending_course_payment(
    session: AsyncSession, *, user_id: uuid.UUID, course_id: uuid.UUID, amount: int, currency: str
) -> str | None:
    """The provider id of the user's newest unpaid payment for the course at this price."""
    return await session.scalar(
        select(Payment.provider_payment_id)
        .where(
            Payment.user_id == user_id,
            Payment.course_id == course_id,
            Payment.status == PaymentStatus.pending,
            Payment.amount == amount,
            Payment.currency == currency,
        )
        .order_by(Payment.created_at.desc())
        .limit(1)
    )


async def has_standing_course_payment(
    session: AsyncSession, *, user_id: uuid.UUID, course_id: uuid.UUID
) -> bool:
    """Whether a succeeded (not fully refunded) payment of the user for the course exists."""
    found = await session.scalar(
        select(Payment.id)
        .where(
            Payment.user_id == user_id,
            Payment.course_id == course_id,
            Payment.status.in_([PaymentStatus.succeeded, PaymentStatus.partially_refunded]),
        )
        .limit(1)
    )
    return found is not None


_PAID = [PaymentStatus.succeeded, PaymentStatus.refunded, PaymentStatus.partially_refunded]


@dataclass(frozen=True)
class CourseMoney:
    """Seats sold in one paid course, per currency (minor units)."""

    course_id: uuid.UUID
    currency: str
    gross: int
    refunded: int
    payments: int

    @property
    def net(self) -> int:
        return self.gross - self.refunded


async def revenue_by_course(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[CourseMoney]:
    """Succeeded course payments summed per course and currency (minor units), largest first."""
    gross = func.coalesce(func.sum(Payment.amount), 0)
    query = select(
        Payment.course_id,
        Payment.currency,
        gross,
        func.coalesce(func.sum(Payment.amount_refunded), 0),
        func.count(),
    ).where(Payment.status.in_(_PAID), Payment.course_id.is_not(None))
    query = query.where(*_in_period(Payment.succeeded_at, since, until))
    rows = await session.execute(
        query.group_by(Payment.course_id, Payment.currency).order_by(
            gross.desc(), Payment.course_id
        )
    )
    return [
        CourseMoney(uuid.UUID(str(c)), str(cur), int(g), int(r), int(n)) for c, cur, g, r, n in rows
    ]


def _month(session: AsyncSession, column: Any) -> Any:
    """`YYYY-MM` of a UTC timestamp column, in the dialect's own function."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


@dataclass(frozen=True)
class MonthMoney:
    month: str
    currency: str
    gross: int
    refunded: int
    payments: int
    course_gross: int


async def revenue_by_month(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[MonthMoney]:
    """Succeeded payments (packages and courses) per UTC month of success and currency."""
    month = _month(session, Payment.succeeded_at).label("month")
    course_amount = case((Payment.course_id.is_not(None), Payment.amount), else_=0)
    query = select(
        month,
        Payment.currency,
        func.coalesce(func.sum(Payment.amount), 0),
        func.coalesce(func.sum(Payment.amount_refunded), 0),
        func.count(),
        func.coalesce(func.sum(course_amount), 0),
    ).where(Payment.status.in_(_PAID), Payment.succeeded_at.is_not(None))
    query = query.where(*_in_period(Payment.succeeded_at, since, until))
    rows = await session.execute(
        query.group_by(month, Payment.currency).order_by(month, Payment.currency)
    )
    return [MonthMoney(str(m), str(c), int(g), int(r), int(n), int(k)) for m, c, g, r, n, k in rows]


async def expenses_by_month(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> dict[tuple[str, str], int]:
    """Σ expenses per (UTC month, currency)."""
    month = _month(session, Expense.created_at).label("month")
    query = select(month, Expense.currency, func.coalesce(func.sum(Expense.amount), 0))
    query = query.where(*_in_period(Expense.created_at, since, until))
    rows = await session.execute(query.group_by(month, Expense.currency))
    return {(str(m), str(c)): int(a) for m, c, a in rows}


@dataclass(frozen=True)
class CurrencyMoney:
    currency: str
    gross: int
    refunded: int
    payments: int
    tokens_sold: int


async def revenue_by_currency(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[CurrencyMoney]:
    """Succeeded payments summed per currency (minor units)."""
    query = select(
        Payment.currency,
        func.coalesce(func.sum(Payment.amount), 0),
        func.coalesce(func.sum(Payment.amount_refunded), 0),
        func.count(),
        func.coalesce(func.sum(Payment.tokens), 0),
    ).where(
        Payment.status.in_(
            [PaymentStatus.succeeded, PaymentStatus.refunded, PaymentStatus.partially_refunded]
        )
    )
    query = query.where(*_in_period(Payment.succeeded_at, since, until))
    rows = await session.execute(query.group_by(Payment.currency))
    return [CurrencyMoney(str(c), int(g), int(r), int(n), int(t)) for c, g, r, n, t in rows]


# Expenses


async def expenses_by_currency(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    """Σ expenses per currency (minor units)."""
    query = select(Expense.currency, func.coalesce(func.sum(Expense.amount), 0))
    query = query.where(*_in_period(Expense.created_at, since, until))
    rows = await session.execute(query.group_by(Expense.currency))
    return {str(c): int(a) for c, a in rows}


async def list_expenses(
    session: AsyncSession, *, category: str | None, limit: int, offset: int
) -> tuple[list[Expense], int]:
    """Newest-first page of expenses."""
    query = select(Expense)
    if category:
        query = query.where(Expense.category == category)
    return await paginate(
        session,
        query,
        order_by=[Expense.created_at.desc(), Expense.id.desc()],
        limit=limit,
        offset=offset,
    )


# A reserve and a finalize as one statement each (PostgreSQL)
#
# The common case of a reserve (a wallet that exists, nothing overdue, no capped course, within
# the limits) and of a finalize (an open hold, actual within it) done by one statement each:
# data-modifying CTEs that update the wallet, write the hold or resolve it, and append the
# ledger entries together. The wallet row is locked by the statement's own UPDATE (a reserve)
# or first, through the hold (a finalize: wallet, then hold, the order every movement takes),
# and under READ COMMITTED PostgreSQL re-checks the conditions on the row's newest version once
# the lock is granted, so two concurrent reserves can never both spend the same tokens. When a
# condition fails nothing is written and the statement returns no row: the caller then takes
# the general path, which finds out why (402, 429, 404, already resolved) or handles the rare
# case (a missing wallet, overdue holds, a capped course). SQLite has no data-modifying CTEs;
# its writers are serialized by BEGIN IMMEDIATE and keep the general path.


_WALLETS = cast(Table, Wallet.__table__)
_RESERVATIONS = cast(Table, Reservation.__table__)
_LEDGER = cast(Table, LedgerEntry.__table__)


# Constants are written into the statement's text (`literal_column`), values are named
# parameters: the statements are built once and reused (below), and a reused construct's
# anonymous bound values are not carried into SQLAlchemy's cached compilation.
_ZERO = literal_column("0", BigInteger)


def _constant(number: int) -> ColumnElement[Any]:
    return literal_column(str(int(number)), BigInteger)


def _text_constant(value: str) -> ColumnElement[Any]:
    # Only our own enum values and fixed sentences: no quote to escape in them.
    assert "'" not in value
    return literal_column(f"'{value}'", String)


def _tier_params(tier_limits: tuple[tuple[str, int], ...]) -> dict[str, str]:
    return {f"p_tier_{i}": tier for i, (tier, _limit) in enumerate(tier_limits)}


def _param(name: str, column: Any) -> Any:
    """A named parameter typed as `column` (enums, UUIDs and UTC times bind as the ORM's do).

    Prefixed: SQLAlchemy reads execution parameters named like a column as that column's value
    for the statement's INSERTs and UPDATEs.
    """
    return bindparam(f"p_{name}", type_=column.type)


def _used_today(window_start: Any) -> ColumnElement[Any]:
    """The wallet's usage in the daily window starting at `window_start` (0 after a reset)."""
    w = _WALLETS.c
    return case((w.usage_window_start < window_start, _ZERO), else_=w.used_today)


def _daily_limit(tier_limits: tuple[tuple[str, int], ...], default_limit: int) -> Any:
    """The wallet's own limit, else its tier's, else the default tier's (as in the service)."""
    w = _WALLETS.c
    by_tier: ColumnElement[Any] = _constant(default_limit)
    if tier_limits:
        # The tiers' names are parameters (`tier_0`, ...; see `_tier_params`), their limits
        # constants of the statement.
        by_tier = case(
            *(
                (w.tier == _param(f"tier_{i}", w.tier), _constant(limit))
                for i, (_tier, limit) in enumerate(tier_limits)
            ),
            else_=by_tier,
        )
    return func.coalesce(w.daily_limit, by_tier)


def _new_window_start(window_start: Any) -> ColumnElement[Any]:
    w = _WALLETS.c
    return case((w.usage_window_start < window_start, window_start), else_=w.usage_window_start)


# The statements are built once per shape and reused: building and keying a construct this
# size costs more CPU than running it, and a reused one keeps its cache key.
@lru_cache(maxsize=64)
def _hold_statement(
    tier_limits: tuple[tuple[str, int], ...], default_limit: int, with_course: bool
) -> Any:
    w, r, e = _WALLETS, _RESERVATIONS, _LEDGER
    user_id = _param("user_id", w.c.user_id)
    amount = _param("amount", w.c.reserved)
    now = _param("now", r.c.created_at)
    window_start = _param("window_start", w.c.usage_window_start)
    course_id = _param("course_id", r.c.course_id)
    used = _used_today(window_start)
    overdue = (
        select(r.c.id)
        .where(
            r.c.user_id == user_id,
            r.c.status == _text_constant(ReservationStatus.reserved),
            r.c.expires_at <= now,
        )
        .exists()
    )
    conditions = [
        w.c.user_id == user_id,
        w.c.balance - w.c.reserved >= amount,
        used + w.c.reserved + amount <= _daily_limit(tier_limits, default_limit),
        # Nothing held means no open hold (reserved = Σ open holds), so nothing overdue.
        or_(w.c.reserved == _ZERO, ~overdue),
    ]
    if with_course:
        capped = cast(Table, CourseCap.__table__).c
        conditions.append(
            ~select(capped.course_id)
            .where(
                capped.course_id == course_id,
                or_(capped.daily_cap.is_not(None), capped.token_budget.is_not(None)),
            )
            .exists()
        )
    held = (
        update(w)
        .where(*conditions)
        .values(
            reserved=w.c.reserved + amount,
            used_today=used,
            usage_window_start=_new_window_start(window_start),
            updated_at=now,
        )
        .returning(w.c.balance, w.c.reserved)
        .cte("held")
    )
    reservation_id = _param("reservation_id", r.c.id)
    hold = (
        insert(r)
        .from_select(
            [
                *("id", "user_id", "course_id", "amount", "actual", "purpose", "status"),
                *("created_at", "expires_at", "resolved_at"),
            ],
            select(
                reservation_id,
                user_id,
                course_id,
                amount,
                null(),
                _param("purpose", r.c.purpose),
                _text_constant(ReservationStatus.reserved),
                now,
                _param("expires_at", r.c.expires_at),
                null(),
            ).select_from(held),
        )
        .cte("hold")
    )
    entry = (
        insert(e)
        .from_select(
            _ENTRY_COLUMNS,
            _entry_row(
                held,
                entry_id=_param("entry_id", e.c.id),
                entry_type=EntryType.reservation_hold,
                direction=Direction.hold,
                amount=amount,
                balance_delta=_ZERO,
                reserved_delta=amount,
                balance_after=held.c.balance,
                reserved_after=held.c.reserved,
                reservation_id=reservation_id,
                user_id=user_id,
                course_id=course_id,
                reason=_param("reason", e.c.reason),
                now=now,
            ),
        )
        .cte("entry")
    )
    return select(held.c.balance, held.c.reserved).add_cte(hold, entry)


@dataclass(frozen=True)
class HoldPlaced:
    balance: int
    reserved: int


async def place_hold_in_one_statement(
    session: AsyncSession | Database,
    hold: Reservation,
    *,
    reason: str,
    actor_id: uuid.UUID | None,
    window_start: datetime,
    tier_limits: dict[str, int],
    default_limit: int,
) -> HoldPlaced | None:
    """Write `hold` (a new reservation, made at its `created_at`): the wallet's update, the
    hold and its ledger entry.

    None (nothing written) unless the wallet exists, has the hold's amount available, stays
    within its daily limit, holds nothing overdue and the hold's course (if any) has no cap or
    budget.
    """
    tiers = tuple(sorted(tier_limits.items()))
    statement = _hold_statement(tiers, default_limit, hold.course_id is not None)
    params = {
        **_tier_params(tiers),
        "p_user_id": hold.user_id,
        "p_amount": hold.amount,
        "p_now": hold.created_at,
        "p_window_start": window_start,
        "p_course_id": hold.course_id,
        "p_reservation_id": hold.id,
        "p_purpose": hold.purpose,
        "p_expires_at": hold.expires_at,
        "p_entry_id": new_id(),
        "p_reason": reason,
        "p_actor_id": actor_id,
    }
    row = await _first_row(session, statement, params)
    return None if row is None else HoldPlaced(balance=row["balance"], reserved=row["reserved"])


async def _first_row(
    target: AsyncSession | Database, statement: Any, params: dict[str, Any]
) -> Any:
    """The statement's first row by column name: through the unit of work, or (a `Database`)
    alone on the driver in autocommit (`Database.first_row_alone`)."""
    if isinstance(target, Database):
        return await target.first_row_alone(statement, params)
    row = (await target.execute(statement, params)).first()
    return None if row is None else row._mapping


@lru_cache(maxsize=4)
def _settle_statement(with_owner: bool) -> Any:
    w, r, e = _WALLETS, _RESERVATIONS, _LEDGER
    reservation_id = _param("reservation_id", r.c.id)
    actual = _param("actual", w.c.balance)
    now = _param("now", r.c.resolved_at)
    owner = select(r.c.user_id).where(r.c.id == reservation_id).scalar_subquery()
    # The wallet first, locked through the hold (every movement locks the wallet, then its
    # holds); the hold is then updated only if it is still open once that lock is held.
    locked = select(w.c.user_id).where(w.c.user_id == owner).with_for_update().cte("locked")
    hold_conditions = [
        r.c.id == reservation_id,
        r.c.user_id == locked.c.user_id,
        r.c.status == _text_constant(ReservationStatus.reserved),
        r.c.amount >= actual,
    ]
    if with_owner:
        hold_conditions.append(r.c.user_id == _param("owner_id", r.c.user_id))
    settled = (
        update(r)
        .where(*hold_conditions)
        .values(status=_text_constant(ReservationStatus.finalized), actual=actual, resolved_at=now)
        .returning(
            r.c.user_id, r.c.course_id, r.c.amount, r.c.purpose, r.c.created_at, r.c.expires_at
        )
        .cte("settled")
    )
    window_start = _param("window_start", w.c.usage_window_start)
    charged = (
        update(w)
        .where(w.c.user_id == settled.c.user_id)
        .values(
            balance=w.c.balance - actual,
            reserved=w.c.reserved - settled.c.amount,
            used_today=_used_today(window_start) + actual,
            usage_window_start=_new_window_start(window_start),
            updated_at=now,
        )
        .returning(
            w.c.balance,
            w.c.reserved,
            settled.c.user_id,
            settled.c.course_id,
            settled.c.amount,
            settled.c.purpose,
            settled.c.created_at,
            settled.c.expires_at,
        )
        .cte("charged")
    )
    actor_id = _param("actor_id", e.c.actor_id)
    usage = _entry_row(
        charged,
        entry_id=_param("usage_id", e.c.id),
        entry_type=EntryType.usage,
        direction=Direction.debit,
        amount=actual,
        balance_delta=-actual,
        reserved_delta=-actual,
        balance_after=charged.c.balance,
        reserved_after=charged.c.reserved + charged.c.amount - actual,
        reservation_id=reservation_id,
        user_id=charged.c.user_id,
        course_id=charged.c.course_id,
        actor_id=actor_id,
        reason=charged.c.purpose,
        now=now,
    ).where(actual > _ZERO)
    rest = charged.c.amount - actual
    release = _entry_row(
        charged,
        entry_id=_param("release_id", e.c.id),
        entry_type=EntryType.release,
        direction=Direction.hold,
        amount=rest,
        balance_delta=_ZERO,
        reserved_delta=-rest,
        balance_after=charged.c.balance,
        reserved_after=charged.c.reserved,
        reservation_id=reservation_id,
        user_id=charged.c.user_id,
        course_id=charged.c.course_id,
        actor_id=actor_id,
        reason=_text_constant("Unused part of the reservation"),
        now=now,
    ).where(rest > _ZERO)
    # Usage before release, as the general path writes them (ids are time-ordered).
    entries = insert(e).from_select(_ENTRY_COLUMNS, union_all(usage, release)).cte("entries")
    return select(
        charged.c.user_id,
        charged.c.course_id,
        charged.c.amount,
        charged.c.purpose,
        charged.c.created_at,
        charged.c.expires_at,
    ).add_cte(entries)


@dataclass(frozen=True)
class HoldSettled:
    user_id: uuid.UUID
    course_id: uuid.UUID | None
    amount: int
    purpose: str
    created_at: datetime
    expires_at: datetime


async def settle_hold_in_one_statement(
    session: AsyncSession | Database,
    *,
    reservation_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    actual: int,
    actor_id: uuid.UUID | None,
    now: datetime,
    window_start: datetime,
) -> HoldSettled | None:
    """Finalize an open hold: charge `actual`, release the rest, both ledger entries.

    None (nothing written) unless the hold exists (and is `owner_id`'s), is still open and
    holds at least `actual`.
    """
    params: dict[str, Any] = {
        "p_reservation_id": reservation_id,
        "p_actual": actual,
        "p_now": now,
        "p_window_start": window_start,
        "p_actor_id": actor_id,
        "p_usage_id": new_id(),
        "p_release_id": new_id(),
    }
    if owner_id is not None:
        params["p_owner_id"] = owner_id
    row = await _first_row(session, _settle_statement(owner_id is not None), params)
    # The statement returns exactly the settled hold's columns, by name.
    return None if row is None else HoldSettled(**row)


_ENTRY_COLUMNS = [
    "id",
    "user_id",
    "type",
    "direction",
    "amount",
    "balance_delta",
    "reserved_delta",
    "balance_after",
    "reserved_after",
    "reservation_id",
    "course_id",
    "actor_id",
    "reason",
    "reference",
    "dedupe_key",
    "created_at",
]


def _entry_row(
    source: Any,
    *,
    entry_id: Any,
    entry_type: EntryType,
    direction: Direction,
    amount: Any,
    balance_delta: Any,
    reserved_delta: Any,
    balance_after: Any,
    reserved_after: Any,
    reservation_id: Any,
    user_id: Any,
    course_id: Any,
    reason: Any,
    now: Any,
    actor_id: Any = None,
) -> Any:
    """One ledger entry's values selected from a CTE's row, in `_ENTRY_COLUMNS`' order."""
    c = _LEDGER.c
    return select(
        entry_id,
        user_id,
        _text_constant(entry_type),
        _text_constant(direction),
        amount,
        balance_delta,
        reserved_delta,
        balance_after,
        reserved_after,
        reservation_id,
        course_id,
        _param("actor_id", c.actor_id) if actor_id is None else actor_id,
        reason,
        null(),
        null(),
        now,
    ).select_from(source)
