"""Course analytics and platform figures: read-only SQL aggregates over the learning domains.

Every figure is computed by the database (COUNT/SUM/AVG with GROUP BY); Python only shapes the
page of rows it returns, so the cost stays a fixed handful of queries whatever the data size.
Tutor figures (questions asked, the most frequent ones) come from the tutor's own service: real
counts of stored chat messages, 0 / empty where there are none, never estimated.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, ScalarSelect, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.analytics.schemas import (
    CourseAnalytics,
    CourseStatsOut,
    StudentAnalyticsRow,
    TopQuestion,
)
from studyhall.assessments.models import (
    Assignment,
    AttemptStatus,
    Quiz,
    QuizAttempt,
    Submission,
)
from studyhall.core.clock import utcnow
from studyhall.core.models import Base
from studyhall.core.pagination import page_of, window
from studyhall.courses.models import Course, Enrollment, Lesson, LessonProgress
from studyhall.identity.models import User
from studyhall.tutor import service as tutor

ACTIVE_WINDOW_DAYS = 7


def _count(model: type[Base], *conditions: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


async def course_analytics(
    session: AsyncSession, *, course: Course, limit: int, offset: int
) -> CourseAnalytics:
    """Headline figures and a page of per-student rows for one course (a fixed number of
    queries, whatever the number of students, lessons, quizzes or messages)."""
    now = utcnow()
    since = now - timedelta(days=ACTIVE_WINDOW_DAYS)
    in_course = Enrollment.course_id == course.id
    lessons, quizzes, total, active = (
        await session.execute(
            select(
                _count(Lesson, Lesson.course_id == course.id),
                _count(Quiz, Quiz.course_id == course.id, Quiz.practice_for.is_(None)),
                _count(Enrollment, in_course),
                _count(Enrollment, in_course, Enrollment.last_activity_at >= since),
            )
        )
    ).one()
    lessons, quizzes, total = int(lessons), int(quizzes), int(total)
    enrolled = select(Enrollment.student_id).where(in_course)

    # Completed lessons per enrolled student, summed and compared with the lesson count in SQL.
    done = (
        select(LessonProgress.student_id, func.count().label("done"))
        .where(
            LessonProgress.course_id == course.id,
            LessonProgress.completed.is_(True),
            LessonProgress.student_id.in_(enrolled),
        )
        .group_by(LessonProgress.student_id)
        .subquery("done")
    )
    finished = func.sum(case((done.c.done >= lessons, 1), else_=0)) if lessons else literal(0)
    done_total, completed_all = (
        await session.execute(
            select(func.coalesce(func.sum(done.c.done), 0), func.coalesce(finished, 0))
        )
    ).one()

    submitted = [
        QuizAttempt.course_id == course.id,
        QuizAttempt.status == AttemptStatus.submitted,
    ]
    attempts_n, attempts_avg = (
        await session.execute(
            select(func.count(), func.avg(QuizAttempt.percent)).where(
                *submitted, QuizAttempt.student_id.in_(enrolled)
            )
        )
    ).one()

    # The page of students first, then their figures: aggregates over 20 students, not all.
    page = (
        await session.execute(
            select(
                Enrollment.student_id,
                User.full_name,
                User.email,
                Enrollment.enrolled_at,
                Enrollment.last_activity_at,
            )
            .join(User, User.id == Enrollment.student_id)
            .where(in_course)
            .order_by(User.full_name, User.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    ids = [row[0] for row in page]
    lessons_done: dict[object, int] = {}
    attempt_figures: dict[object, tuple[int, float | None]] = {}
    if ids:
        lessons_done = {
            r[0]: int(r[1])
            for r in (
                await session.execute(
                    select(LessonProgress.student_id, func.count())
                    .where(
                        LessonProgress.course_id == course.id,
                        LessonProgress.completed.is_(True),
                        LessonProgress.student_id.in_(ids),
                    )
                    .group_by(LessonProgress.student_id)
                )
            ).all()
        }
        attempt_figures = {
            r[0]: (int(r[1]), float(r[2]) if r[2] is not None else None)
            for r in (
                await session.execute(
                    select(QuizAttempt.student_id, func.count(), func.avg(QuizAttempt.percent))
                    .where(*submitted, QuizAttempt.student_id.in_(ids))
                    .group_by(QuizAttempt.student_id)
                )
            ).all()
        }
    chat = await tutor.tutor_stats_for_course(session, course_id=course.id, since=None)
    items = []
    for student_id, full_name, email, enrolled_at, last_activity_at in page:
        n_done = lessons_done.get(student_id, 0)
        n_attempts, average = attempt_figures.get(student_id, (0, None))
        items.append(
            StudentAnalyticsRow(
                student_id=student_id,
                full_name=full_name,
                email=email,
                enrolled_at=enrolled_at,
                last_activity_at=last_activity_at,
                lessons_completed=n_done,
                progress_percent=round(100.0 * n_done / lessons, 1) if lessons else 0.0,
                quiz_attempts=n_attempts,
                average_score=round(average, 2) if average is not None else None,
                tutor_messages=chat.messages_by_user.get(student_id, 0),
            )
        )
    return CourseAnalytics(
        course_id=course.id,
        generated_at=now,
        active_window_days=ACTIVE_WINDOW_DAYS,
        total_students=total,
        active_students=int(active),
        lessons=lessons,
        quizzes=quizzes,
        completion_rate=round(int(completed_all) / total, 4) if total else 0.0,
        average_progress_percent=(
            round(100.0 * int(done_total) / (total * lessons), 1) if total and lessons else 0.0
        ),
        quiz_attempts=int(attempts_n),
        average_quiz_score=round(float(attempts_avg), 2) if attempts_avg is not None else None,
        tutor_messages=chat.questions,
        students=page_of(items, total, window(limit, offset)),
        top_questions=[TopQuestion(question=q.topic, count=q.count) for q in chat.top_questions],
    )


async def course_stats(session: AsyncSession) -> CourseStatsOut:
    """Platform-wide learning figures for GET /admin/stats (one query)."""
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
    values = [int(v) for v in row]
    return CourseStatsOut(
        courses=values[0],
        published_courses=values[1],
        enrollments=values[2],
        lessons=values[3],
        quizzes=values[4],
        quiz_attempts=values[5],
        assignments=values[6],
        submissions=values[7],
    )
