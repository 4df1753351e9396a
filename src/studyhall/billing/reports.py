"""Figures read from the ledger and the payments: transactions, expenses, usage, revenue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.billing import repository
from studyhall.billing.ledger import check_amount
from studyhall.billing.ledger_filter import LedgerFilter
from studyhall.billing.models import Direction, EntryType, Expense, LedgerEntry
from studyhall.billing.schemas import ExpenseIn
from studyhall.core.clock import utcnow


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


# The revenue figures are pydantic models: analytics answers GET /admin/stats with them.


class CurrencyMoney(BaseModel, frozen=True):
    """Money per currency, in the currency's minor unit (cents)."""

    currency: str
    gross: int
    refunded: int
    net: int
    expenses: int
    margin: int
    payments: int


class CurrencyRevenue(CurrencyMoney):
    """A currency's money and the tokens its payments sold."""

    tokens_sold: int


# Seats sold in one paid course, per currency (minor units): the repository's sums as they are.
CourseRevenue = repository.CourseMoney


class MonthRevenue(BaseModel, frozen=True):
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
    where = LedgerFilter(user_id, direction, entry_type, since, until)
    return await transactions(session, where, limit=limit, offset=offset)


async def transactions(
    session: AsyncSession, where: LedgerFilter, *, limit: int, offset: int
) -> TransactionsPage:
    """The ledger entries `where` selects, newest first, with the totals of all of them."""
    entries, totals = await repository.list_entries(session, where, limit=limit, offset=offset)
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
    session: AsyncSession, *, request: ExpenseIn, actor_id: uuid.UUID
) -> Expense:
    """Record a platform cost (minor units of `request.currency`); audited."""
    category, amount = request.category, request.amount
    currency, description = request.currency, request.description
    check_amount(amount)
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
        by_course=await repository.revenue_by_course(session, since=since, until=until),
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
