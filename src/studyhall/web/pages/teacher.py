"""Teacher pages: the courses I own or assist in, each course's students with their progress and its gradebook
(both with a CSV export)."""

from __future__ import annotations

import csv
import io
import uuid

from fastapi import APIRouter
from starlette.responses import Response

from studyhall.assessments import gradebook
from studyhall.assessments.schemas import Gradebook
from studyhall.core.errors import AppError
from studyhall.courses import service as courses
from studyhall.courses.models import Course
from studyhall.courses.schemas import StudentProgressRow
from studyhall.identity.models import Role
from studyhall.web.pages.common import Ctx, csv_download, refused, taught_course
from studyhall.web.render import page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
ROSTER_LIMIT = 100  # the API's page ceiling; a course's CSV walks every page


@router.get("/teach/courses")
async def my_courses(ctx: Ctx) -> Response:
    user = ctx.require(Role.teacher, Role.admin)
    async with ctx.db.session(write=False) as session:
        found = await courses.taught_courses(session, teacher=user, limit=PAGE_SIZE, offset=0)
    return page(ctx, "teacher/courses.html", courses=found.items, total=found.total)


async def _roster(ctx: Ctx, course_id: uuid.UUID) -> tuple[Course, list[StudentProgressRow]]:
    user = ctx.require(Role.teacher, Role.admin)
    async with ctx.db.session(write=False) as session:
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
    return course, rows


@router.get("/teach/courses/{course_id}/students")
async def students(ctx: Ctx, course_id: uuid.UUID) -> Response:
    try:
        course, rows = await _roster(ctx, course_id)
    except AppError as exc:
        return refused(ctx, exc)
    return page(ctx, "teacher/students.html", course=course, students=rows)


@router.get("/teach/courses/{course_id}/students.csv")
async def students_csv(ctx: Ctx, course_id: uuid.UUID) -> Response:
    try:
        course, rows = await _roster(ctx, course_id)
    except AppError as exc:
        return refused(ctx, exc)
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
    for row in rows:
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
    return csv_download(out.getvalue(), f"{course.code}-students.csv")


def _cell(value: str) -> str:
    """A spreadsheet must not run a name as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def _gradebook(ctx: Ctx, course_id: uuid.UUID) -> tuple[Course, Gradebook]:
    user = ctx.require(Role.teacher, Role.admin)
    async with ctx.db.session(write=False) as session:
        # Assistants see the roster and grades as the API lets them (owner, assistants, admin).
        course = await taught_course(session, user, course_id)
        book = await gradebook.course_gradebook(session, viewer=user, course=course)
    return course, book


@router.get("/teach/courses/{course_id}/gradebook")
async def gradebook_page(ctx: Ctx, course_id: uuid.UUID) -> Response:
    try:
        course, book = await _gradebook(ctx, course_id)
    except AppError as exc:
        return refused(ctx, exc)
    return page(ctx, "teacher/gradebook.html", course=course, book=book)


@router.get("/teach/courses/{course_id}/gradebook.csv")
async def gradebook_csv(ctx: Ctx, course_id: uuid.UUID) -> Response:
    """The same file as the API's `Accept: text/csv` answer."""
    try:
        course, book = await _gradebook(ctx, course_id)
    except AppError as exc:
        return refused(ctx, exc)
    return csv_download(gradebook.to_csv(book), f"gradebook-{course.code}.csv")
