"""Quiz attempts: start, submit (scored and timed by the server), record attempts made elsewhere,
list and show them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository
from studyhall.assessments.errors import (
    AttemptConflict,
    AttemptNotFound,
    AttemptNotStarted,
    MaxAttemptsReached,
    QuizNotFound,
    TimeLimitExceeded,
    TooManyAnswers,
)
from studyhall.assessments.models import (
    AttemptStatus,
    Quiz,
    QuizAttempt,
)
from studyhall.assessments.quizzes import add_quiz
from studyhall.assessments.schemas import (
    AttemptDetail,
    AttemptOut,
    AttemptResult,
    AttemptStartOut,
    AttemptSubmit,
    QuestionStudentOut,
)
from studyhall.assessments.scoring import check_answers, grade, question_fields, reveal
from studyhall.assessments.timing import ATTEMPT_GRACE_S, attempts_left, past_deadline
from studyhall.assessments.viewers import whose_work
from studyhall.core.clock import utcnow
from studyhall.core.locks import serialize
from studyhall.core.pagination import Pagination, page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import service as courses
from studyhall.courses.errors import NotEnrolled
from studyhall.identity.models import User

# Lock scope of the attempts of one student on one quiz (see core/locks.py).
ATTEMPTS_LOCK = "quiz-attempts"


def _attempt_fields(attempt: QuizAttempt, schema: type[BaseModel]) -> dict[str, Any]:
    """The attempt's own fields that `schema` shows (what the answer adds is the caller's)."""
    return AttemptOut.model_validate(attempt).model_dump(include=set(schema.model_fields))


async def start_attempt(
    session: AsyncSession, *, quiz: Quiz, student: User
) -> tuple[AttemptStartOut, bool]:
    """Start (or resume) an attempt; the server's clock starts now. Returns (attempt, created)."""
    # Count and insert under one lock per (quiz, student): max_attempts holds under a burst.
    await serialize(session, ATTEMPTS_LOCK, quiz.id, student.id)
    now = utcnow()
    await repository.expire_stale(
        session,
        quiz_id=quiz.id,
        student_id=student.id,
        before=now - timedelta(seconds=ATTEMPT_GRACE_S),
    )
    attempt = await repository.open_attempt(session, quiz_id=quiz.id, student_id=student.id)
    created = attempt is None
    used = await repository.count_attempts(session, quiz_id=quiz.id, student_id=student.id)
    if attempt is None:
        if quiz.max_attempts is not None and used >= quiz.max_attempts:
            raise MaxAttemptsReached()
        deadline = now + timedelta(seconds=quiz.time_limit_s) if quiz.time_limit_s else None
        attempt = QuizAttempt(
            quiz_id=quiz.id,
            course_id=quiz.course_id,
            student_id=student.id,
            status=AttemptStatus.started,
            source="api",
            started_at=now,
            deadline_at=deadline,
        )
        session.add(attempt)
        try:
            await session.flush()
        except IntegrityError:
            raise AttemptConflict() from None
        used += 1
        await courses.record_activity(session, course_id=quiz.course_id, student_id=student.id)
    questions = await repository.list_questions(session, quiz.id)
    return (
        AttemptStartOut(
            **_attempt_fields(attempt, AttemptStartOut),
            attempts_used=used,
            attempts_remaining=attempts_left(quiz, used),
            questions=[QuestionStudentOut.model_validate(q) for q in questions],
        ),
        created,
    )


async def _finish(
    session: AsyncSession,
    *,
    quiz: Quiz,
    attempt: QuizAttempt,
    answers: list[Any],
    time_spent_s: float | None,
) -> AttemptResult:
    questions = await repository.list_questions(session, quiz.id)
    if len(answers) > len(questions):
        raise TooManyAnswers()
    graded = grade(quiz, questions, answers)
    now = utcnow()
    attempt.status = AttemptStatus.submitted
    attempt.submitted_at = now
    attempt.elapsed_s = round((now - attempt.started_at).total_seconds(), 3)
    attempt.time_spent_s = time_spent_s
    attempt.answers = answers
    attempt.results = graded.results
    attempt.score, attempt.max_score = graded.score, graded.max_score
    attempt.percent, attempt.passed = graded.percent, graded.passed
    try:
        await session.flush()
    except IntegrityError:
        raise AttemptConflict() from None
    await courses.record_activity(session, course_id=quiz.course_id, student_id=attempt.student_id)
    used = await repository.count_attempts(session, quiz_id=quiz.id, student_id=attempt.student_id)
    remaining = attempts_left(quiz, used)
    return AttemptResult(
        **_attempt_fields(attempt, AttemptResult),
        attempts_used=used,
        attempts_remaining=remaining,
        results=reveal(graded.results, questions, everything=graded.passed or remaining == 0),
    )


async def _new_submitted_attempt(
    session: AsyncSession, *, quiz: Quiz, student_id: uuid.UUID, source: str
) -> QuizAttempt:
    await serialize(session, ATTEMPTS_LOCK, quiz.id, student_id)
    used = await repository.count_attempts(session, quiz_id=quiz.id, student_id=student_id)
    if quiz.max_attempts is not None and used >= quiz.max_attempts:
        raise MaxAttemptsReached()
    attempt = QuizAttempt(
        quiz_id=quiz.id,
        course_id=quiz.course_id,
        student_id=student_id,
        # Inserted as submitted: it never holds the one-open-attempt slot.
        status=AttemptStatus.submitted,
        source=source,
        started_at=utcnow(),
    )
    session.add(attempt)
    return attempt


async def submit_attempt(
    session: AsyncSession, *, quiz: Quiz, student: User, data: AttemptSubmit
) -> AttemptResult:
    """Score the student's answers against the server-measured time limit."""
    # Checked before any attempt row exists, so a malformed submission never uses up a try.
    check_answers(await repository.list_questions(session, quiz.id), data.answers)
    attempt = await repository.open_attempt(session, quiz_id=quiz.id, student_id=student.id)
    if data.attempt_id is not None and (attempt is None or attempt.id != data.attempt_id):
        raise AttemptNotFound("No open attempt with this id")
    if attempt is not None and past_deadline(attempt):
        raise TimeLimitExceeded()
    if attempt is None:
        if quiz.time_limit_s is not None:
            raise AttemptNotStarted()
        attempt = await _new_submitted_attempt(
            session, quiz=quiz, student_id=student.id, source="api"
        )
    return await _finish(
        session,
        quiz=quiz,
        attempt=attempt,
        answers=list(data.answers),
        time_spent_s=data.time_spent_s,
    )


async def record_external_attempt(
    session: AsyncSession,
    *,
    quiz_id: uuid.UUID,
    student_id: uuid.UUID,
    answers: list[Any],
    time_spent_s: float | None = None,
    source: str = "tutor",
) -> AttemptResult:
    """Store a quiz attempt taken elsewhere (the tutor's in-chat test) and score it.

    The student must be enrolled in the quiz's course; max_attempts applies; the time limit does
    not (the chat test is paced by the conversation, and its start is measured by the tutor).
    """
    quiz = await repository.get_quiz(session, quiz_id)
    if quiz is None:
        raise QuizNotFound()
    if not await courses.is_enrolled(session, user_id=student_id, course_id=quiz.course_id):
        raise NotEnrolled()
    attempt = await _new_submitted_attempt(
        session, quiz=quiz, student_id=student_id, source=source[:16]
    )
    return await _finish(
        session, quiz=quiz, attempt=attempt, answers=answers, time_spent_s=time_spent_s
    )


async def record_practice_attempt(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    student_id: uuid.UUID,
    title: str,
    questions: list[dict[str, Any]],
    pass_percent: float,
    answers: list[Any],
    time_spent_s: float | None = None,
) -> AttemptResult:
    """Store a practice test the tutor generated for a student, and its one attempt.

    `questions` are stored question rows (prompt, kind, options, normalised answer, explanation,
    points). The test becomes a quiz of the course that only this attempt refers to
    (`practice_for`), so analytics counts the attempt like any other while the course's quiz
    lists, answer keys and quiz routes never show it.
    """
    if not await courses.is_enrolled(session, user_id=student_id, course_id=course_id):
        raise NotEnrolled()
    quiz = Quiz(
        course_id=course_id,
        title=title[:200],
        pass_percent=pass_percent,
        max_attempts=1,
        practice_for=student_id,
    )
    await add_quiz(session, quiz, [question_fields(q) for q in questions])
    attempt = await _new_submitted_attempt(
        session, quiz=quiz, student_id=student_id, source="tutor"
    )
    return await _finish(
        session, quiz=quiz, attempt=attempt, answers=answers, time_spent_s=time_spent_s
    )


def _attempt_out(attempt: QuizAttempt) -> AttemptOut:
    out = AttemptOut.model_validate(attempt)
    if attempt.status == AttemptStatus.started and past_deadline(attempt):
        out.status = (
            AttemptStatus.expired
        )  # not yet closed in the database; it is over all the same
    return out


async def list_attempts(
    session: AsyncSession,
    *,
    quiz: Quiz,
    student_id: uuid.UUID | None,
    limit: int = 20,
    offset: int = 0,
    page: Pagination | None = None,
) -> Page[AttemptOut]:
    """Attempts at a quiz: a student's own, or everyone's for the owner (the window is `page`,
    or `limit` and `offset` where the caller has them apart)."""
    if page is None:
        page = window(limit, offset)
    rows, total = await repository.list_attempts(
        session, quiz_id=quiz.id, student_id=student_id, page=page
    )
    return page_of(rows, total, page, _attempt_out)


async def attempts_for_viewer(
    session: AsyncSession,
    *,
    quiz: Quiz,
    viewer: User,
    student_id: uuid.UUID | None,
    page: Pagination,
) -> Page[AttemptOut]:
    """The quiz's teachers see every attempt (or `student_id`'s), a student only their own."""
    _, whose = await whose_work(
        session, viewer=viewer, course_id=quiz.course_id, student_id=student_id
    )
    return await list_attempts(session, quiz=quiz, student_id=whose, page=page)


async def attempt_detail(
    session: AsyncSession, *, attempt: QuizAttempt, owner_view: bool
) -> AttemptDetail:
    """One attempt with its per-question results (a student sees what the rules reveal)."""
    quiz = await repository.get_quiz(session, attempt.quiz_id)
    if quiz is None:
        raise AttemptNotFound()
    questions = await repository.list_questions(session, quiz.id)
    everything = owner_view
    if not everything:
        used = await repository.count_attempts(
            session, quiz_id=quiz.id, student_id=attempt.student_id
        )
        everything = bool(attempt.passed) or attempts_left(quiz, used) == 0
    return AttemptDetail(
        **_attempt_out(attempt).model_dump(),
        answers=attempt.answers,
        results=reveal(attempt.results or [], questions, everything=everything),
    )


async def attempt_for_viewer(
    session: AsyncSession, *, attempt: QuizAttempt, viewer: User
) -> AttemptDetail:
    """`attempt_detail` with everything shown to the course's teachers."""
    teacher = await courses.teaches_course(session, user=viewer, course_id=attempt.course_id)
    return await attempt_detail(session, attempt=attempt, owner_view=teacher)


async def get_attempt(session: AsyncSession, attempt_id: uuid.UUID) -> QuizAttempt | None:
    """An attempt by id, or None."""
    return await repository.get_attempt(session, attempt_id)
