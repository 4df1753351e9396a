"""Quizzes: create, edit, import and delete them; show them to their teachers and students."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository
from studyhall.assessments.importers import to_questions
from studyhall.assessments.models import (
    QuestionKind,
    Quiz,
)
from studyhall.assessments.schemas import (
    AnswerKey,
    ImportResult,
    QuestionIn,
    QuestionOwnerOut,
    QuestionStudentOut,
    QuizCreate,
    QuizImport,
    QuizOwnerOut,
    QuizStudentOut,
    QuizSummary,
    QuizUpdate,
)
from studyhall.assessments.scoring import answer_texts, question_row, right_positions
from studyhall.assessments.timing import open_unexpired
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable
from studyhall.core.ids import new_id
from studyhall.core.pagination import Pagination, page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import service as courses
from studyhall.identity.models import User


async def question_rows(session: AsyncSession, *, quiz: Quiz) -> list[dict[str, Any]]:
    """A quiz's questions in their JSON form, for a domain that keeps a copy of its own."""
    return [question_row(q) for q in await repository.list_questions(session, quiz.id)]


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


async def add_quiz(session: AsyncSession, quiz: Quiz, questions: list[dict[str, Any]]) -> Quiz:
    """Insert a new quiz with its questions."""
    session.add(quiz)
    await session.flush()
    await _replace_questions(session, quiz, questions)
    await session.flush()
    return quiz


def _new_quiz(course_id: uuid.UUID, data: QuizCreate | QuizImport) -> Quiz:
    """A new quiz of the course with the settings a created and an imported quiz share."""
    return Quiz(
        course_id=course_id,
        lesson_id=data.lesson_id,
        title=data.title,
        pass_percent=data.pass_percent,
        time_limit_s=data.time_limit_s,
        max_attempts=data.max_attempts,
        weight=data.weight,
    )


async def create_quiz(session: AsyncSession, *, course_id: uuid.UUID, data: QuizCreate) -> Quiz:
    """Create a quiz with its questions."""
    if data.lesson_id is not None:
        await _check_lesson(session, course_id, data.lesson_id)
    return await add_quiz(session, _new_quiz(course_id, data), _question_fields(data.questions))


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
    limit: int = 20,
    offset: int = 0,
    page: Pagination | None = None,
) -> Page[QuizSummary]:
    """A course's quizzes, or those of one of its lessons (no questions); the window is
    `page`, or `limit` and `offset` where the caller has them apart."""
    if page is None:
        page = window(limit, offset)
    rows, total = await repository.list_quizzes(
        session, course_id=course_id, lesson_id=lesson_id, page=page
    )
    return page_of(rows, total, page, QuizSummary.model_validate)


async def quiz_for_owner(session: AsyncSession, *, quiz: Quiz) -> QuizOwnerOut:
    """A quiz with its answers and explanations."""
    questions = await repository.list_questions(session, quiz.id)
    return QuizOwnerOut(
        **QuizSummary.model_validate(quiz).model_dump(),
        questions=[QuestionOwnerOut.model_validate(q) for q in questions],
    )


async def quiz_for_student(session: AsyncSession, *, quiz: Quiz, student: User) -> QuizStudentOut:
    """A quiz without answers; a timed quiz shows its questions only during an attempt."""
    hidden = quiz.time_limit_s is not None and (
        await open_unexpired(session, quiz=quiz, student_id=student.id) is None
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
    quiz = _new_quiz(course_id, data)
    # Imported records are single-choice questions.
    await add_quiz(session, quiz, [{**asdict(q), "kind": QuestionKind.single} for q in imported])
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
            positions=right_positions(question),
        )
        for quiz, question in rows
    ]


async def get_quiz(session: AsyncSession, quiz_id: uuid.UUID) -> Quiz | None:
    """One of a course's quizzes by id, or None (a practice test is not one)."""
    quiz = await repository.get_quiz(session, quiz_id)
    return quiz if quiz is not None and quiz.practice_for is None else None
