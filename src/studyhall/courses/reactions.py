"""Courses' reactions to other domains' events (registered by `studyhall.wiring`)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.courses import repository
from studyhall.courses.models import Enrollment, LessonProgress, VideoWatchEvent


async def delete_user_data(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Remove a deleted user's enrollments, progress and watch events (personal data).

    Courses a deleted teacher owned stay, with their soft link, for an admin to reassign.
    """
    await session.execute(delete(VideoWatchEvent).where(VideoWatchEvent.student_id == user_id))
    await session.execute(delete(LessonProgress).where(LessonProgress.student_id == user_id))
    await session.execute(delete(Enrollment).where(Enrollment.student_id == user_id))
    await repository.delete_assistant_rows(session, user_id)
