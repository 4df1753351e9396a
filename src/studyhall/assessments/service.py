"""Business rules of quizzes, attempts, assignments and submissions.

Timing decisions (documented in the OpenAPI descriptions too):
- time is measured by the server: POST /quizzes/{id}/attempts/start records started_at and a
  deadline; the client's time_spent_s is stored but never used for the limit;
- a submission after deadline + ATTEMPT_GRACE_S is rejected with 422 `time_limit_exceeded`; the
  attempt stays used (it counts toward max_attempts) and is closed as `expired`;
- an untimed quiz may be submitted without a start (started and submitted at once); a timed quiz
  needs a start (422 `attempt_not_started`), and its questions are shown only once started.
"""

from __future__ import annotations

import io
import unicodedata
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository, uploads
from studyhall.assessments.errors import (
    AnswersMismatch,
    AttemptConflict,
    AttemptNotFound,
    AttemptNotStarted,
    EmptySubmission,
    MaxAttemptsReached,
    QuizNotFound,
    ScoreAboveMax,
    SubmissionNotFound,
    TimeLimitExceeded,
    TooManyAnswers,
    UnsupportedFileType,
)
from studyhall.assessments.importers import to_questions
from studyhall.assessments.models import (
    Assignment,
    AttemptStatus,
    Question,
    QuestionKind,
    Quiz,
    QuizAttempt,
    Submission,
)
from studyhall.assessments.schemas import (
    AnswerKey,
    AssignmentCreate,
    AssignmentOut,
    AssignmentUpdate,
    AttemptDetail,
    AttemptOut,
    AttemptResult,
    AttemptStartOut,
    AttemptSubmit,
    ExpectedValue,
    GradeIn,
    ImportResult,
    QuestionIn,
    QuestionOwnerOut,
    QuestionResult,
    QuestionStudentOut,
    QuizCreate,
    QuizImport,
    QuizOwnerOut,
    QuizStudentOut,
    QuizSummary,
    QuizUpdate,
    SubmissionOut,
    SubmissionsPage,
)
from studyhall.assessments.uploads import (  # public here too: web pages and tests import them
    MAX_SUBMISSION_FILE_BYTES as MAX_SUBMISSION_FILE_BYTES,
)
from studyhall.assessments.uploads import UploadedFile as UploadedFile
from studyhall.audit.service import record
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable
from studyhall.core.ids import new_id
from studyhall.core.locks import serialize
from studyhall.core.pagination import page_of, window
from studyhall.core.schemas import Page
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.courses.errors import NotEnrolled
from studyhall.courses.models import Course
from studyhall.identity.models import User
from studyhall.jobs.files import delete_files_later

# Network latency between the deadline and the server receiving the answers.
ATTEMPT_GRACE_S = 5
# Lock scope of the attempts of one student on one quiz (see core/locks.py).
ATTEMPTS_LOCK = "quiz-attempts"
# Removes submission files after the rows that point to them are deleted (studyhall.wiring).
DELETE_FILES = "assessments.delete_files"


# ---------------------------------------------------------------- reactions to other domains
# Registered by `studyhall.wiring` with courses and identity.


async def delete_course_content(session: AsyncSession, *, course_id: uuid.UUID) -> None:
    """Quizzes, attempts, assignments and submissions leave with their course, and the
    submitted files once the deletion commits."""
    keys = await repository.delete_course_content(session, course_id)
    await delete_files_later(session, kind=DELETE_FILES, keys=keys)


async def detach_lesson(session: AsyncSession, *, lesson_id: uuid.UUID) -> None:
    """A quiz outlives the lesson it was attached to."""
    await repository.detach_lesson(session, lesson_id)


async def best_lesson_scores(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> dict[uuid.UUID, float]:
    """Progress per lesson shows the student's best score at that lesson's quizzes."""
    return await repository.best_percent_by_lesson(
        session, course_id=course_id, student_id=student_id
    )


async def delete_user_data(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """A deleted account's quiz attempts and submissions go (personal data), and the files
    they submitted once the deletion commits."""
    keys = await repository.delete_user_rows(session, user_id)
    await delete_files_later(session, kind=DELETE_FILES, keys=keys)


# ---------------------------------------------------------------- scoring


def normalize_text(value: str) -> str:
    """Case-, space- and accent-insensitive form of a short answer."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def _given_index(options: list[str], value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(options) else None
    if isinstance(value, str):
        text = value.strip()
        if text in options:
            return options.index(text)
        wanted = normalize_text(text)
        for i, option in enumerate(options):
            if normalize_text(option) == wanted:
                return i
    return None


def question_from_row(row: Mapping[str, Any]) -> Question:
    """A transient question (never saved) from its stored JSON form, so another domain that
    keeps questions of its own (the tutor's in-chat tests) grades them by these rules."""
    return Question(
        id=uuid.UUID(row["id"]) if row.get("id") else new_id(),
        prompt=row["prompt"],
        kind=QuestionKind(row["kind"]),
        options=row.get("options"),
        answer=row["answer"],
        explanation=row.get("explanation"),
        points=float(row.get("points", 1.0)),
    )


def question_row(question: Question) -> dict[str, Any]:
    """A question's JSON form, answer included: what `question_from_row` reads back."""
    return {
        "id": str(question.id),
        "prompt": question.prompt,
        "kind": question.kind.value,
        "options": question.options,
        "answer": question.answer,
        "explanation": question.explanation,
        "points": question.points,
    }


async def question_rows(session: AsyncSession, *, quiz: Quiz) -> list[dict[str, Any]]:
    """A quiz's questions in their JSON form, for a domain that keeps a copy of its own."""
    return [question_row(q) for q in await repository.list_questions(session, quiz.id)]


def is_correct(question: Question, given: Any) -> bool:
    """Whether an answer matches a question's key."""
    if given is None:
        return False
    options = question.options or []
    if question.kind == QuestionKind.single:
        return _given_index(options, given) == question.answer
    if question.kind == QuestionKind.multiple:
        values = given if isinstance(given, list) else [given]
        indexes = [_given_index(options, v) for v in values]
        if any(i is None for i in indexes):
            return False
        return sorted(set(indexes)) == sorted(question.answer)  # type: ignore[type-var]
    if question.kind == QuestionKind.true_false:
        if isinstance(given, str) and given.strip().lower() in ("true", "false"):
            given = given.strip().lower() == "true"
        return isinstance(given, bool) and given is bool(question.answer)
    if isinstance(given, bool) or not isinstance(given, str | int | float):
        return False
    accepted = {normalize_text(a) for a in question.answer}
    return normalize_text(str(given)) in accepted


def _fits(question: Question, given: Any) -> bool:
    """Whether an answer has the form its question takes (right or wrong does not matter here)."""
    if given is None:
        return True  # unanswered: scored as wrong
    options = question.options or []
    if question.kind == QuestionKind.single:
        return _given_index(options, given) is not None
    if question.kind == QuestionKind.multiple:
        values = given if isinstance(given, list) else [given]
        return bool(values) and all(_given_index(options, v) is not None for v in values)
    if question.kind == QuestionKind.true_false:
        return isinstance(given, bool) or (
            isinstance(given, str) and given.strip().lower() in ("true", "false")
        )
    return isinstance(given, str | int | float) and not isinstance(given, bool)


def check_answers(questions: Sequence[Question], answers: Sequence[Any]) -> None:
    """Refuse an answer list that does not match the quiz's questions, one answer per question."""
    if len(answers) != len(questions):
        raise AnswersMismatch(
            f"The quiz has {len(questions)} questions and {len(answers)} answers were sent: "
            "send one answer per question, in order (null for an unanswered one)"
        )
    for number, (question, given) in enumerate(zip(questions, answers, strict=True), start=1):
        if not _fits(question, given):
            raise AnswersMismatch(
                f"Answer {number} does not fit its {question.kind.value} question: "
                + _ANSWER_FORMS[question.kind]
            )


_ANSWER_FORMS = {
    QuestionKind.single: "give one option, by its index or its text",
    QuestionKind.multiple: "give a list of options, by index or text",
    QuestionKind.true_false: "give true or false",
    QuestionKind.short: "give a text or a number",
}


def expected_value(question: Question) -> ExpectedValue:
    """The correct answer in the form a student reads it."""
    options = question.options or []
    if question.kind == QuestionKind.single:
        return options[question.answer]
    if question.kind == QuestionKind.multiple:
        return [options[i] for i in question.answer]
    if question.kind == QuestionKind.true_false:
        return bool(question.answer)
    return str(question.answer[0])


def answer_texts(question: Question) -> list[str]:
    """Every accepted answer as text (for leak checks)."""
    value = expected_value(question)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if question.kind == QuestionKind.short:
        return [str(a) for a in question.answer]
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Graded:
    score: float
    max_score: float
    percent: float
    passed: bool
    results: list[dict[str, Any]]


def grade(quiz: Quiz, questions: Sequence[Question], answers: Sequence[Any]) -> Graded:
    """Score answers given in question order (missing answers count as wrong)."""
    padded = list(answers) + [None] * (len(questions) - len(answers))
    results: list[dict[str, Any]] = []
    score = max_score = 0.0
    for question, given in zip(questions, padded, strict=True):
        correct = is_correct(question, given)
        awarded = question.points if correct else 0.0
        score += awarded
        max_score += question.points
        results.append(
            {
                "question_id": str(question.id),
                "correct": correct,
                "points": question.points,
                "points_awarded": awarded,
            }
        )
    percent = round(100.0 * score / max_score, 2) if max_score else 0.0
    return Graded(score, max_score, percent, percent >= quiz.pass_percent, results)


def _reveal(
    results: list[dict[str, Any]], questions: Sequence[Question], *, everything: bool
) -> list[QuestionResult]:
    """Explain each question: answers shown for correct ones, or all once `everything`."""
    by_id = {str(q.id): q for q in questions}
    out: list[QuestionResult] = []
    for item in results:
        question = by_id.get(item["question_id"])
        show = question is not None and (everything or item["correct"])
        out.append(
            QuestionResult(
                question_id=uuid.UUID(item["question_id"]),
                correct=item["correct"],
                points=item["points"],
                points_awarded=item["points_awarded"],
                expected=expected_value(question) if show and question else None,
                explanation=question.explanation if show and question else None,
            )
        )
    return out


# ---------------------------------------------------------------- quizzes


async def _check_lesson(session: AsyncSession, course_id: uuid.UUID, lesson_id: uuid.UUID) -> None:
    if not await courses.lesson_in_course(session, lesson_id=lesson_id, course_id=course_id):
        raise Unprocessable("lesson_id is not a lesson of this course", code="invalid_lesson")


def _question_fields(questions: list[QuestionIn]) -> list[dict[str, Any]]:
    """Stored question fields (normalised keys) of questions as the API takes them."""
    fields = []
    for question in questions:
        options, answer = question.key()
        fields.append(
            {
                "prompt": question.prompt,
                "kind": question.kind,
                "options": options,
                "answer": answer,
                "explanation": question.explanation,
                "points": question.points,
            }
        )
    return fields


async def _replace_questions(
    session: AsyncSession, quiz: Quiz, questions: list[dict[str, Any]]
) -> None:
    """Store a quiz's questions (fields in order) and the figures derived from them."""
    await repository.add_questions(
        session,
        [
            {"id": new_id(), "quiz_id": quiz.id, "position": position, **fields}
            for position, fields in enumerate(questions)
        ],
    )
    quiz.question_count = len(questions)
    quiz.max_score = sum(float(q["points"]) for q in questions)


async def _add_quiz(session: AsyncSession, quiz: Quiz, questions: list[dict[str, Any]]) -> Quiz:
    """Insert a new quiz with its questions."""
    session.add(quiz)
    await session.flush()
    await _replace_questions(session, quiz, questions)
    await session.flush()
    return quiz


async def create_quiz(session: AsyncSession, *, course_id: uuid.UUID, data: QuizCreate) -> Quiz:
    """Create a quiz with its questions."""
    if data.lesson_id is not None:
        await _check_lesson(session, course_id, data.lesson_id)
    quiz = Quiz(
        course_id=course_id,
        lesson_id=data.lesson_id,
        title=data.title,
        pass_percent=data.pass_percent,
        time_limit_s=data.time_limit_s,
        max_attempts=data.max_attempts,
        weight=data.weight,
    )
    return await _add_quiz(session, quiz, _question_fields(data.questions))


async def update_quiz(session: AsyncSession, *, quiz: Quiz, data: QuizUpdate) -> Quiz:
    """Edit a quiz; `questions` replaces them all (past attempts keep their stored results)."""
    changes = data.model_dump(exclude_unset=True, exclude={"questions"})
    if changes.get("lesson_id") is not None:
        await _check_lesson(session, quiz.course_id, changes["lesson_id"])
    for field in ("title", "pass_percent", "weight"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null")
    for field, value in changes.items():
        setattr(quiz, field, value)
    if data.questions is not None:
        await repository.delete_questions(session, quiz.id)
        await _replace_questions(session, quiz, _question_fields(data.questions))
    quiz.updated_at = utcnow()
    await session.flush()
    return quiz


async def delete_quiz(session: AsyncSession, *, quiz: Quiz) -> None:
    """Delete a quiz with its questions and attempts."""
    await repository.delete_quiz(session, quiz.id)


async def list_quizzes(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    lesson_id: uuid.UUID | None = None,
    limit: int,
    offset: int,
) -> Page[QuizSummary]:
    """A course's quizzes, or those of one of its lessons (no questions)."""
    rows, total = await repository.list_quizzes(
        session, course_id=course_id, lesson_id=lesson_id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), QuizSummary.model_validate)


async def quiz_for_owner(session: AsyncSession, *, quiz: Quiz) -> QuizOwnerOut:
    """A quiz with its answers and explanations."""
    questions = await repository.list_questions(session, quiz.id)
    return QuizOwnerOut(
        **QuizSummary.model_validate(quiz).model_dump(),
        questions=[QuestionOwnerOut.model_validate(q) for q in questions],
    )


async def _open_unexpired(
    session: AsyncSession, *, quiz: Quiz, student_id: uuid.UUID
) -> QuizAttempt | None:
    attempt = await repository.open_attempt(
        session, quiz_id=quiz.id, student_id=student_id, lock=False
    )
    if attempt is None or _past_deadline(attempt):
        return None
    return attempt


def _past_deadline(attempt: QuizAttempt) -> bool:
    if attempt.deadline_at is None:
        return False
    return utcnow() > attempt.deadline_at + timedelta(seconds=ATTEMPT_GRACE_S)


async def quiz_for_student(session: AsyncSession, *, quiz: Quiz, student: User) -> QuizStudentOut:
    """A quiz without answers; a timed quiz shows its questions only during an attempt."""
    hidden = quiz.time_limit_s is not None and (
        await _open_unexpired(session, quiz=quiz, student_id=student.id) is None
    )
    questions = [] if hidden else await repository.list_questions(session, quiz.id)
    return QuizStudentOut(
        **QuizSummary.model_validate(quiz).model_dump(),
        questions_hidden=hidden,
        questions=[QuestionStudentOut.model_validate(q) for q in questions],
    )


async def quiz_for_viewer(
    session: AsyncSession, *, quiz: Quiz, viewer: User
) -> QuizOwnerOut | QuizStudentOut:
    """The quiz as the viewer may see it: with answers for its teachers, else a student's."""
    if await courses.teaches_course(session, user=viewer, course_id=quiz.course_id):
        return await quiz_for_owner(session, quiz=quiz)
    return await quiz_for_student(session, quiz=quiz, student=viewer)


async def import_quiz(
    session: AsyncSession, *, course_id: uuid.UUID, data: QuizImport
) -> ImportResult:
    """Create one quiz from imported multiple-choice records (options in a seeded order)."""
    if data.lesson_id is not None:
        await _check_lesson(session, course_id, data.lesson_id)
    imported, skipped = to_questions(list(data.items), seed=data.seed, shuffle=data.shuffle)
    if not imported:
        raise Unprocessable("No usable question in the import", code="empty_import")
    quiz = Quiz(
        course_id=course_id,
        lesson_id=data.lesson_id,
        title=data.title,
        pass_percent=data.pass_percent,
        time_limit_s=data.time_limit_s,
        max_attempts=data.max_attempts,
        weight=data.weight,
    )
    await _add_quiz(
        session,
        quiz,
        [
            {
                "prompt": q.prompt,
                "kind": QuestionKind.single,
                "options": q.options,
                "answer": q.answer,
                "explanation": q.explanation,
                "points": q.points,
            }
            for q in imported
        ],
    )
    return ImportResult(
        quiz=QuizSummary.model_validate(quiz), imported=len(imported), skipped=skipped
    )


async def answer_keys_for_student(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> list[AnswerKey]:
    """Questions and answers of the course's quizzes the student has not passed yet."""
    rows = await repository.answer_keys(session, course_id=course_id, student_id=student_id)
    return [
        AnswerKey(
            quiz_id=quiz.id,
            quiz_title=quiz.title,
            question_id=question.id,
            prompt=question.prompt,
            kind=question.kind,
            answers=answer_texts(question),
            positions=_right_positions(question),
        )
        for quiz, question in rows
    ]


def _right_positions(question: Question) -> list[int]:
    if question.kind == QuestionKind.single:
        return [int(question.answer)]
    if question.kind == QuestionKind.multiple:
        return [int(i) for i in question.answer]
    return []


# ---------------------------------------------------------------- attempts


def _remaining(quiz: Quiz, used: int) -> int | None:
    return None if quiz.max_attempts is None else max(0, quiz.max_attempts - used)


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
            id=attempt.id,
            quiz_id=quiz.id,
            status=attempt.status,
            started_at=attempt.started_at,
            deadline_at=attempt.deadline_at,
            attempts_used=used,
            attempts_remaining=_remaining(quiz, used),
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
    remaining = _remaining(quiz, used)
    return AttemptResult(
        id=attempt.id,
        quiz_id=quiz.id,
        status=attempt.status,
        score=graded.score,
        max_score=graded.max_score,
        percent=graded.percent,
        passed=graded.passed,
        started_at=attempt.started_at,
        submitted_at=now,
        time_spent_s=time_spent_s,
        elapsed_s=attempt.elapsed_s,
        attempts_used=used,
        attempts_remaining=remaining,
        results=_reveal(graded.results, questions, everything=graded.passed or remaining == 0),
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
    if attempt is not None and _past_deadline(attempt):
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
    await _add_quiz(
        session,
        quiz,
        [
            {
                "prompt": q["prompt"],
                "kind": QuestionKind(q["kind"]),
                "options": q.get("options"),
                "answer": q["answer"],
                "explanation": q.get("explanation"),
                "points": float(q.get("points", 1.0)),
            }
            for q in questions
        ],
    )
    attempt = await _new_submitted_attempt(
        session, quiz=quiz, student_id=student_id, source="tutor"
    )
    return await _finish(
        session, quiz=quiz, attempt=attempt, answers=answers, time_spent_s=time_spent_s
    )


def _attempt_out(attempt: QuizAttempt) -> AttemptOut:
    out = AttemptOut.model_validate(attempt)
    if attempt.status == AttemptStatus.started and _past_deadline(attempt):
        out.status = (
            AttemptStatus.expired
        )  # not yet closed in the database; it is over all the same
    return out


async def list_attempts(
    session: AsyncSession,
    *,
    quiz: Quiz,
    student_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Page[AttemptOut]:
    """Attempts at a quiz: a student's own, or everyone's for the owner."""
    rows, total = await repository.list_attempts(
        session, quiz_id=quiz.id, student_id=student_id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), _attempt_out)


async def attempts_for_viewer(
    session: AsyncSession,
    *,
    quiz: Quiz,
    viewer: User,
    student_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Page[AttemptOut]:
    """The quiz's teachers see every attempt (or `student_id`'s), a student only their own."""
    teacher = await courses.teaches_course(session, user=viewer, course_id=quiz.course_id)
    return await list_attempts(
        session,
        quiz=quiz,
        student_id=student_id if teacher else viewer.id,
        limit=limit,
        offset=offset,
    )


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
        everything = bool(attempt.passed) or _remaining(quiz, used) == 0
    return AttemptDetail(
        **_attempt_out(attempt).model_dump(),
        answers=attempt.answers,
        results=_reveal(attempt.results or [], questions, everything=everything),
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


async def get_quiz(session: AsyncSession, quiz_id: uuid.UUID) -> Quiz | None:
    """One of a course's quizzes by id, or None (a practice test is not one)."""
    quiz = await repository.get_quiz(session, quiz_id)
    return quiz if quiz is not None and quiz.practice_for is None else None


# ---------------------------------------------------------------- assignments


def _assignment_out(assignment: Assignment, submitted: int, graded: int) -> AssignmentOut:
    return AssignmentOut.model_validate(assignment).model_copy(
        update={"submissions_count": submitted, "graded_count": graded}
    )


async def create_assignment(
    session: AsyncSession, *, course_id: uuid.UUID, data: AssignmentCreate
) -> AssignmentOut:
    """Create an assignment."""
    assignment = Assignment(course_id=course_id, **data.model_dump())
    session.add(assignment)
    await session.flush()
    return _assignment_out(assignment, 0, 0)


async def update_assignment(
    session: AsyncSession, *, assignment: Assignment, data: AssignmentUpdate
) -> AssignmentOut:
    """Edit an assignment; lowering max_score below a grade already given is refused."""
    changes = data.model_dump(exclude_unset=True)
    for field in ("title", "max_score", "description", "weight"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null")
    if "max_score" in changes:
        highest = await repository.highest_grade(session, assignment.id)
        if highest is not None and highest > changes["max_score"]:
            raise ScoreAboveMax(f"A submission is already graded {highest:g}, above that max_score")
    for field, value in changes.items():
        setattr(assignment, field, value)
    await session.flush()
    return await assignment_view(session, assignment=assignment, student_id=None)


async def delete_assignment(session: AsyncSession, *, assignment: Assignment) -> None:
    """Delete an assignment with its submissions, and their files once the deletion commits."""
    keys = await repository.delete_assignment(session, assignment.id)
    await delete_files_later(session, kind=DELETE_FILES, keys=keys)


async def assignment_view(
    session: AsyncSession, *, assignment: Assignment, student_id: uuid.UUID | None
) -> AssignmentOut:
    """An assignment with its counts (everyone's, or one student's own)."""
    submitted, graded = await repository.submission_counts(
        session, assignment_id=assignment.id, student_id=student_id
    )
    return _assignment_out(assignment, submitted, graded)


async def assignment_for_viewer(
    session: AsyncSession, *, assignment: Assignment, viewer: User
) -> AssignmentOut:
    """An assignment with everyone's counts for its teachers, a student's own otherwise."""
    teacher = await courses.teaches_course(session, user=viewer, course_id=assignment.course_id)
    return await assignment_view(
        session, assignment=assignment, student_id=None if teacher else viewer.id
    )


async def list_assignments(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    student_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Page[AssignmentOut]:
    """A course's assignments with their counts."""
    rows, total = await repository.list_assignments(
        session, course_id=course_id, student_id=student_id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), lambda row: _assignment_out(*row))


async def assignments_for_viewer(
    session: AsyncSession, *, course: Course, viewer: User, limit: int, offset: int
) -> Page[AssignmentOut]:
    """A course's assignments with everyone's counts for its teachers, a student's own else."""
    teacher = await courses.teaches(session, user=viewer, course=course)
    return await list_assignments(
        session,
        course_id=course.id,
        student_id=None if teacher else viewer.id,
        limit=limit,
        offset=offset,
    )


async def get_assignment(session: AsyncSession, assignment_id: uuid.UUID) -> Assignment | None:
    """An assignment by id, or None."""
    return await repository.get_assignment(session, assignment_id)


# ---------------------------------------------------------------- submissions


# Every media type `detect_file_type` can answer (documented on GET /submissions/{id}/file).
SUBMISSION_FILE_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/markdown",
    "text/plain",
)


def detect_file_type(data: bytes, filename: str) -> tuple[str, str]:
    """(extension, media type) from the content's magic bytes; 415 for anything else."""
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png", "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg", "image/jpeg"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return (
                        "docx",
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    )
        except zipfile.BadZipFile:
            pass
        raise UnsupportedFileType("Only pdf, txt, md, docx, png and jpg files are accepted")
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if filename.lower().endswith((".md", ".markdown")):
                return "md", "text/markdown"
            return "txt", "text/plain"
    raise UnsupportedFileType("Only pdf, txt, md, docx, png and jpg files are accepted")


def _safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>:|?*').strip()
    return cleaned[:200] or "file"


async def submit(
    session: AsyncSession,
    *,
    assignment: Assignment,
    student: User,
    content: str,
    file: UploadedFile | None,
    storage: LocalStorage,
) -> SubmissionOut:
    """Store a new version of the student's work; it becomes current, the old one history."""
    if not content.strip() and file is None:
        raise EmptySubmission()
    key = name = media = None
    size = None
    if file is not None:
        uploads.check_size(file.data)
        if not file.data:
            raise EmptySubmission("The file is empty")
        ext, media = detect_file_type(file.data, file.filename)
        name, size = _safe_name(file.filename), len(file.data)
        key = storage.new_key("submissions", f".{ext}")
    now = utcnow()
    version = await repository.latest_version(
        session, assignment_id=assignment.id, student_id=student.id
    )
    await repository.retire_current(session, assignment_id=assignment.id, student_id=student.id)
    submission = Submission(
        assignment_id=assignment.id,
        course_id=assignment.course_id,
        student_id=student.id,
        version=version + 1,
        is_current=True,
        content=content,
        file_key=key,
        file_name=name,
        file_size=size,
        file_type=media,
        submitted_at=now,
        late=assignment.due_at is not None and now > assignment.due_at,
    )
    session.add(submission)
    try:
        await session.flush()
    except IntegrityError:
        raise AttemptConflict("Another submission was saved at the same time") from None
    if file is not None and key is not None:
        await storage.put(key, file.data)
    await courses.record_activity(session, course_id=assignment.course_id, student_id=student.id)
    return SubmissionOut.model_validate(submission)


async def list_submissions(
    session: AsyncSession,
    *,
    assignment: Assignment,
    student_id: uuid.UUID | None,
    owner_view: bool,
    history: bool,
    limit: int,
    offset: int,
) -> SubmissionsPage:
    """Submissions with the assignment's counts: a student's own history, or the owner's view."""
    rows, total = await repository.list_submissions(
        session,
        assignment_id=assignment.id,
        student_id=student_id,
        current_only=owner_view and not history,
        limit=limit,
        offset=offset,
    )
    view = await assignment_view(
        session, assignment=assignment, student_id=None if owner_view else student_id
    )
    return SubmissionsPage(
        items=[SubmissionOut.model_validate(s) for s in rows],
        total=total,
        limit=limit,
        offset=offset,
        assignment=view,
    )


async def submissions_for_viewer(
    session: AsyncSession,
    *,
    assignment: Assignment,
    viewer: User,
    student_id: uuid.UUID | None,
    history: bool,
    limit: int,
    offset: int,
) -> SubmissionsPage:
    """Teachers see each student's current submission (all versions with `history`, one
    student's with `student_id`); a student sees their own versions."""
    teacher = await courses.teaches_course(session, user=viewer, course_id=assignment.course_id)
    return await list_submissions(
        session,
        assignment=assignment,
        student_id=student_id if teacher else viewer.id,
        owner_view=teacher,
        history=history,
        limit=limit,
        offset=offset,
    )


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    name: str
    media_type: str


async def submission_file(*, submission: Submission, storage: LocalStorage) -> StoredFile:
    """The file attached to a submission (404 when it has none)."""
    if submission.file_key is None:
        raise SubmissionNotFound("This submission has no file")
    return StoredFile(
        data=await storage.get(submission.file_key),
        name=submission.file_name or "file",
        media_type=submission.file_type or "application/octet-stream",
    )


async def grade_submission(
    session: AsyncSession, *, actor: User, submission: Submission, data: GradeIn
) -> SubmissionOut:
    """Grade a submission (0..max_score), audited as `grade.set`."""
    assignment = await repository.get_assignment(session, submission.assignment_id)
    assert assignment is not None
    if data.score > assignment.max_score:
        raise ScoreAboveMax(
            f"The score is above the assignment's max_score ({assignment.max_score:g})"
        )
    previous = submission.score
    submission.score = data.score
    submission.feedback = data.feedback
    submission.graded_at = utcnow()
    submission.graded_by = actor.id
    await record(
        session,
        action="grade.set",
        actor_id=actor.id,
        target_type="submission",
        target_id=submission.id,
        details={
            "assignment_id": str(assignment.id),
            "course_id": str(assignment.course_id),
            "student_id": str(submission.student_id),
            "score": data.score,
            "previous_score": previous,
            "max_score": assignment.max_score,
        },
    )
    await session.flush()
    return SubmissionOut.model_validate(submission)


async def get_submission(session: AsyncSession, submission_id: uuid.UUID) -> Submission | None:
    """A submission by id, or None."""
    return await repository.get_submission(session, submission_id)
