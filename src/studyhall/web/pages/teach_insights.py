"""Teacher pages that read what students did: course analytics drawn as server-side SVG charts
(progress, quiz scores, what they ask the tutor) and the tutor transcripts of the course."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.analytics import service as analytics
from studyhall.tutor import service as tutor
from studyhall.web.pages.answers import viewed
from studyhall.web.pages.common import TEACHERS_ONLY, Ctx, Teacher, taught_course

router = APIRouter(include_in_schema=False, dependencies=[TEACHERS_ONLY])
SHOWN = 100


@router.get("/teach/courses/{course_id}/analytics")
async def course_analytics(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
    async def load(session: AsyncSession) -> dict[str, Any]:
        course = await taught_course(session, user, course_id)
        figures = await analytics.course_analytics(session, course=course, limit=SHOWN, offset=0)
        rows = figures.students.items
        return {
            "course": course,
            "a": figures,
            "tab": "analytics",
            "progress_items": [(r.full_name, round(r.progress_percent)) for r in rows],
            "score_items": [(r.full_name, round(r.average_score)) for r in rows if r.average_score],
            "topic_items": [(_short(q.question), q.count) for q in figures.top_questions],
        }

    return await viewed(ctx, "teacher/analytics.html", load)


def _short(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


@router.get("/teach/courses/{course_id}/transcripts")
async def transcripts(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
    async def load(session: AsyncSession) -> dict[str, Any]:
        course = await tutor.course_for_staff(session, user=user, course_id=course_id)
        found = await tutor.course_transcripts(
            session, course=course, user_id=None, limit=SHOWN, offset=0
        )
        return {"course": course, "chats": found.items, "tab": "transcripts"}

    return await viewed(ctx, "teacher/transcripts.html", load)


@router.get("/teach/courses/{course_id}/transcripts/{chat_id}")
async def transcript(ctx: Ctx, course_id: uuid.UUID, chat_id: uuid.UUID, user: Teacher) -> Response:
    async def load(session: AsyncSession) -> dict[str, Any]:
        course = await tutor.course_for_staff(session, user=user, course_id=course_id)
        chat = await tutor.course_transcript(session, course=course, chat_id=chat_id)
        return {"course": course, "chat": chat, "tab": "transcripts"}

    return await viewed(ctx, "teacher/transcript.html", load)
