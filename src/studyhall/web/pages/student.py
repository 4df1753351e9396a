"""Student pages: my courses with progress, the catalogue and enrollment, course outlines (with
their quizzes and assignments) and lessons (markdown, video with resume and progress heartbeats)."""

from __future__ import annotations

import contextlib
import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.assessments import service as assessments
from studyhall.core.errors import AppError
from studyhall.courses import service as courses
from studyhall.courses.dependencies import (
    course_by_id,
    course_for_enrolled_student,
    course_for_student,
    lesson_by_id,
    lesson_for_reader,
)
from studyhall.courses.errors import AlreadyEnrolled
from studyhall.courses.schemas import ProgressUpdate
from studyhall.web.forms import validate
from studyhall.web.pages import video as video_pages
from studyhall.web.pages.answers import REFUSED, Form, form_page, refused, submitted, viewed
from studyhall.web.pages.common import Ctx, Posted, Student, markdown
from studyhall.web.render import page, redirect

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/my/courses")
async def my_courses(ctx: Ctx, user: Student) -> Response:
    async with ctx.db.session(write=False) as session:
        enrolled = await courses.list_enrolled(session, student=user, limit=PAGE_SIZE, offset=0)
    return page(ctx, "student/my_courses.html", courses=enrolled.items, total=enrolled.total)


@router.get("/catalogue")
async def catalogue(ctx: Ctx, user: Student, q: str = "") -> Response:
    search = q.strip()[:100] or None
    async with ctx.db.session(write=False) as session:
        found = await courses.list_courses(
            session, viewer=user, limit=PAGE_SIZE, search=search, is_published=True
        )
        mine = set(await courses.enrolled_course_ids(session, user_id=user.id))
    template = "student/_catalogue_rows.html" if ctx.is_htmx_target("results") else None
    return page(
        ctx,
        template or "student/catalogue.html",
        courses=found.items,
        total=found.total,
        enrolled=mine,
        q=q[:100],
        errors=[],
    )


@router.post("/courses/{course_id}/enroll")
async def enroll(ctx: Ctx, course_id: uuid.UUID, user: Student) -> Response:
    async def join(session: AsyncSession) -> str:
        course = await course_by_id(course_id, user, session)
        await course_for_student(user, course)
        with contextlib.suppress(AlreadyEnrolled):  # a double click lands on the course
            await courses.enroll(session, student=user, course=course)
        return f"/courses/{course_id}"

    return await submitted(ctx, join)


async def _code_refused(ctx: Ctx, *, form: Form) -> Response:
    """A join code refused: the catalogue's page, without the catalogue, saying why."""
    return form_page(ctx, "student/catalogue.html", form, courses=[], total=0, enrolled=set(), q="")


@router.post("/join")
async def join_by_code(ctx: Ctx, user: Student, data: Posted) -> Response:
    """Enroll with the code a teacher hands out."""
    code = data.get("code", "").strip()[:40]

    async def join(session: AsyncSession) -> str:
        course = await courses.visible_course_by_code(session, user=user, code=code)
        await course_for_student(user, course)
        with contextlib.suppress(AlreadyEnrolled):
            await courses.enroll(session, student=user, course=course)
        return f"/courses/{course.id}"

    return await submitted(ctx, join, again=partial(_code_refused, ctx))


@router.get("/courses/{course_id}")
async def course_page(
    ctx: Ctx, course_id: uuid.UUID, user: Student, paid: bool = False
) -> Response:
    """A course's outline; one not joined yet offers to enroll, or to pay for a seat (`paid`:
    back from the provider's payment page, the seat not confirmed yet)."""

    async def load(session: AsyncSession) -> dict[str, Any]:
        course = await course_by_id(course_id, user, session)
        enrolled = await courses.is_enrolled(session, user_id=user.id, course_id=course.id)
        detail = await courses.course_detail(session, course=course, for_manager=False)
        values: dict[str, Any] = {"progress": None, "done": set(), "quizzes": [], "assignments": []}
        if enrolled:
            progress = await courses.course_progress(session, student=user, course=course)
            quizzes = await assessments.list_quizzes(
                session, course_id=course.id, limit=PAGE_SIZE, offset=0
            )
            assignments = await assessments.list_assignments(
                session, course_id=course.id, student_id=user.id, limit=PAGE_SIZE, offset=0
            )
            values = {
                "progress": progress,
                "done": {row.lesson_id for row in progress.lessons if row.completed},
                "quizzes": quizzes.items,
                "assignments": assignments.items,
            }
        return {
            **values,
            "course": detail,
            "enrolled": enrolled,
            "description": markdown(detail.description),
            "paid": paid,
            "checkout_key": uuid.uuid4(),
        }

    return await viewed(ctx, "student/course.html", load)


@router.get("/lessons/{lesson_id}")
async def lesson_page(ctx: Ctx, lesson_id: uuid.UUID, user: Student) -> Response:
    async def load(session: AsyncSession) -> dict[str, Any]:
        lesson = await lesson_by_id(lesson_id, user, session)
        await lesson_for_reader(lesson, user, session)
        course = await courses.get_course(session, lesson.course_id)
        progress = await courses.course_progress(session, student=user, course=course)
        video_id = await video_pages.playable(
            session, ctx.request.app.state.storage, user=user, lesson=lesson
        )
        rows = progress.lessons
        index = next((i for i, row in enumerate(rows) if row.lesson_id == lesson.id), 0)
        return {
            "lesson": lesson,
            "course": course,
            "content": markdown(lesson.content),
            "video_id": video_id,
            "mine": next((row for row in rows if row.lesson_id == lesson.id), None),
            "progress": progress,
            "previous": rows[index - 1] if index > 0 else None,
            "following": rows[index + 1] if index + 1 < len(rows) else None,
        }

    return await viewed(ctx, "student/lesson.html", load)


@router.post("/lessons/{lesson_id}/progress")
async def lesson_progress(ctx: Ctx, lesson_id: uuid.UUID, user: Student, data: Posted) -> Response:
    """The player's heartbeat (position and seconds watched) and the "mark as done" button."""
    fields: dict[str, object] = {}
    if "completed" in data:
        fields["completed"] = data["completed"] == "true"
    for name in ("video_position_s", "video_watched_s"):
        if data.get(name):
            try:
                fields[name] = float(data[name])  # the API's schema takes JSON numbers only
            except ValueError:
                return Response(status_code=422)
    try:
        body = validate(ProgressUpdate, fields)
        async with ctx.db.session() as session:
            lesson = await lesson_by_id(lesson_id, user, session)
            course = await courses.get_course(session, lesson.course_id)
            await course_for_enrolled_student(user, course, session)
            await courses.update_progress(session, student=user, lesson=lesson, data=body)
    except AppError as exc:
        if ctx.is_htmx or "completed" not in data:
            return Response(status_code=exc.status_code)
        return refused(ctx, exc)
    except REFUSED:
        return Response(status_code=422)
    if "completed" in data:
        return redirect(ctx, f"/lessons/{lesson_id}")
    return Response(status_code=204)
