"""The quiz editor: a quiz's settings and its questions, one form per question (options, the
right ones ticked, true/false, accepted short answers), no JSON to write.

The API edits a quiz's questions as a whole (`questions` replaces them all); a page changes one
question, so it sends the quiz's current questions with that one added, replaced or left out,
through the same service and input schemas. Questions are addressed by their position: a
replacement gives every question a new id, never a new place."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.assessments import service as assessments
from studyhall.assessments.dependencies import quiz_by_id, quiz_for_owner
from studyhall.assessments.models import QuestionKind, Quiz
from studyhall.assessments.schemas import (
    QuestionIn,
    QuestionOwnerOut,
    QuizCreate,
    QuizOwnerOut,
    QuizUpdate,
)
from studyhall.core.errors import NotFound, Unprocessable
from studyhall.courses import service as courses
from studyhall.courses.dependencies import course_for_teacher
from studyhall.courses.errors import NotCourseOwner
from studyhall.courses.models import Course
from studyhall.courses.schemas import LessonSummary
from studyhall.identity.models import User
from studyhall.web.forms import number, validate
from studyhall.web.pages.answers import FRESH, Form, form_page, shown, submitted
from studyhall.web.pages.common import TEACHERS_ONLY, Ctx, Posted, Teacher, owned_course
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False, dependencies=[TEACHERS_ONLY])
SPARE_OPTIONS = 2  # empty option fields under the filled ones
MIN_OPTION_FIELDS = 4
MAX_OPTIONS = 26  # the API's own limit


def _settings(data: dict[str, str]) -> dict[str, Any]:
    """The quiz settings form as the API's fields (a time limit typed in minutes)."""
    fields: dict[str, Any] = {
        "title": data.get("title", "").strip(),
        "lesson_id": data.get("lesson_id") or None,
        "time_limit_s": None,
        "max_attempts": number(data, "max_attempts", int),
    }
    minutes = number(data, "time_limit_min", float)
    if minutes is not None:
        fields["time_limit_s"] = round(minutes * 60)
    for name in ("pass_percent", "weight"):
        value = number(data, name, float)
        if value is not None:
            fields[name] = value
    return fields


def _question(data: dict[str, str]) -> dict[str, Any]:
    """One question form as the API's question: the filled options in order, the ticked ones
    as the answer (by index among the filled ones)."""
    kind = data.get("kind", "")
    fields: dict[str, Any] = {
        "prompt": data.get("prompt", "").replace("\r\n", "\n").strip(),
        "kind": kind,
        "explanation": data.get("explanation", "").replace("\r\n", "\n").strip() or None,
    }
    points = number(data, "points", float)
    if points is not None:
        fields["points"] = points
    if kind in (QuestionKind.single, QuestionKind.multiple):
        filled = [
            (data[f"option_{i}"].strip(), data.get(f"correct_{i}") == "true")
            for i in range(MAX_OPTIONS)
            if data.get(f"option_{i}", "").strip()
        ]
        fields["options"] = [text for text, _ in filled]
        ticked = [i for i, (_, right) in enumerate(filled) if right]
        fields["answer"] = ticked[0] if kind == QuestionKind.single and len(ticked) == 1 else ticked
    elif kind == QuestionKind.true_false:
        fields["answer"] = data.get("true_false", "")
    else:
        fields["answer"] = [
            line.strip() for line in data.get("accepted", "").splitlines() if line.strip()
        ]
    return fields


def _as_input(question: QuestionOwnerOut) -> QuestionIn:
    """A stored question as the API takes it back: its input fields (its answer key is already
    normalised)."""
    return QuestionIn.model_validate(question.model_dump(include=set(QuestionIn.model_fields)))


def _question_values(question: QuestionOwnerOut | None) -> dict[str, Any]:
    """The form's fields for a stored question (or a blank single-choice one)."""
    if question is None:
        return {"kind": "single", "prompt": "", "explanation": "", "points": "1", "options": []}
    answer = question.answer
    right = {answer} if isinstance(answer, int) and not isinstance(answer, bool) else set()
    if isinstance(answer, list) and question.kind == QuestionKind.multiple:
        right = set(answer)
    return {
        "kind": question.kind.value,
        "prompt": question.prompt,
        "explanation": question.explanation or "",
        "points": f"{question.points:g}",
        "options": [(text, i in right) for i, text in enumerate(question.options or [])],
        "true_false": ("true" if answer else "false") if isinstance(answer, bool) else "",
        "accepted": "\n".join(answer) if question.kind == QuestionKind.short else "",
    }


def _posted_values(data: dict[str, str]) -> dict[str, Any]:
    """What the teacher typed, to show again next to what went wrong."""
    options = [
        (data.get(f"option_{i}", ""), data.get(f"correct_{i}") == "true")
        for i in range(MAX_OPTIONS)
        if f"option_{i}" in data
    ]
    return {**data, "options": [o for o in options if o[0].strip()]}


def _option_slots(values: dict[str, Any]) -> list[tuple[str, bool]]:
    options = list(values.get("options") or [])
    count = min(MAX_OPTIONS, max(MIN_OPTION_FIELDS, len(options) + SPARE_OPTIONS))
    return options + [("", False)] * (count - len(options))


def _quiz_values(quiz: QuizOwnerOut | None) -> dict[str, Any]:
    if quiz is None:
        return {"title": "", "pass_percent": "60", "weight": "1"}
    return {
        "title": quiz.title,
        "lesson_id": str(quiz.lesson_id or ""),
        "pass_percent": f"{quiz.pass_percent:g}",
        "time_limit_min": f"{quiz.time_limit_s / 60:g}" if quiz.time_limit_s else "",
        "max_attempts": str(quiz.max_attempts or ""),
        "weight": f"{quiz.weight:g}",
    }


async def _lessons(ctx: WebContext, course: Course) -> list[LessonSummary]:
    async with ctx.db.session(write=False) as session:
        return (await courses.course_detail(session, course=course)).lessons


# ---------------------------------------------------------------- a new quiz


async def _new_quiz_page(
    ctx: WebContext,
    user: User,
    course_id: uuid.UUID,
    *,
    form: Form = FRESH,
) -> Response:
    async with ctx.db.session(write=False) as session:
        course = await owned_course(session, user, course_id)
    settings = form.values or _quiz_values(None)
    question = form.values or _question_values(None)
    return form_page(
        ctx,
        "teacher/quiz_new.html",
        form,
        course=course,
        lessons=await _lessons(ctx, course),
        quiz_values=settings,
        values=question,
        slots=_option_slots(question),
        tab="quizzes",
    )


@router.get("/teach/courses/{course_id}/quizzes/new")
async def new_quiz(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
    return await shown(ctx, _new_quiz_page(ctx, user, course_id))


@router.post("/teach/courses/{course_id}/quizzes/new")
async def create_quiz(ctx: Ctx, course_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    """A quiz with its first question (the API wants at least one)."""

    async def create(session: AsyncSession) -> str:
        course = await owned_course(session, user, course_id)
        body = validate(QuizCreate, {**_settings(data), "questions": [_question(data)]})
        quiz = await assessments.create_quiz(session, course_id=course.id, data=body)
        return f"/teach/quizzes/{quiz.id}/edit"

    return await submitted(
        ctx,
        create,
        again=partial(_new_quiz_page, ctx, user, course_id),
        values=_posted_values(data),
    )


# ---------------------------------------------------------------- one quiz


async def _load(ctx: WebContext, user: User, quiz_id: uuid.UUID) -> tuple[Course, QuizOwnerOut]:
    """The quiz with its answers, for the course's teachers (owner, assistants, admin)."""
    async with ctx.db.session(write=False) as session:
        quiz = await quiz_by_id(quiz_id, user, session)
        course = await course_for_teacher(
            await courses.get_course(session, quiz.course_id), user, session
        )
        return course, await assessments.quiz_for_owner(session, quiz=quiz)


async def _quiz_page(
    ctx: WebContext,
    user: User,
    quiz_id: uuid.UUID,
    *,
    form: Form = FRESH,
) -> Response:
    course, quiz = await _load(ctx, user, quiz_id)
    return form_page(
        ctx,
        "teacher/quiz_edit.html",
        form,
        course=course,
        quiz=quiz,
        questions=[(q, _question_values(q)) for q in quiz.questions],
        lessons=await _lessons(ctx, course),
        can_edit=courses.manages(user, course),
        quiz_values=form.values or _quiz_values(quiz),
        tab="quizzes",
    )


@router.get("/teach/quizzes/{quiz_id}/edit")
async def edit_quiz(ctx: Ctx, quiz_id: uuid.UUID, user: Teacher) -> Response:
    return await shown(ctx, _quiz_page(ctx, user, quiz_id))


async def _owned(session: AsyncSession, user: User, quiz_id: uuid.UUID) -> Quiz:
    return await quiz_for_owner(await quiz_by_id(quiz_id, user, session), user, session)


@router.post("/teach/quizzes/{quiz_id}/edit")
async def update_quiz(ctx: Ctx, quiz_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    async def update(session: AsyncSession) -> str:
        quiz = await _owned(session, user, quiz_id)
        await assessments.update_quiz(
            session, quiz=quiz, data=validate(QuizUpdate, _settings(data))
        )
        return f"/teach/quizzes/{quiz_id}/edit"

    return await submitted(ctx, update, again=partial(_quiz_page, ctx, user, quiz_id), values=data)


@router.post("/teach/quizzes/{quiz_id}/delete")
async def delete_quiz(ctx: Ctx, quiz_id: uuid.UUID, user: Teacher) -> Response:
    async def delete(session: AsyncSession) -> str:
        quiz = await _owned(session, user, quiz_id)
        await assessments.delete_quiz(session, quiz=quiz)
        return f"/teach/courses/{quiz.course_id}/quizzes"

    return await submitted(ctx, delete)


# ---------------------------------------------------------------- questions


async def _question_page(
    ctx: WebContext,
    user: User,
    quiz_id: uuid.UUID,
    position: int | None,
    *,
    form: Form = FRESH,
) -> Response:
    course, quiz = await _load(ctx, user, quiz_id)
    if not courses.manages(user, course):
        raise NotCourseOwner()
    stored = None
    if position is not None:
        if not 0 <= position < len(quiz.questions):
            raise NotFound("This question does not exist", code="question_not_found")
        stored = quiz.questions[position]
    shown = form.values or _question_values(stored)
    return form_page(
        ctx,
        "teacher/question_edit.html",
        form,
        course=course,
        quiz=quiz,
        position=position,
        values=shown,
        slots=_option_slots(shown),
        tab="quizzes",
    )


def _edited(
    questions: list[QuestionIn], position: int | None, change: str, data: dict[str, str]
) -> list[QuestionIn]:
    """The quiz's questions after one change: "save" adds (position None) or replaces one,
    "delete" leaves one out, "move" puts one at the posted position (the others keep their
    order)."""
    if change == "save":
        edited = validate(QuestionIn, _question(data))
        if position is None:
            return [*questions, edited]
        return [*questions[:position], edited, *questions[position + 1 :]]
    assert position is not None
    moved = questions.pop(position)
    if change == "move":
        target = number(data, "position", int)
        if target is None or not 0 <= target <= len(questions):
            raise Unprocessable("This position is outside the quiz", code="invalid_position")
        questions.insert(target, moved)
    return questions


async def _change_questions(
    ctx: WebContext,
    user: User,
    quiz_id: uuid.UUID,
    data: dict[str, str],
    *,
    position: int | None,
    change: str = "save",
) -> Response:
    """Add (position None), replace, delete or move one question, keeping the others as they
    are."""

    async def edit(session: AsyncSession) -> str:
        quiz = await _owned(session, user, quiz_id)
        current = (await assessments.quiz_for_owner(session, quiz=quiz)).questions
        if position is not None and not 0 <= position < len(current):
            raise NotFound("This question does not exist", code="question_not_found")
        questions = _edited([_as_input(q) for q in current], position, change, data)
        body = validate(QuizUpdate, {"questions": questions})
        await assessments.update_quiz(session, quiz=quiz, data=body)
        return f"/teach/quizzes/{quiz_id}/edit#questions"

    if change != "save":  # a delete or a move refused: the quiz again, with what went wrong
        return await submitted(ctx, edit, again=partial(_quiz_page, ctx, user, quiz_id))
    return await submitted(
        ctx,
        edit,
        again=partial(_question_page, ctx, user, quiz_id, position),
        values=_posted_values(data),
    )


@router.get("/teach/quizzes/{quiz_id}/questions/new")
async def new_question(ctx: Ctx, quiz_id: uuid.UUID, user: Teacher) -> Response:
    return await shown(ctx, _question_page(ctx, user, quiz_id, None))


@router.post("/teach/quizzes/{quiz_id}/questions/new")
async def add_question(ctx: Ctx, quiz_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    return await _change_questions(ctx, user, quiz_id, data, position=None)


@router.get("/teach/quizzes/{quiz_id}/questions/{position}")
async def edit_question(ctx: Ctx, quiz_id: uuid.UUID, position: int, user: Teacher) -> Response:
    return await shown(ctx, _question_page(ctx, user, quiz_id, position))


@router.post("/teach/quizzes/{quiz_id}/questions/{position}")
async def update_question(
    ctx: Ctx, quiz_id: uuid.UUID, position: int, user: Teacher, data: Posted
) -> Response:
    return await _change_questions(ctx, user, quiz_id, data, position=position)


@router.post("/teach/quizzes/{quiz_id}/questions/{position}/delete")
async def delete_question(
    ctx: Ctx, quiz_id: uuid.UUID, position: int, user: Teacher, data: Posted
) -> Response:
    return await _change_questions(ctx, user, quiz_id, data, position=position, change="delete")


@router.post("/teach/quizzes/{quiz_id}/questions/{position}/move")
async def move_question(
    ctx: Ctx, quiz_id: uuid.UUID, position: int, user: Teacher, data: Posted
) -> Response:
    """Put a question at another place (the up/down buttons post its new position)."""
    return await _change_questions(ctx, user, quiz_id, data, position=position, change="move")
