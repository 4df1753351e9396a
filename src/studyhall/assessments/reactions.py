"""Assessments' reactions to other domains: a course's, a lesson's or a user's deletion, and the
lesson scores courses show (registered by `studyhall.wiring`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository
from studyhall.jobs.files import delete_files_later

# Removes submission files after the rows that point to them are deleted (studyhall.wiring).
DELETE_FILES = "assessments.delete_files"


async def delete_course_content(session: AsyncSession, *, course_id: uuid.UUID) -> None:
    """Quizzes, attempts, assignments and submissions leave with their course, and the
    submitted files once the deletion commits."""
    keys = await repository.delete_course_content(session, course_id)
    await delete_files_later(session, kind=DELETE_FILES, keys=keys)


async def detach_lesson(session: AsyncSession, *, lesson_id: uuid.UUID) -> None:
    """A quiz outlives the lesson it was attached to."""
    await repository.detach_lesson(session, lesson_id)


async def best_lesson_scores(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> dict[uuid.UUID, float]:
    """Progress per lesson shows the student's best score at that lesson's quizzes."""
    return await repository.best_percent_by_lesson(
        session, course_id=course_id, student_id=student_id
    )


async def delete_user_data(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """A deleted account's quiz attempts and submissions go (personal data), and the files
    they submitted once the deletion commits."""
    keys = await repository.delete_user_rows(session, user_id)
    await delete_files_later(session, kind=DELETE_FILES, keys=keys)
