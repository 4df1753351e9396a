"""Student pages: my courses with progress, the catalogue and enrollment, course outlines (with
their quizzes and assignments) and lessons (markdown, video with resume and progress heartbeats)."""

from __future__ import annotations

import contextlib
import uuid

from fastapi import APIRouter, Request
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
from studyhall.identity.models import Role
from studyhall.web.forms import form_data, problems, validate
from studyhall.web.pages import video as video_pages
from studyhall.web.pages.common import REFUSED, Ctx, markdown, refused
from studyhall.web.render import page, redirect

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/my/courses")
async def my_courses(ctx: Ctx) -> Response:
    user = ctx.require(Role.student)
    async with ctx.db.session(write=False) as session:
        enrolled = await courses.list_enrolled(session, student=user, limit=PAGE_SIZE, offset=0)
    return page(ctx, "student/my_courses.html", courses=enrolled.items, total=enrolled.total)


@router.get("/catalogue")
async def catalogue(ctx: Ctx, q: str = "") -> Response:
    user = ctx.require(Role.student)
    search = q.strip()[:100] or None
    async with ctx.db.session(write=False) as session:
        found = await courses.list_courses(
            session,
            viewer=user,
            teacher_id=None,
            search=search,
            level=None,
            language=None,
            is_published=True,
            limit=PAGE_SIZE,
            offset=0,
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
async def enroll(ctx: Ctx, course_id: uuid.UUID) -> Response:
    user = ctx.require(Role.student)
    try:
        async with ctx.db.session() as session:
            course = await course_by_id(course_id, user, session)
            await course_for_student(user, course)
            await courses.enroll(session, student=user, course=course)
    except AlreadyEnrolled:
        pass  # a double click lands on the course all the same
    except AppError as exc:
        return refused(ctx, exc)
    return redirect(ctx, f"/courses/{course_id}")


@router.post("/join")
async def join_by_code(ctx: Ctx, request: Request) -> Response:
    """Enroll with the code a teacher hands out."""
    user = ctx.require(Role.student)
    code = (await form_data(request)).get("code", "").strip()[:40]
    try:
        async with ctx.db.session() as session:
            course = await courses.visible_course_by_code(session, user=user, code=code)
            await course_for_student(user, course)
            with contextlib.suppress(AlreadyEnrolled):
                await courses.enroll(session, student=user, course=course)
    except AppError as exc:
        return page(
            ctx,
            "student/catalogue.html",
            status_code=exc.status_code,
            courses=[],
            total=0,
            enrolled=set(),
            q="",
            errors=problems(exc, ctx.t),
        )
    return redirect(ctx, f"/courses/{course.id}")


@router.get("/courses/{course_id}")
async def course_page(ctx: Ctx, course_id: uuid.UUID, paid: bool = False) -> Response:
    """A course's outline; one not joined yet offers to enroll, or to pay for a seat (`paid`:
    back from the provider's payment page, the seat not confirmed yet)."""
    user = ctx.require(Role.student)
    try:
        async with ctx.db.session(write=False) as session:
            course = await course_by_id(course_id, user, session)
            enrolled = await courses.is_enrolled(session, user_id=user.id, course_id=course.id)
            detail = await courses.course_detail(session, course=course, for_manager=False)
            progress = (
                await courses.course_progress(session, student=user, course=course)
                if enrolled
                else None
            )
            quizzes = assignments = None
            if enrolled:
                quizzes = await assessments.list_quizzes(
                    session, course_id=course.id, limit=PAGE_SIZE, offset=0
                )
                assignments = await assessments.list_assignments(
                    session, course_id=course.id, student_id=user.id, limit=PAGE_SIZE, offset=0
                )
    except AppError as exc:
        return refused(ctx, exc)
    done = {row.lesson_id for row in progress.lessons if row.completed} if progress else set()
    return page(
        ctx,
        "student/course.html",
        course=detail,
        enrolled=enrolled,
        progress=progress,
        done=done,
        description=markdown(detail.description),
        quizzes=quizzes.items if quizzes else [],
        assignments=assignments.items if assignments else [],
        paid=paid,
        checkout_key=uuid.uuid4(),
    )


@router.get("/lessons/{lesson_id}")
async def lesson_page(ctx: Ctx, lesson_id: uuid.UUID) -> Response:
    user = ctx.require(Role.student)
    try:
        async with ctx.db.session(write=False) as session:
            lesson = await lesson_by_id(lesson_id, user, session)
            await lesson_for_reader(lesson, user, session)
            course = await courses.get_course(session, lesson.course_id)
            progress = await courses.course_progress(session, student=user, course=course)
            video_id = await video_pages.playable(
                session, ctx.request.app.state.storage, user=user, lesson=lesson
            )
    except AppError as exc:
        return refused(ctx, exc)
    rows = progress.lessons
    mine = next((row for row in rows if row.lesson_id == lesson.id), None)
    index = next((i for i, row in enumerate(rows) if row.lesson_id == lesson.id), 0)
    return page(
        ctx,
        "student/lesson.html",
        lesson=lesson,
        course=course,
        content=markdown(lesson.content),
        video_id=video_id,
        mine=mine,
        progress=progress,
        previous=rows[index - 1] if index > 0 else None,
        following=rows[index + 1] if index + 1 < len(rows) else None,
    )


@router.post("/lessons/{lesson_id}/progress")
async def lesson_progress(ctx: Ctx, lesson_id: uuid.UUID, request: Request) -> Response:
    """The player's heartbeat (position and seconds watched) and the "mark as done" button."""
    user = ctx.require(Role.student)
    data = await form_data(request)
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
