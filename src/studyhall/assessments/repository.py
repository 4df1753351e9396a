"""All SQL of the assessments domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments.models import (
    Assignment,
    AttemptStatus,
    Question,
    Quiz,
    QuizAttempt,
    Submission,
)
from studyhall.core.pagination import Pagination, paginate, paginate_rows

# ---------------------------------------------------------------- quizzes


async def get_quiz(session: AsyncSession, quiz_id: uuid.UUID) -> Quiz | None:
    """A quiz by id."""
    return await session.get(Quiz, quiz_id)


async def list_quizzes(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    lesson_id: uuid.UUID | None = None,
    page: Pagination,
) -> tuple[list[Quiz], int]:
    """A course's quizzes (or one lesson's), oldest first; practice tests are the tutor's."""
    course_quizzes = [Quiz.course_id == course_id, Quiz.practice_for.is_(None)]
    if lesson_id is not None:
        course_quizzes.append(Quiz.lesson_id == lesson_id)
    return await paginate(
        session,
        select(Quiz).where(*course_quizzes),
        order_by=[Quiz.created_at, Quiz.id],
        limit=page.limit,
        offset=page.offset,
    )


async def list_questions(session: AsyncSession, quiz_id: uuid.UUID) -> list[Question]:
    """A quiz's questions in order."""
    rows = await session.scalars(
        select(Question).where(Question.quiz_id == quiz_id).order_by(Question.position, Question.id)
    )
    return list(rows)


async def add_questions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert many questions in one executemany."""
    if rows:
        await session.execute(insert(Question), rows)


async def delete_questions(session: AsyncSession, quiz_id: uuid.UUID) -> None:
    """Remove every question of a quiz."""
    await session.execute(delete(Question).where(Question.quiz_id == quiz_id))


async def delete_quiz(session: AsyncSession, quiz_id: uuid.UUID) -> None:
    """Delete a quiz; its questions and attempts go with it (FK cascade)."""
    await session.execute(delete(Quiz).where(Quiz.id == quiz_id))


async def _file_keys(session: AsyncSession, which: ColumnElement[bool]) -> list[str]:
    """The storage keys of the files of the submissions `which` selects (read before the rows
    go, so the files can follow them)."""
    keys = await session.scalars(
        select(Submission.file_key).where(which, Submission.file_key.is_not(None))
    )
    return [k for k in keys if k]


async def delete_course_content(session: AsyncSession, course_id: uuid.UUID) -> list[str]:
    """Delete a course's quizzes and assignments; returns the storage keys of its files."""
    file_keys = await _file_keys(session, Submission.course_id == course_id)
    await session.execute(delete(Quiz).where(Quiz.course_id == course_id))
    await session.execute(delete(Assignment).where(Assignment.course_id == course_id))
    return file_keys


async def detach_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> None:
    """Unlink quizzes from a deleted lesson."""
    await session.execute(update(Quiz).where(Quiz.lesson_id == lesson_id).values(lesson_id=None))


async def delete_user_rows(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Delete a user's attempts, practice tests and submissions; returns the storage keys of
    their files."""
    file_keys = await _file_keys(session, Submission.student_id == user_id)
    await session.execute(delete(QuizAttempt).where(QuizAttempt.student_id == user_id))
    await session.execute(delete(Quiz).where(Quiz.practice_for == user_id))
    await session.execute(delete(Submission).where(Submission.student_id == user_id))
    return file_keys


async def answer_keys(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> list[tuple[Quiz, Question]]:
    """Questions of the course's quizzes that the student has not passed yet."""
    passed = select(QuizAttempt.quiz_id).where(
        QuizAttempt.student_id == student_id, QuizAttempt.passed.is_(True)
    )
    rows = await session.execute(
        select(Quiz, Question)
        .join(Question, Question.quiz_id == Quiz.id)
        .where(Quiz.course_id == course_id, Quiz.practice_for.is_(None), Quiz.id.not_in(passed))
        .order_by(Quiz.created_at, Quiz.id, Question.position)
    )
    return [(r[0], r[1]) for r in rows.all()]


# ---------------------------------------------------------------- attempts


async def get_attempt(session: AsyncSession, attempt_id: uuid.UUID) -> QuizAttempt | None:
    """An attempt by id."""
    return await session.get(QuizAttempt, attempt_id)


async def open_attempt(
    session: AsyncSession, *, quiz_id: uuid.UUID, student_id: uuid.UUID, lock: bool = True
) -> QuizAttempt | None:
    """The student's started, not yet submitted attempt at a quiz (locked for update)."""
    query = select(QuizAttempt).where(
        QuizAttempt.quiz_id == quiz_id,
        QuizAttempt.student_id == student_id,
        QuizAttempt.status == AttemptStatus.started,
    )
    return await session.scalar(query.with_for_update() if lock else query)


async def expire_stale(
    session: AsyncSession, *, quiz_id: uuid.UUID, student_id: uuid.UUID, before: datetime
) -> None:
    """Close started attempts whose deadline passed before `before`."""
    await session.execute(
        update(QuizAttempt)
        .where(
            QuizAttempt.quiz_id == quiz_id,
            QuizAttempt.student_id == student_id,
            QuizAttempt.status == AttemptStatus.started,
            QuizAttempt.deadline_at.is_not(None),
            QuizAttempt.deadline_at < before,
        )
        .values(status=AttemptStatus.expired, score=0.0, percent=0.0, passed=False)
    )


async def count_attempts(
    session: AsyncSession, *, quiz_id: uuid.UUID, student_id: uuid.UUID
) -> int:
    """Every attempt the student has made at a quiz (started, submitted or expired)."""
    n = await session.scalar(
        select(func.count())
        .select_from(QuizAttempt)
        .where(QuizAttempt.quiz_id == quiz_id, QuizAttempt.student_id == student_id)
    )
    return int(n or 0)


async def list_attempts(
    session: AsyncSession,
    *,
    quiz_id: uuid.UUID,
    student_id: uuid.UUID | None,
    page: Pagination,
) -> tuple[list[QuizAttempt], int]:
    """Attempts at a quiz, newest first; one student's when student_id is given."""
    conditions = [QuizAttempt.quiz_id == quiz_id]
    if student_id is not None:
        conditions.append(QuizAttempt.student_id == student_id)
    return await paginate(
        session,
        select(QuizAttempt).where(*conditions),
        order_by=[QuizAttempt.started_at.desc(), QuizAttempt.id.desc()],
        limit=page.limit,
        offset=page.offset,
    )


# ---------------------------------------------------------------- assignments


async def get_assignment(session: AsyncSession, assignment_id: uuid.UUID) -> Assignment | None:
    """An assignment by id."""
    return await session.get(Assignment, assignment_id)


def _counts_query(student_id: uuid.UUID | None) -> Any:
    conditions: list[ColumnElement[bool]] = [Submission.is_current.is_(True)]
    if student_id is not None:
        conditions.append(Submission.student_id == student_id)
    return (
        select(
            Submission.assignment_id,
            func.count().label("submitted"),
            func.coalesce(func.sum(case((Submission.score.is_not(None), 1), else_=0)), 0).label(
                "graded"
            ),
        )
        .where(*conditions)
        .group_by(Submission.assignment_id)
        .subquery("submission_counts")
    )


async def list_assignments(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    student_id: uuid.UUID | None,
    page: Pagination,
) -> tuple[list[tuple[Assignment, int, int]], int]:
    """A course's assignments by due date with (submitted, graded) counts, all or one student's."""
    counts = _counts_query(student_id)
    rows, total = await paginate_rows(
        session,
        select(Assignment, func.coalesce(counts.c.submitted, 0), func.coalesce(counts.c.graded, 0))
        .outerjoin(counts, counts.c.assignment_id == Assignment.id)
        .where(Assignment.course_id == course_id),
        order_by=[
            case((Assignment.due_at.is_(None), 1), else_=0),
            Assignment.due_at,
            Assignment.created_at,
            Assignment.id,
        ],
        limit=page.limit,
        offset=page.offset,
        count_query=select(Assignment.id).where(Assignment.course_id == course_id),
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows], total


async def submission_counts(
    session: AsyncSession, *, assignment_id: uuid.UUID, student_id: uuid.UUID | None
) -> tuple[int, int]:
    """(current submissions, graded among them) of an assignment, all or one student's."""
    conditions = [Submission.assignment_id == assignment_id, Submission.is_current.is_(True)]
    if student_id is not None:
        conditions.append(Submission.student_id == student_id)
    submitted, graded = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Submission.score.is_not(None), 1), else_=0)), 0),
            ).where(*conditions)
        )
    ).one()
    return int(submitted), int(graded)


async def delete_assignment(session: AsyncSession, assignment_id: uuid.UUID) -> list[str]:
    """Delete an assignment and its submissions; returns the storage keys of their files."""
    file_keys = await _file_keys(session, Submission.assignment_id == assignment_id)
    await session.execute(delete(Assignment).where(Assignment.id == assignment_id))
    return file_keys


async def highest_grade(session: AsyncSession, assignment_id: uuid.UUID) -> float | None:
    """The highest score given on an assignment, or None."""
    value = await session.scalar(
        select(func.max(Submission.score)).where(Submission.assignment_id == assignment_id)
    )
    return float(value) if value is not None else None


# ---------------------------------------------------------------- submissions


async def get_submission(session: AsyncSession, submission_id: uuid.UUID) -> Submission | None:
    """A submission by id."""
    return await session.get(Submission, submission_id)


async def latest_version(
    session: AsyncSession, *, assignment_id: uuid.UUID, student_id: uuid.UUID
) -> int:
    """The student's highest submission version (0 when none)."""
    n = await session.scalar(
        select(func.max(Submission.version)).where(
            Submission.assignment_id == assignment_id, Submission.student_id == student_id
        )
    )
    return int(n or 0)


async def retire_current(
    session: AsyncSession, *, assignment_id: uuid.UUID, student_id: uuid.UUID
) -> None:
    """Make the student's current submission history."""
    await session.execute(
        update(Submission)
        .where(
            Submission.assignment_id == assignment_id,
            Submission.student_id == student_id,
            Submission.is_current.is_(True),
        )
        .values(is_current=False)
    )


async def list_submissions(
    session: AsyncSession,
    *,
    assignment_id: uuid.UUID,
    student_id: uuid.UUID | None,
    current_only: bool,
    page: Pagination,
) -> tuple[list[Submission], int]:
    """Submissions of an assignment, newest first."""
    conditions: list[ColumnElement[bool]] = [Submission.assignment_id == assignment_id]
    if student_id is not None:
        conditions.append(Submission.student_id == student_id)
    if current_only:
        conditions.append(Submission.is_current.is_(True))
    return await paginate(
        session,
        select(Submission).where(and_(*conditions)),
        order_by=[Submission.submitted_at.desc(), Submission.version.desc(), Submission.id],
        limit=page.limit,
        offset=page.offset,
    )


# ---------------------------------------------------------------- gradebook


async def course_quizzes(session: AsyncSession, course_id: uuid.UUID) -> list[Quiz]:
    """Every quiz of a course (practice tests excluded), oldest first."""
    rows = await session.scalars(
        select(Quiz)
        .where(Quiz.course_id == course_id, Quiz.practice_for.is_(None))
        .order_by(Quiz.created_at, Quiz.id)
    )
    return list(rows)


async def course_assignments(session: AsyncSession, course_id: uuid.UUID) -> list[Assignment]:
    """Every assignment of a course, oldest first."""
    rows = await session.scalars(
        select(Assignment)
        .where(Assignment.course_id == course_id)
        .order_by(Assignment.created_at, Assignment.id)
    )
    return list(rows)


async def submitted_attempts(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, uuid.UUID, float, datetime]]:
    """(quiz, student, percent, submitted_at) of every scored attempt at a course's quizzes."""
    query = (
        select(
            QuizAttempt.quiz_id,
            QuizAttempt.student_id,
            QuizAttempt.percent,
            QuizAttempt.submitted_at,
        )
        .join(Quiz, Quiz.id == QuizAttempt.quiz_id)
        .where(
            QuizAttempt.course_id == course_id,
            QuizAttempt.status == AttemptStatus.submitted,
            QuizAttempt.percent.is_not(None),
            Quiz.practice_for.is_(None),
        )
    )
    if student_id is not None:
        query = query.where(QuizAttempt.student_id == student_id)
    rows = await session.execute(query)
    return [(q, s, float(p or 0.0), at) for q, s, p, at in rows if at is not None]


async def best_percent_by_lesson(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> dict[uuid.UUID, float]:
    """The student's best scored percent over the quizzes of each lesson of a course."""
    rows = await session.execute(
        select(Quiz.lesson_id, func.max(QuizAttempt.percent))
        .join(Quiz, Quiz.id == QuizAttempt.quiz_id)
        .where(
            QuizAttempt.course_id == course_id,
            QuizAttempt.student_id == student_id,
            QuizAttempt.status == AttemptStatus.submitted,
            QuizAttempt.percent.is_not(None),
            Quiz.lesson_id.is_not(None),
            Quiz.practice_for.is_(None),
        )
        .group_by(Quiz.lesson_id)
    )
    return {
        lesson_id: float(best)
        for lesson_id, best in rows
        if lesson_id is not None and best is not None
    }


async def current_grades(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, uuid.UUID, float]]:
    """(assignment, student, score) of every graded current submission in a course."""
    query = select(Submission.assignment_id, Submission.student_id, Submission.score).where(
        Submission.course_id == course_id,
        Submission.is_current.is_(True),
        Submission.score.is_not(None),
    )
    if student_id is not None:
        query = query.where(Submission.student_id == student_id)
    rows = await session.execute(query)
    return [(a, s, float(score or 0.0)) for a, s, score in rows]
