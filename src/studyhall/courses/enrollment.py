"""Enrollment: joining and leaving a course, and the students of a course with their progress."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.pagination import page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import repository
from studyhall.courses.access import teaches
from studyhall.courses.errors import (
    AlreadyEnrolled,
    CourseNotFound,
    EnrollmentClosed,
    JoinCodeRequired,
    NotEnrolled,
    PaymentRequired,
)
from studyhall.courses.models import Course, Visibility
from studyhall.courses.schemas import (
    CourseSummary,
    EnrolledCourse,
    EnrollmentOut,
    StudentProgressRow,
)
from studyhall.identity.models import Role, User


def is_paid(course: Course) -> bool:
    """Whether joining the course goes through a checkout."""
    return course.price is not None and course.price > 0


def check_self_enrollment(course: Course, join_code: str | None, *, paying: bool = False) -> None:
    """Whether a student may join on their own: the course's visibility and price decide.

    `paying`: the student is starting a checkout, so the price is not in the way.
    """
    if course.visibility == Visibility.private:
        raise EnrollmentClosed()
    if course.visibility == Visibility.invite and (
        not join_code
        or course.join_code is None
        or not secrets.compare_digest(join_code.strip().upper(), course.join_code)
    ):
        raise JoinCodeRequired()
    if is_paid(course) and not paying:
        raise PaymentRequired()


async def enroll(
    session: AsyncSession, *, student: User, course: Course, join_code: str | None = None
) -> EnrollmentOut:
    """A student joins a published course on their own; 409 when already enrolled."""
    check_self_enrollment(course, join_code)
    return await add_enrollment(session, student=student, course=course)


async def add_enrollment(session: AsyncSession, *, student: User, course: Course) -> EnrollmentOut:
    """Enroll a student (the visibility rules are the caller's); 409 when already enrolled."""
    inserted = await repository.insert_enrollment(
        session, course_id=course.id, student_id=student.id, now=utcnow()
    )
    if not inserted:
        raise AlreadyEnrolled()
    enrollment = await repository.get_enrollment(
        session, course_id=course.id, student_id=student.id
    )
    assert enrollment is not None
    return EnrollmentOut.model_validate(enrollment)


async def unenroll(session: AsyncSession, *, student: User, course: Course) -> None:
    """Leave a course (progress is kept should the student come back)."""
    if not await repository.delete_enrollment(session, course_id=course.id, student_id=student.id):
        raise NotEnrolled()


def percent_of(done: int, total: int) -> float:
    return round(100.0 * done / total, 1) if total else 0.0


async def list_enrolled(
    session: AsyncSession, *, student: User, limit: int, offset: int
) -> Page[EnrolledCourse]:
    """The student's courses with progress."""
    rows, total = await repository.list_enrolled_courses(
        session, student_id=student.id, limit=limit, offset=offset
    )
    items = [
        EnrolledCourse(
            **CourseSummary.model_validate(r.course).model_dump(exclude={"student_count"}),
            student_count=r.student_count,
            enrolled_at=r.enrolled_at,
            last_activity_at=r.last_activity_at,
            lessons_total=r.lessons_total,
            lessons_completed=r.lessons_completed,
            progress_percent=percent_of(r.lessons_completed, r.lessons_total),
        )
        for r in rows
    ]
    return page_of(items, total, window(limit, offset))


def _student_row(r: Row[Any]) -> StudentProgressRow:
    return StudentProgressRow(
        **r._asdict(), progress_percent=percent_of(r.lessons_completed, r.lessons_total)
    )


async def course_students(
    session: AsyncSession, *, course: Course, limit: int, offset: int
) -> Page[StudentProgressRow]:
    """The students of one course with their progress."""
    rows, total = await repository.list_students(
        session, course_ids_of_teacher=None, course_id=course.id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), _student_row)


async def all_students(session: AsyncSession, *, course: Course) -> list[StudentProgressRow]:
    """Every student of one course with their progress (for whole-course views: gradebook)."""
    rows, _ = await repository.list_students(
        session, course_ids_of_teacher=None, course_id=course.id, limit=None, offset=0
    )
    return [_student_row(r) for r in rows]


async def teacher_students(
    session: AsyncSession,
    *,
    teacher: User,
    course_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Page[StudentProgressRow]:
    """Students across the teacher's courses (admins: across all courses)."""
    if course_id is not None:
        course = await repository.get_course(session, course_id)
        if course is None or not await teaches(session, user=teacher, course=course):
            raise CourseNotFound()
    owner = None if teacher.role == Role.admin else teacher.id
    rows, total = await repository.list_students(
        session, course_ids_of_teacher=owner, course_id=course_id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), _student_row)
