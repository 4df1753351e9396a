"""All SQL of the billing domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

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
from studyhall.core.db import dialect_insert
from studyhall.core.pagination import paginate

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
    """Create the wallet unless it exists; True when this call created it.

    Concurrent creators on PostgreSQL wait for the first one to commit, then do nothing.
    """
    stmt = (
        dialect_insert(session, Wallet)
        .values(
            user_id=user_id,
            tier=tier,
            daily_limit=None,
            balance=balance,
            reserved=0,
            used_today=0,
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


def _entry_conditions(
    *,
    user_id: uuid.UUID | None,
    direction: Direction | None,
    entry_type: EntryType | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(LedgerEntry.user_id == user_id)
    if direction is not None:
        conditions.append(LedgerEntry.direction == direction)
    if entry_type is not None:
        conditions.append(LedgerEntry.type == entry_type)
    if since is not None:
        conditions.append(LedgerEntry.created_at >= since)
    if until is not None:
        conditions.append(LedgerEntry.created_at < until)
    return conditions


@dataclass(frozen=True)
class EntryTotals:
    count: int
    credits: int
    debits: int


async def list_entries(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    direction: Direction | None,
    entry_type: EntryType | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[LedgerEntry], EntryTotals]:
    """Newest-first page of ledger entries with the totals of everything that matches."""
    conditions = _entry_conditions(
        user_id=user_id, direction=direction, entry_type=entry_type, since=since, until=until
    )
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
    if since is not None:
        query = query.where(LedgerEntry.created_at >= since)
    if until is not None:
        query = query.where(LedgerEntry.created_at < until)
    rows = await session.execute(query.group_by(LedgerEntry.type))
    return [TypeSum(EntryType(t), int(c), int(a)) for t, c, a in rows]


async def active_spenders(session: AsyncSession, *, since: datetime, until: datetime | None) -> int:
    """Distinct users charged in a period."""
    query = select(func.count(func.distinct(LedgerEntry.user_id))).where(
        LedgerEntry.type == EntryType.usage, LedgerEntry.created_at >= since
    )
    if until is not None:
        query = query.where(LedgerEntry.created_at < until)
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
    course_id: uuid.UUID
    currency: str
    gross: int
    refunded: int
    payments: int


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
    if since is not None:
        query = query.where(Payment.succeeded_at >= since)
    if until is not None:
        query = query.where(Payment.succeeded_at < until)
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
    if since is not None:
        query = query.where(Payment.succeeded_at >= since)
    if until is not None:
        query = query.where(Payment.succeeded_at < until)
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
    if since is not None:
        query = query.where(Expense.created_at >= since)
    if until is not None:
        query = query.where(Expense.created_at < until)
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
    if since is not None:
        query = query.where(Payment.succeeded_at >= since)
    if until is not None:
        query = query.where(Payment.succeeded_at < until)
    rows = await session.execute(query.group_by(Payment.currency))
    return [CurrencyMoney(str(c), int(g), int(r), int(n), int(t)) for c, g, r, n, t in rows]


# Expenses


async def expenses_by_currency(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    """Σ expenses per currency (minor units)."""
    query = select(Expense.currency, func.coalesce(func.sum(Expense.amount), 0))
    if since is not None:
        query = query.where(Expense.created_at >= since)
    if until is not None:
        query = query.where(Expense.created_at < until)
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
