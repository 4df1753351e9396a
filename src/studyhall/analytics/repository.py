"""Analytics' read-only SQL: aggregates over courses', assessments' and identity's tables.

DESIGN lets analytics read across domains "through services or read-only queries"; these are the
read-only queries, kept here so the service holds none. Every figure is computed by the database
(COUNT/SUM/AVG with GROUP BY) and each function is one statement, so a page of analytics costs a
fixed number of queries whatever the number of students, lessons or attempts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, Select, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments.models import (
    Assignment,
    AttemptStatus,
    Quiz,
    QuizAttempt,
    Submission,
)
from studyhall.core.models import Base
from studyhall.courses.models import Course, Enrollment, Lesson, LessonProgress
from studyhall.identity.models import User


@dataclass(frozen=True)
class CourseCounts:
    lessons: int
    # Graded quizzes only: practice quizzes generated for a student are not the course's.
    quizzes: int
    students: int
    active_students: int


@dataclass(frozen=True)
class Completion:
    lessons_completed: int  # summed over the enrolled students
    students_done: int  # enrolled students who completed every lesson


@dataclass(frozen=True)
class AttemptFigures:
    attempts: int
    average_percent: float | None


@dataclass(frozen=True)
class StudentRow:
    student_id: uuid.UUID
    full_name: str
    email: str
    enrolled_at: datetime
    last_activity_at: datetime


@dataclass(frozen=True)
class PlatformCounts:
    courses: int
    published_courses: int
    enrollments: int
    lessons: int
    quizzes: int
    quiz_attempts: int
    assignments: int
    submissions: int


def _count(model: type[Base], *conditions: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


def _enrolled(course_id: uuid.UUID) -> Select[uuid.UUID]:
    return select(Enrollment.student_id).where(Enrollment.course_id == course_id)


def _submitted(course_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [QuizAttempt.course_id == course_id, QuizAttempt.status == AttemptStatus.submitted]


async def course_counts(
    session: AsyncSession, *, course_id: uuid.UUID, active_since: datetime
) -> CourseCounts:
    in_course = Enrollment.course_id == course_id
    lessons, quizzes, students, active = (
        await session.execute(
            select(
                _count(Lesson, Lesson.course_id == course_id),
                _count(Quiz, Quiz.course_id == course_id, Quiz.practice_for.is_(None)),
                _count(Enrollment, in_course),
                _count(Enrollment, in_course, Enrollment.last_activity_at >= active_since),
            )
        )
    ).one()
    return CourseCounts(int(lessons), int(quizzes), int(students), int(active))


async def completion(session: AsyncSession, *, course_id: uuid.UUID, lessons: int) -> Completion:
    """Completed lessons per enrolled student, summed and compared with `lessons` in SQL."""
    done = (
        select(LessonProgress.student_id, func.count().label("done"))
        .where(
            LessonProgress.course_id == course_id,
            LessonProgress.completed.is_(True),
            LessonProgress.student_id.in_(_enrolled(course_id)),
        )
        .group_by(LessonProgress.student_id)
        .subquery("done")
    )
    finished = func.sum(case((done.c.done >= lessons, 1), else_=0)) if lessons else literal(0)
    total, students_done = (
        await session.execute(
            select(func.coalesce(func.sum(done.c.done), 0), func.coalesce(finished, 0))
        )
    ).one()
    return Completion(int(total), int(students_done))


async def enrolled_attempts(session: AsyncSession, *, course_id: uuid.UUID) -> AttemptFigures:
    """Submitted attempts in the course by its enrolled students (not by former ones)."""
    attempts, average = (
        await session.execute(
            select(func.count(), func.avg(QuizAttempt.percent)).where(
                *_submitted(course_id), QuizAttempt.student_id.in_(_enrolled(course_id))
            )
        )
    ).one()
    return AttemptFigures(int(attempts), float(average) if average is not None else None)


async def student_page(
    session: AsyncSession, *, course_id: uuid.UUID, limit: int, offset: int
) -> list[StudentRow]:
    """A page of the course's students by name (the id breaks ties, so pages never overlap)."""
    rows = await session.execute(
        select(
            Enrollment.student_id,
            User.full_name,
            User.email,
            Enrollment.enrolled_at,
            Enrollment.last_activity_at,
        )
        .join(User, User.id == Enrollment.student_id)
        .where(Enrollment.course_id == course_id)
        .order_by(User.full_name, User.id)
        .limit(limit)
        .offset(offset)
    )
    return [StudentRow(*row) for row in rows.all()]


async def lessons_completed_by(
    session: AsyncSession, *, course_id: uuid.UUID, student_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(LessonProgress.student_id, func.count())
        .where(
            LessonProgress.course_id == course_id,
            LessonProgress.completed.is_(True),
            LessonProgress.student_id.in_(student_ids),
        )
        .group_by(LessonProgress.student_id)
    )
    return {student_id: int(n) for student_id, n in rows.all()}


async def attempts_by(
    session: AsyncSession, *, course_id: uuid.UUID, student_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AttemptFigures]:
    rows = await session.execute(
        select(QuizAttempt.student_id, func.count(), func.avg(QuizAttempt.percent))
        .where(*_submitted(course_id), QuizAttempt.student_id.in_(student_ids))
        .group_by(QuizAttempt.student_id)
    )
    return {
        student_id: AttemptFigures(int(n), float(avg) if avg is not None else None)
        for student_id, n, avg in rows.all()
    }


async def platform_counts(session: AsyncSession) -> PlatformCounts:
    """Platform-wide learning figures in one statement."""
    row = (
        await session.execute(
            select(
                _count(Course),
                _count(Course, Course.is_published.is_(True)),
                _count(Enrollment),
                _count(Lesson),
                _count(Quiz, Quiz.practice_for.is_(None)),
                _count(QuizAttempt, QuizAttempt.status == AttemptStatus.submitted),
                _count(Assignment),
                _count(Submission, Submission.is_current.is_(True)),
            )
        )
    ).one()
    return PlatformCounts(*(int(v) for v in row))
