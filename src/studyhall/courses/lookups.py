"""What other domains and the edges ask about courses, lessons and enrollments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.errors import NotFound
from studyhall.courses import repository
from studyhall.courses.access import manages, reads
from studyhall.courses.models import Lesson
from studyhall.identity import service as identity
from studyhall.identity.models import Role, User


async def codes_by_id(
    session: AsyncSession, *, course_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The code of each course id (documents that name courses by code)."""
    labels = await repository.labels_by_id(session, list(set(course_ids)))
    return {course_id: code for course_id, (code, _) in labels.items()}


async def titles_by_id(
    session: AsyncSession, *, course_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The title of each course id (reports that name courses)."""
    labels = await repository.labels_by_id(session, list(set(course_ids)))
    return {course_id: title for course_id, (_, title) in labels.items()}


async def course_codes_by_user(
    session: AsyncSession, *, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each user's course codes (enrolled in or taught), for documents that list "subjects"."""
    return await repository.course_codes_by_user(session, user_ids)


async def can_read_course(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> bool:
    """Enrolled student of a published course, the owner teacher, or an admin."""
    course = await repository.get_course(session, course_id)
    return course is not None and await reads(session, user=user, course=course)


async def can_manage_course(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> bool:
    """The owner teacher or an admin."""
    course = await repository.get_course(session, course_id)
    return course is not None and manages(user, course)


async def is_enrolled(session: AsyncSession, *, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """Whether the user is enrolled in the course."""
    return await repository.is_enrolled(session, course_id=course_id, student_id=user_id)


async def lesson_in_course(
    session: AsyncSession, *, lesson_id: uuid.UUID, course_id: uuid.UUID
) -> bool:
    """Whether the lesson belongs to the course."""
    lesson = await repository.get_lesson(session, lesson_id)
    return lesson is not None and lesson.course_id == course_id


async def find_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> Lesson | None:
    """A lesson by id, or None."""
    return await repository.get_lesson(session, lesson_id)


async def course_lessons(session: AsyncSession, course_id: uuid.UUID) -> list[Lesson]:
    """A course's lessons with their content, in reading order (callers check access)."""
    return await repository.list_lessons(session, course_id)


async def enrollment_figures(
    session: AsyncSession, *, active_since: datetime, enrolled_since: datetime
) -> repository.EnrollmentFigures:
    """Students with course activity since `active_since`, enrollments since `enrolled_since`,
    and lessons completed out of all enrolled students' lessons (platform stats)."""
    return await repository.enrollment_figures(
        session, active_since=active_since, enrolled_since=enrolled_since
    )


async def enrolled_student_ids(
    session: AsyncSession, *, course_id: uuid.UUID
) -> list[uuid.UUID] | None:
    """Ids of a course's enrolled students; None when there is no such course."""
    if await repository.get_course(session, course_id) is None:
        return None
    return await repository.enrolled_student_ids(session, course_id)


async def enrolled_course_ids(session: AsyncSession, *, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the courses the user is enrolled in."""
    return await repository.enrolled_course_ids(session, user_id)


@dataclass(frozen=True)
class PublicProfile:
    """A user as a teacher of their course sees them, with the courses they are enrolled in."""

    user: User
    enrolled_course_ids: list[uuid.UUID]


async def public_profile(
    session: AsyncSession, *, viewer: User, user_id: uuid.UUID
) -> PublicProfile:
    """A user's public profile for an admin, themselves, or a teacher of a course the user is in.

    Anyone else gets the same 404 as for an unknown id, so a stranger cannot tell whether the
    account exists. It lives here, not in identity: who may see whom is a rule of enrollment,
    and identity, the base domain, imports no domain built on it.
    """
    user = await identity.admin_get_user(session, user_id=user_id)
    if viewer.role != Role.admin and viewer.id != user.id:
        allowed = viewer.role == Role.teacher and await teacher_can_see_student(
            session, teacher_id=viewer.id, student_id=user.id
        )
        if not allowed:
            raise NotFound("User not found")
    course_ids = await enrolled_course_ids(session, user_id=user.id)
    return PublicProfile(user=user, enrolled_course_ids=list(course_ids))


async def teacher_can_see_student(
    session: AsyncSession, *, teacher_id: uuid.UUID, student_id: uuid.UUID
) -> bool:
    """Whether the student is enrolled in one of the teacher's courses."""
    return await repository.teacher_has_student(
        session, teacher_id=teacher_id, student_id=student_id
    )


async def record_activity(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> None:
    """Mark the student active in the course now (quiz attempts, submissions, tutor use)."""
    await repository.touch_activity(
        session, course_id=course_id, student_id=student_id, at=utcnow()
    )
