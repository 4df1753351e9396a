"""Course analytics and platform figures, shaped from the aggregates of analytics' repository.

The database computes every figure; Python only shapes the page of rows it returns, so the cost
stays a fixed handful of queries whatever the data size. Tutor figures (questions asked, the most
frequent ones) come from the tutor's own service: real counts of stored chat messages, 0 / empty
where there are none, never estimated.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.analytics import repository
from studyhall.analytics.schemas import CourseAnalytics, StudentAnalyticsRow, TopQuestion
from studyhall.core.clock import utcnow
from studyhall.core.pagination import page_of, window
from studyhall.courses.models import Course
from studyhall.tutor import service as tutor

ACTIVE_WINDOW_DAYS = 7


async def course_analytics(
    session: AsyncSession, *, course: Course, limit: int, offset: int
) -> CourseAnalytics:
    """Headline figures and a page of per-student rows for one course (a fixed number of
    queries, whatever the number of students, lessons, quizzes or messages)."""
    now = utcnow()
    counts = await repository.course_counts(
        session, course_id=course.id, active_since=now - timedelta(days=ACTIVE_WINDOW_DAYS)
    )
    lessons, total = counts.lessons, counts.students
    done = await repository.completion(session, course_id=course.id, lessons=lessons)
    attempts = await repository.enrolled_attempts(session, course_id=course.id)
    chat = await tutor.tutor_stats_for_course(session, course_id=course.id, since=None)
    students = await _student_rows(
        session,
        course_id=course.id,
        lessons=lessons,
        messages_by_user=chat.messages_by_user,
        limit=limit,
        offset=offset,
    )
    return CourseAnalytics(
        course_id=course.id,
        generated_at=now,
        active_window_days=ACTIVE_WINDOW_DAYS,
        total_students=total,
        active_students=counts.active_students,
        lessons=lessons,
        quizzes=counts.quizzes,
        completion_rate=round(done.students_done / total, 4) if total else 0.0,
        average_progress_percent=(
            round(100.0 * done.lessons_completed / (total * lessons), 1)
            if total and lessons
            else 0.0
        ),
        quiz_attempts=attempts.attempts,
        average_quiz_score=(
            round(attempts.average_percent, 2) if attempts.average_percent is not None else None
        ),
        tutor_messages=chat.questions,
        students=page_of(students, total, window(limit, offset)),
        top_questions=[TopQuestion(question=q.topic, count=q.count) for q in chat.top_questions],
    )


async def _student_rows(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    lessons: int,
    messages_by_user: dict[uuid.UUID, int],
    limit: int,
    offset: int,
) -> list[StudentAnalyticsRow]:
    """The page of students first, then their figures: aggregates over 20 students, not all."""
    page = await repository.student_page(session, course_id=course_id, limit=limit, offset=offset)
    ids = [row.student_id for row in page]
    lessons_done: dict[uuid.UUID, int] = {}
    attempts: dict[uuid.UUID, repository.AttemptFigures] = {}
    if ids:
        lessons_done = await repository.lessons_completed_by(
            session, course_id=course_id, student_ids=ids
        )
        attempts = await repository.attempts_by(session, course_id=course_id, student_ids=ids)
    none = repository.AttemptFigures(0, None)
    rows = []
    for student in page:
        n_done = lessons_done.get(student.student_id, 0)
        figures = attempts.get(student.student_id, none)
        average = figures.average_percent
        rows.append(
            StudentAnalyticsRow(
                **asdict(student),
                lessons_completed=n_done,
                progress_percent=round(100.0 * n_done / lessons, 1) if lessons else 0.0,
                quiz_attempts=figures.attempts,
                average_score=round(average, 2) if average is not None else None,
                tutor_messages=messages_by_user.get(student.student_id, 0),
            )
        )
    return rows


async def course_stats(session: AsyncSession) -> repository.PlatformCounts:
    """Platform-wide learning figures for GET /admin/stats (one query)."""
    return await repository.platform_counts(session)
