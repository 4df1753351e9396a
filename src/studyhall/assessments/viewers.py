"""Whose work a viewer of a course's quizzes and assignments sees."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.courses import service as courses
from studyhall.identity.models import User


async def whose_work(
    session: AsyncSession,
    *,
    viewer: User,
    course_id: uuid.UUID,
    student_id: uuid.UUID | None = None,
) -> tuple[bool, uuid.UUID | None]:
    """(whether the viewer teaches the course, the student whose work they see).

    The course's teachers (owner, assistants, admins) see every student's work, or the one
    student they ask for (`student_id`); anyone else sees only their own, whatever they ask.
    """
    teacher = await courses.teaches_course(session, user=viewer, course_id=course_id)
    return teacher, student_id if teacher else viewer.id
