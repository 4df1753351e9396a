"""Co-teachers: a course has its owner and any number of assistants.

Assistants are teacher accounts the owner (or an admin) adds: they grade and see what the
owner sees (analytics, roster, gradebook, quiz answers); only the owner or an admin changes the
course, manages its assistants or deletes it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.courses import repository
from studyhall.courses.audit_log import audit_course
from studyhall.courses.errors import AlreadyTeaching, AssistantNotFound, NotATeacher
from studyhall.courses.models import Course
from studyhall.courses.schemas import CourseTeacherOut
from studyhall.identity.models import Role, User


def _out(row: repository.TeacherRow) -> CourseTeacherOut:
    return CourseTeacherOut(
        user_id=row.user_id,
        email=row.email,
        full_name=row.full_name,
        role="owner" if row.is_owner else "assistant",
        added_at=row.added_at,
    )


async def list_teachers(session: AsyncSession, *, course: Course) -> list[CourseTeacherOut]:
    """The owner first, then the assistants in the order they were added."""
    return [_out(row) for row in await repository.course_teachers(session, course)]


async def add_assistant(
    session: AsyncSession, *, actor: User, course: Course, email: str
) -> CourseTeacherOut:
    """Make an active teacher account an assistant of the course (409 when already teaching)."""
    user_id = await repository.active_user_by_email(session, email=email, role=Role.teacher)
    if user_id is None:
        raise NotATeacher()
    if user_id == course.teacher_id:
        raise AlreadyTeaching("This teacher owns the course")
    inserted = await repository.insert_assistant(
        session, course_id=course.id, user_id=user_id, added_by=actor.id, now=utcnow()
    )
    if not inserted:
        raise AlreadyTeaching()
    await audit_course(session, actor, course, "course.assistant_added", {"user_id": str(user_id)})
    rows = await repository.course_teachers(session, course)
    return next(_out(row) for row in rows if row.user_id == user_id and not row.is_owner)


async def remove_assistant(
    session: AsyncSession, *, actor: User, course: Course, user_id: uuid.UUID
) -> None:
    """Take an assistant off the course (404 when they are not one)."""
    if not await repository.delete_assistant(session, course_id=course.id, user_id=user_id):
        raise AssistantNotFound()
    await audit_course(
        session, actor, course, "course.assistant_removed", {"user_id": str(user_id)}
    )
