"""Who may see, read, teach and change a course, and the course loaders built on those rules."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.courses import repository
from studyhall.courses.errors import CourseNotFound, EnrollmentRequired, NotCourseOwner
from studyhall.courses.models import Course, Visibility
from studyhall.identity.models import Role, User


def can_view(user: User | None, course: Course) -> bool:
    """Catalog visibility: published courses, a teacher's own drafts, everything for admins;
    an anonymous visitor (`None`) sees the published courses that are not private."""
    if user is None:
        return course.is_published and course.visibility != Visibility.private
    return user.role == Role.admin or course.is_published or course.teacher_id == user.id


def manages(user: User, course: Course) -> bool:
    """Whether the user may change the course: its teacher or an admin."""
    return user.role == Role.admin or course.teacher_id == user.id


async def teaches(session: AsyncSession, *, user: User, course: Course) -> bool:
    """Whether the user teaches the course: its owner, one of its assistants, or an admin.

    Assistants grade and see what teachers see (analytics, roster, gradebook, answers); changing
    the course stays with `manages` (owner or admin).
    """
    if manages(user, course):
        return True
    if user.role != Role.teacher:
        return False
    return await repository.is_assistant(session, course_id=course.id, user_id=user.id)


async def sees(session: AsyncSession, *, user: User | None, course: Course) -> bool:
    """Catalog visibility (`can_view`), plus the drafts of the courses the user assists in."""
    if can_view(user, course):
        return True
    return user is not None and await teaches(session, user=user, course=course)


async def teaches_course(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> bool:
    """`teaches` for a course id (False when the course does not exist)."""
    course = await repository.get_course(session, course_id)
    return course is not None and await teaches(session, user=user, course=course)


async def reads(session: AsyncSession, *, user: User, course: Course) -> bool:
    """Whether the user may read the course's content (lessons, quizzes, assignments)."""
    if await teaches(session, user=user, course=course):
        return True
    if user.role != Role.student or not course.is_published:
        return False
    return await repository.is_enrolled(session, course_id=course.id, student_id=user.id)


async def student_course(
    session: AsyncSession, *, student: User, course_id: uuid.UUID
) -> tuple[Course | None, bool]:
    """For a student: the course if they see it (None otherwise) and whether they `reads` it,
    from one statement (a student teaches nothing, so enrollment alone decides)."""
    found = await repository.course_and_enrollment(
        session, course_id=course_id, student_id=student.id
    )
    if found is None or not can_view(student, found[0]):
        return None, False
    course, enrolled = found
    return course, enrolled and course.is_published


async def require_reader(session: AsyncSession, *, user: User, course: Course) -> None:
    """403 for a caller who sees the course but may not read its content.

    The one rule of every course resource (lessons, quizzes, documents, search): a course the
    caller cannot see is 404 (checked before this); a visible one they may not read is 403,
    `enrollment_required` for a student who is not enrolled.
    """
    if not await reads(session, user=user, course=course):
        if user.role == Role.student:
            raise EnrollmentRequired()
        raise NotCourseOwner("Only the course's teacher, its students or an admin may read this")


def require_manager(user: User, course: Course) -> None:
    """403 for a caller who sees the course but may not change it."""
    if not manages(user, course):
        raise NotCourseOwner()


async def visible_course(
    session: AsyncSession, *, user: User | None, course_id: uuid.UUID
) -> Course | None:
    """The course if it exists and the user (`None`: anonymous) may see it in the catalog."""
    course = await repository.get_course(session, course_id)
    if course is None or not await sees(session, user=user, course=course):
        return None
    return course


async def find_course(session: AsyncSession, course_id: uuid.UUID) -> Course | None:
    """A course by id, or None."""
    return await repository.get_course(session, course_id)


async def get_course(session: AsyncSession, course_id: uuid.UUID) -> Course:
    """A course by id; CourseNotFound (404) when it does not exist."""
    course = await repository.get_course(session, course_id)
    if course is None:
        raise CourseNotFound()
    return course


async def find_course_by_code(session: AsyncSession, code: str) -> Course | None:
    """A course by its code (codes are stored upper-case), or None."""
    return await repository.get_course_by_code(session, code.strip().upper())


async def visible_course_by_code(session: AsyncSession, *, user: User, code: str) -> Course:
    """The course with this code if the caller may see it in the catalog (404 otherwise)."""
    course = await find_course_by_code(session, code)
    if course is None or not await sees(session, user=user, course=course):
        raise CourseNotFound()
    return course


async def managed_course_by_code(session: AsyncSession, *, user: User, code: str) -> Course:
    """The course with this code if the caller manages it: 404 unseen, 403 not its teacher."""
    course = await visible_course_by_code(session, user=user, code=code)
    if not manages(user, course):
        raise NotCourseOwner()
    return course
