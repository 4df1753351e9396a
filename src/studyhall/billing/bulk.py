"""An admin's bulk top-up: many wallets credited in one request, one ledger entry per wallet.

Targets are all students of a course, a list of user ids, a list of emails, or a CSV text
(`email[,amount]` per line, header optional). Every target gets a report row: `credited`,
`duplicate` (already credited by an earlier row of the same request), `not_found` or `invalid`.
The whole request is one unit of work (all rows or none) and, with an Idempotency-Key, a retry
replays the first report (the route's job). Billing does not know courses: the list of a course's
students comes from a provider `studyhall.wiring` registers.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.billing import service
from studyhall.billing.ledger import audit_wallet
from studyhall.billing.schemas import BulkTopupIn
from studyhall.config import BillingSettings
from studyhall.core.errors import NotFound, Unprocessable
from studyhall.identity import service as identity_service
from studyhall.identity.schemas import Email

MAX_ROWS = 5000
MAX_TOKENS_PER_ROW = 10**9
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


class CourseStudents(Protocol):
    """(session, course_id) → the course's student ids, or None when there is no such course."""

    def __call__(
        self, session: AsyncSession, *, course_id: uuid.UUID
    ) -> Awaitable[list[uuid.UUID] | None]: ...


_course_students: list[CourseStudents] = []


def course_students_provider(provider: CourseStudents) -> None:
    """Register who "all students of a course" are (the courses domain; once is enough)."""
    if provider not in _course_students:
        _course_students.clear()
        _course_students.append(provider)


def course_students_providers() -> tuple[CourseStudents, ...]:
    """The registered provider (for the wiring test)."""
    return tuple(_course_students)


@dataclass
class Row:
    """One target of the request and what became of it."""

    row: int
    target: str
    amount: int | None
    user_id: uuid.UUID | None = None
    status: str = "pending"
    detail: str | None = None
    transaction_id: uuid.UUID | None = None
    new_balance: int | None = None


@dataclass(frozen=True)
class Report:
    rows: list[Row]
    credited: int
    failed: int
    tokens: int


def parse_csv(text: str, default: int | None) -> list[Row]:
    """Rows of `email[,amount]` (comma or semicolon; an `email` header line is skipped)."""
    lines = text.lstrip("\ufeff").splitlines()
    if len(lines) > MAX_ROWS + 1:
        raise Unprocessable(f"At most {MAX_ROWS} rows per request", code="too_many_rows")
    sample = "\n".join(lines[:5])
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    rows: list[Row] = []
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    for number, cells in enumerate(reader):
        cells = [c.strip() for c in cells]
        if not any(cells) or (number == 0 and cells[0].lower() in ("email", "e-mail", "mail")):
            continue
        row = Row(row=0, target=cells[0][:320], amount=default)
        if len(cells) > 1 and cells[1]:
            try:
                row.amount = int(cells[1])
            except ValueError:
                row.status, row.detail = "invalid", "The amount is not a whole number"
        rows.append(row)
    return rows


async def resolve(session: AsyncSession, request: BulkTopupIn) -> list[Row]:
    """Every target of the request as a row, with its user id when one is found."""
    amount, course_id = request.amount, request.course_id
    rows: list[Row] = []
    if course_id is not None:
        students = (
            await _course_students[0](session, course_id=course_id) if _course_students else None
        )
        if students is None:
            raise NotFound("Course not found", code="course_not_found")
        rows += [
            Row(row=0, target=f"course:{course_id}", amount=amount, user_id=s) for s in students
        ]
    rows += [Row(row=0, target=str(u), amount=amount, user_id=u) for u in request.user_ids]
    email_rows = [Row(row=0, target=e[:320], amount=amount) for e in request.emails]
    if request.csv:
        email_rows += parse_csv(request.csv, amount)
    rows += email_rows
    if len(rows) > MAX_ROWS:
        raise Unprocessable(f"At most {MAX_ROWS} rows per request", code="too_many_rows")
    for number, row in enumerate(rows, start=1):
        row.row = number
    addresses: dict[int, str] = {}
    for row in email_rows:
        if row.status != "pending":
            continue
        try:
            addresses[id(row)] = _EMAIL.validate_python(row.target).lower()
        except ValidationError:
            row.status, row.detail = "invalid", "Not an email address"
    known = await identity_service.ids_by_email(session, emails=list(addresses.values()))
    for row in email_rows:
        if id(row) in addresses:
            row.user_id = known.get(addresses[id(row)])
    listed = [r.user_id for r in rows if r.user_id is not None]
    existing = await identity_service.existing_user_ids(session, user_ids=listed)
    for row in rows:
        if row.status != "pending":
            continue
        if row.user_id is None or row.user_id not in existing:
            row.status, row.detail, row.user_id = "not_found", "No account", None
        elif row.amount is None:
            row.status, row.detail = "invalid", "No amount: give one for the request or the row"
        elif not 1 <= row.amount <= MAX_TOKENS_PER_ROW:
            row.status = "invalid"
            row.detail = f"The amount must be between 1 and {MAX_TOKENS_PER_ROW}"
    return rows


async def bulk_topup(
    session: AsyncSession,
    *,
    rows: list[Row],
    request: BulkTopupIn,
    actor_id: uuid.UUID,
    settings: BillingSettings,
) -> Report:
    """Credit each resolved row's wallet once (a repeated user is `duplicate`); audited."""
    first: dict[uuid.UUID, Row] = {}
    for row in rows:
        if row.status == "pending" and row.user_id is not None:
            if row.user_id in first:
                row.status, row.detail = (
                    "duplicate",
                    f"Already credited by row {first[row.user_id].row}",
                )
            else:
                first[row.user_id] = row
    # Wallets are locked in id order, so two bulk top-ups never wait on each other in a cycle.
    for user_id in sorted(first):
        row = first[user_id]
        assert row.amount is not None
        entry, wallet = await service.topup(
            session,
            user_id=user_id,
            request=request.topup_of(row.amount),
            actor_id=actor_id,
            settings=settings,
        )
        row.status, row.transaction_id, row.new_balance = "credited", entry.id, wallet.balance
    credited = [r for r in rows if r.status == "credited"]
    report = Report(
        rows=rows,
        credited=len(credited),
        failed=sum(r.status in ("not_found", "invalid") for r in rows),
        tokens=sum(r.amount or 0 for r in credited),
    )
    await audit_wallet(
        session,
        "billing.bulk_topup",
        None,
        actor_id=actor_id,
        details={
            "reason": request.reason,
            "reference": request.reference,
            "rows": len(rows),
            "credited": report.credited,
            "failed": report.failed,
            "tokens": report.tokens,
        },
    )
    return report
