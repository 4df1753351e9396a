"""Teachers and admins manage who is in a course: one student at a time or a CSV roster.

An email without an account gets an invited student account (identity mails the set-password
link); an existing student is enrolled; other accounts are reported, never changed.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import Settings
from studyhall.core.errors import Unprocessable
from studyhall.courses import repository
from studyhall.courses.audit_log import audit_course
from studyhall.courses.errors import NotEnrolled
from studyhall.courses.models import Course
from studyhall.courses.schemas import RosterAdd, RosterImportOut, RosterRowOut
from studyhall.courses.service import add_enrollment
from studyhall.identity.invitations import find_or_invite
from studyhall.identity.models import Role, User
from studyhall.identity.schemas import Email

MAX_ROWS = 5000
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_EMAIL_HEADERS = ("email", "e-mail", "mail", "courriel", "correo")
_NAME_HEADERS = ("full_name", "full name", "name", "nom", "nombre")


@dataclass(frozen=True)
class RosterLine:
    """A row of a roster file: its line number, the address and the name it gives."""

    line: int
    email: str
    full_name: str | None


async def add_student(
    session: AsyncSession,
    *,
    settings: Settings,
    actor: User,
    course: Course,
    entry: RosterAdd | RosterLine,
) -> RosterRowOut:
    """Enroll the student with the entry's email, inviting them first (with the entry's name)
    when they have no account; a roster file's row reports its line."""
    email, line = entry.email, entry.line if isinstance(entry, RosterLine) else None
    try:
        address = _EMAIL.validate_python(email.strip())
    except ValidationError:
        return RosterRowOut(
            line=line, email=email, status="invalid", user_id=None, detail="Not an email address"
        )
    user, created = await find_or_invite(
        session, settings=settings, actor=actor, email=address, full_name=entry.full_name
    )
    if user.role != Role.student or user.is_service:
        return RosterRowOut(
            line=line,
            email=address,
            status="invalid",
            user_id=None,
            detail="This account is not a student account",
        )
    if await repository.is_enrolled(session, course_id=course.id, student_id=user.id):
        return RosterRowOut(
            line=line, email=address, status="already_enrolled", user_id=user.id, detail=None
        )
    await add_enrollment(session, student=user, course=course)
    await audit_course(
        session,
        actor,
        course,
        "course.student_added",
        {"student_id": str(user.id), "invited": created},
    )
    return RosterRowOut(
        line=line,
        email=address,
        status="created" if created else "enrolled",
        user_id=user.id,
        detail=None,
    )


async def remove_student(
    session: AsyncSession, *, actor: User, course: Course, student_id: uuid.UUID
) -> None:
    """Take a student out of the course (their progress is kept should they come back)."""
    if not await repository.delete_enrollment(session, course_id=course.id, student_id=student_id):
        raise NotEnrolled()
    await audit_course(
        session, actor, course, "course.student_removed", {"student_id": str(student_id)}
    )


def parse_roster(text: str) -> list[RosterLine]:
    """The rows of a roster CSV (line, email, full name); a header row is optional.

    Columns are found by their header (email, full_name/name; a few languages) or, without a
    header, taken as email then full name. Commas or semicolons (a spreadsheet's export in many
    locales) both work.
    """
    lines = text.lstrip("\ufeff").splitlines()
    if len(lines) > MAX_ROWS + 1:
        raise Unprocessable(f"At most {MAX_ROWS} students per file", code="roster_too_large")
    sample = "\n".join(lines[:5])
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    email_col, name_col, start = 0, 1, 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        if any(h in _EMAIL_HEADERS for h in header):
            email_col = next(i for i, h in enumerate(header) if h in _EMAIL_HEADERS)
            name_col = next((i for i, h in enumerate(header) if h in _NAME_HEADERS), -1)
            start = 1
    parsed: list[RosterLine] = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        email = row[email_col].strip() if email_col < len(row) else ""
        name = row[name_col].strip() if 0 <= name_col < len(row) else ""
        parsed.append(RosterLine(number, email, name or None))
    return parsed


async def import_roster(
    session: AsyncSession, *, settings: Settings, actor: User, course: Course, text: str
) -> RosterImportOut:
    """Add every student of a roster file; one report row per line, whatever happened to it."""
    report: list[RosterRowOut] = []
    seen: set[str] = set()
    for row in parse_roster(text):
        key = row.email.strip().lower()
        if key in seen:
            report.append(
                RosterRowOut(
                    line=row.line,
                    email=row.email,
                    status="invalid",
                    user_id=None,
                    detail="Listed twice in this file",
                )
            )
            continue
        seen.add(key)
        report.append(
            await add_student(session, settings=settings, actor=actor, course=course, entry=row)
        )
    counts = {status: sum(r.status == status for r in report) for status in _STATUSES}
    return RosterImportOut(rows=report, **counts)


_STATUSES = ("created", "enrolled", "already_enrolled", "invalid")
