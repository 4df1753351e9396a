"""Teacher pages that read what students did: course analytics drawn as server-side SVG charts
(progress, quiz scores, what they ask the tutor) and the tutor transcripts of the course."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from studyhall.analytics import service as analytics
from studyhall.core.errors import AppError
from studyhall.identity.models import Role
from studyhall.tutor import service as tutor
from studyhall.web.pages.common import Ctx, refused, taught_course
from studyhall.web.render import page

router = APIRouter(include_in_schema=False)
SHOWN = 100


@router.get("/teach/courses/{course_id}/analytics")
async def course_analytics(ctx: Ctx, course_id: uuid.UUID) -> Response:
    user = ctx.require(Role.teacher, Role.admin)
    try:
        async with ctx.db.session(write=False) as session:
            course = await taught_course(session, user, course_id)
            figures = await analytics.course_analytics(
                session, course=course, limit=SHOWN, offset=0
            )
    except AppError as exc:
        return refused(ctx, exc)
    rows = figures.students.items
    return page(
        ctx,
        "teacher/analytics.html",
        course=course,
        a=figures,
        tab="analytics",
        progress_items=[(r.full_name, round(r.progress_percent)) for r in rows],
        score_items=[(r.full_name, round(r.average_score)) for r in rows if r.average_score],
        topic_items=[(_short(q.question), q.count) for q in figures.top_questions],
    )


def _short(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


@router.get("/teach/courses/{course_id}/transcripts")
async def transcripts(ctx: Ctx, course_id: uuid.UUID) -> Response:
    user = ctx.require(Role.teacher, Role.admin)
    try:
        async with ctx.db.session(write=False) as session:
            course = await tutor.course_for_staff(session, user=user, course_id=course_id)
            found = await tutor.course_transcripts(
                session, course=course, user_id=None, limit=SHOWN, offset=0
            )
    except AppError as exc:
        return refused(ctx, exc)
    return page(
        ctx, "teacher/transcripts.html", course=course, chats=found.items, tab="transcripts"
    )


@router.get("/teach/courses/{course_id}/transcripts/{chat_id}")
async def transcript(ctx: Ctx, course_id: uuid.UUID, chat_id: uuid.UUID) -> Response:
    user = ctx.require(Role.teacher, Role.admin)
    try:
        async with ctx.db.session(write=False) as session:
            course = await tutor.course_for_staff(session, user=user, course_id=course_id)
            chat = await tutor.course_transcript(session, course=course, chat_id=chat_id)
    except AppError as exc:
        return refused(ctx, exc)
    return page(ctx, "teacher/transcript.html", course=course, chat=chat, tab="transcripts")
