"""Teacher pages: the courses I own or assist in, each course's students with their progress and its gradebook
(both with a CSV export)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.assessments import gradebook
from studyhall.courses import service as courses
from studyhall.courses.schemas import StudentProgressRow
from studyhall.identity.models import User
from studyhall.web.pages.answers import answered, viewed
from studyhall.web.pages.common import TEACHERS_ONLY, Ctx, Teacher, csv_download, taught_course
from studyhall.web.render import page

router = APIRouter(include_in_schema=False, dependencies=[TEACHERS_ONLY])
PAGE_SIZE = 100
ROSTER_LIMIT = 100  # the API's page ceiling; a course's CSV walks every page


@router.get("/teach/courses")
async def my_courses(ctx: Ctx, user: Teacher) -> Response:
    async with ctx.db.session(write=False) as session:
        found = await courses.taught_courses(session, teacher=user, limit=PAGE_SIZE, offset=0)
    return page(ctx, "teacher/courses.html", courses=found.items, total=found.total)


async def _roster(user: User, course_id: uuid.UUID, session: AsyncSession) -> dict[str, Any]:
    # Assistants see the roster and grades as the API lets them (owner, assistants, admin).
    course = await taught_course(session, user, course_id)
    rows: list[StudentProgressRow] = []
    offset = 0
    while True:
        chunk = await courses.course_students(
            session, course=course, limit=ROSTER_LIMIT, offset=offset
        )
        rows.extend(chunk.items)
        offset += ROSTER_LIMIT
        if offset >= chunk.total:
            break
    return {"course": course, "students": rows}


def _students_file(roster: dict[str, Any]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "full_name",
            "email",
            "enrolled_at",
            "last_activity_at",
            "lessons_completed",
            "lessons_total",
            "progress_percent",
        ]
    )
    for row in roster["students"]:
        writer.writerow(
            [
                _cell(row.full_name),
                _cell(row.email),
                row.enrolled_at.isoformat(),
                row.last_activity_at.isoformat() if row.last_activity_at else "",
                row.lessons_completed,
                row.lessons_total,
                row.progress_percent,
            ]
        )
    return csv_download(out.getvalue(), f"{roster['course'].code}-students.csv")


def _cell(value: str) -> str:
    """A spreadsheet must not run a name as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def _gradebook(user: User, course_id: uuid.UUID, session: AsyncSession) -> dict[str, Any]:
    course = await taught_course(session, user, course_id)
    book = await gradebook.course_gradebook(session, viewer=user, course=course)
    return {"course": course, "book": book}


def _gradebook_file(found: dict[str, Any]) -> Response:
    return csv_download(gradebook.to_csv(found["book"]), f"gradebook-{found['course'].code}.csv")


# A course's reports for its teachers (the gradebook's CSV: the same file as the API's
# `Accept: text/csv` answer). Each is a page and, beside it, the same rows as a CSV download:
# (name, loader, page template, CSV file).
Loader = Callable[[User, uuid.UUID, AsyncSession], Awaitable[dict[str, Any]]]
REPORTS: tuple[tuple[str, Loader, str, Callable[[dict[str, Any]], Response]], ...] = (
    ("students", _roster, "teacher/students.html", _students_file),
    ("gradebook", _gradebook, "teacher/gradebook.html", _gradebook_file),
)


def _report_routes(
    name: str, load: Loader, template: str, to_file: Callable[[dict[str, Any]], Response]
) -> None:
    async def report_page(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
        return await viewed(ctx, template, partial(load, user, course_id))

    async def report_file(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
        return await answered(ctx, partial(load, user, course_id), to_file)

    path = f"/teach/courses/{{course_id}}/{name}"
    router.get(path, name=name)(report_page)
    router.get(path + ".csv", name=f"{name}_csv")(report_file)


for _report in REPORTS:
    _report_routes(*_report)
