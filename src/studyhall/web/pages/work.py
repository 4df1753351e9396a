"""Student pages for graded work: quizzes (timer, submission, results) and assignments (text
and file upload, grades and feedback). Every rule stays in `assessments.service`; these pages
only turn forms into the API's input schemas and results into HTML."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from studyhall.assessments import router as assessments_api
from studyhall.assessments import service as assessments
from studyhall.assessments import uploads
from studyhall.assessments.dependencies import (
    assignment_by_id,
    assignment_for_student,
    attempt_for_viewer,
    quiz_by_id,
    quiz_for_student,
    submission_for_viewer,
)
from studyhall.assessments.models import AttemptStatus, QuestionKind
from studyhall.assessments.schemas import AttemptSubmit, QuestionStudentOut
from studyhall.core.clock import utcnow
from studyhall.core.errors import AppError
from studyhall.core.pagination import Pagination
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.identity.models import Role
from studyhall.web.forms import validate
from studyhall.web.pages.answers import (
    FRESH,
    Form,
    form_page,
    refused,
    shown,
    shown_again,
    submitted,
    viewed,
)
from studyhall.web.pages.common import Ctx, SignedIn, Student, markdown

router = APIRouter(include_in_schema=False)
ATTEMPTS_SHOWN = 20
SUBMISSIONS_SHOWN = 20


# ---------------------------------------------------------------- quizzes


def answers_from_form(questions: list[QuestionStudentOut], form: Any) -> list[Any]:
    """One answer per question, in order, in the API's shapes (None: left blank)."""
    out: list[Any] = []
    for number, question in enumerate(questions):
        name = f"q{number}"
        if question.kind == QuestionKind.multiple:
            picked = [v for v in form.getlist(name) if isinstance(v, str) and v.isdigit()]
            out.append([int(v) for v in picked] or None)
            continue
        value = form.get(name)
        if not isinstance(value, str) or not value.strip():
            out.append(None)
        elif question.kind == QuestionKind.single:
            out.append(int(value) if value.isdigit() else value)
        elif question.kind == QuestionKind.true_false:
            out.append(value == "true" if value in ("true", "false") else value)
        else:
            out.append(value.strip()[:2000])
    return out


async def _quiz_view(ctx: Ctx, quiz_id: uuid.UUID) -> dict[str, Any]:
    """What the quiz page shows: the quiz (questions only while they may be seen), the open
    attempt's remaining seconds and the student's earlier attempts."""
    user = ctx.require(Role.student)
    async with ctx.db.session(write=False) as session:
        quiz = await quiz_for_student(user, await quiz_by_id(quiz_id, user, session), session)
        course = await courses.get_course(session, quiz.course_id)
        view = await assessments.quiz_for_student(session, quiz=quiz, student=user)
        attempts = await assessments.list_attempts(
            session, quiz=quiz, student_id=user.id, limit=ATTEMPTS_SHOWN, offset=0
        )
    open_attempt = next((a for a in attempts.items if a.status == AttemptStatus.started), None)
    remaining = None
    if open_attempt is not None and open_attempt.deadline_at is not None:
        remaining = max(0, int((open_attempt.deadline_at - utcnow()).total_seconds()))
    used = attempts.total
    left = None if quiz.max_attempts is None else max(0, quiz.max_attempts - used)
    return {
        "quiz": view,
        "course": course,
        "attempts": [a for a in attempts.items if a.status != AttemptStatus.started],
        "open_attempt": open_attempt,
        "remaining_s": remaining,
        "attempts_left": left,
    }


async def _quiz_page(ctx: Ctx, quiz_id: uuid.UUID, *, form: Form = FRESH) -> Response:
    return form_page(ctx, "student/quiz.html", form, **await _quiz_view(ctx, quiz_id))


@router.get("/quizzes/{quiz_id}")
async def quiz_page(ctx: Ctx, quiz_id: uuid.UUID) -> Response:
    return await shown(ctx, _quiz_page(ctx, quiz_id))


@router.post("/quizzes/{quiz_id}/start")
async def start_quiz(ctx: Ctx, quiz_id: uuid.UUID, user: Student) -> Response:
    """Start (or resume) an attempt: the server's clock starts and the questions show (the quiz
    again with what went wrong when it cannot: time is up, no attempt left...)."""

    async def start(session: AsyncSession) -> str:
        quiz = await quiz_for_student(user, await quiz_by_id(quiz_id, user, session), session)
        await assessments.start_attempt(session, quiz=quiz, student=user)
        return f"/quizzes/{quiz_id}"

    return await submitted(ctx, start, again=partial(_quiz_page, ctx, quiz_id))


@router.post("/quizzes/{quiz_id}/submit")
async def submit_quiz(ctx: Ctx, quiz_id: uuid.UUID, request: Request, user: Student) -> Response:
    form = await request.form()

    async def submit(session: AsyncSession) -> str:
        quiz = await quiz_for_student(user, await quiz_by_id(quiz_id, user, session), session)
        view = await assessments.quiz_for_student(session, quiz=quiz, student=user)
        fields: dict[str, Any] = {"answers": answers_from_form(view.questions, form)}
        spent = form.get("time_spent_s")
        if isinstance(spent, str) and spent.replace(".", "", 1).isdigit():
            fields["time_spent_s"] = float(spent)
        body = validate(AttemptSubmit, fields)
        result = await assessments.submit_attempt(session, quiz=quiz, student=user, data=body)
        return f"/attempts/{result.id}"

    return await submitted(ctx, submit, again=partial(_quiz_page, ctx, quiz_id))


@router.get("/attempts/{attempt_id}")
async def attempt_page(ctx: Ctx, attempt_id: uuid.UUID, user: Student) -> Response:
    """A submitted attempt: score, pass or fail, and each question's result as the rules
    reveal it (expected answers once passed or out of attempts)."""

    async def load(session: AsyncSession) -> dict[str, Any]:
        attempt = await attempt_for_viewer(attempt_id, user, session)
        detail = await assessments.attempt_detail(session, attempt=attempt, owner_view=False)
        quiz = await quiz_for_student(
            user, await quiz_by_id(attempt.quiz_id, user, session), session
        )
        view = await assessments.quiz_for_student(session, quiz=quiz, student=user)
        return {"attempt": detail, "quiz": view, "prompts": {q.id: q for q in view.questions}}

    return await viewed(ctx, "student/attempt.html", load)


# ---------------------------------------------------------------- assignments


def _storage(ctx: Ctx) -> LocalStorage:
    storage: LocalStorage = ctx.request.app.state.storage
    return storage


async def _assignment_view(ctx: Ctx, assignment_id: uuid.UUID) -> dict[str, Any]:
    user = ctx.require(Role.student)
    async with ctx.db.session(write=False) as session:
        assignment = await assignment_for_student(
            user, await assignment_by_id(assignment_id, user, session), session
        )
        course = await courses.get_course(session, assignment.course_id)
        # The student's own versions, as the API lists them for a student.
        found = await assessments.submissions_for_viewer(
            session,
            assignment=assignment,
            viewer=user,
            query=assessments.SubmissionsQuery(),
            page=Pagination(limit=SUBMISSIONS_SHOWN),
        )
    return {
        "assignment": found.assignment,
        "course": course,
        "description": markdown(found.assignment.description),
        "submissions": found.items,
        "current": next((s for s in found.items if s.is_current), None),
    }


async def _assignment_page(ctx: Ctx, assignment_id: uuid.UUID, *, form: Form = FRESH) -> Response:
    values = await _assignment_view(ctx, assignment_id)
    return form_page(ctx, "student/assignment.html", form, **values)


@router.get("/assignments/{assignment_id}")
async def assignment_page(ctx: Ctx, assignment_id: uuid.UUID) -> Response:
    return await shown(ctx, _assignment_page(ctx, assignment_id))


@router.post("/assignments/{assignment_id}/submit")
async def submit_assignment(
    ctx: Ctx, assignment_id: uuid.UUID, request: Request, user: Student
) -> Response:
    """Text, a file or both (multipart), with the API's limits: 10 MiB, known file types."""
    again = partial(_assignment_page, ctx, assignment_id)
    try:  # the upload is read before the unit of work starts
        uploads.check_request_length(request.headers.get("content-length"))
        async with request.form(max_files=1, max_fields=4) as form:
            content = form.get("content")
            text = content if isinstance(content, str) else ""
            upload = await _upload(form.get("file"))
    except AppError as exc:
        return await shown_again(ctx, exc, again)

    async def submit(session: AsyncSession) -> str:
        assignment = await assignment_for_student(
            user, await assignment_by_id(assignment_id, user, session), session
        )
        await assessments.submit(
            session,
            assignment=assignment,
            student=user,
            content=text[: uploads.MAX_CONTENT_CHARS],
            file=upload,
            storage=_storage(ctx),
        )
        return f"/assignments/{assignment_id}"

    return await submitted(ctx, submit, again=again)


async def _upload(file: object) -> assessments.UploadedFile | None:
    if not isinstance(file, UploadFile) or not (file.filename or file.size):
        return None
    return await uploads.read_upload(file)


@router.get("/submissions/{submission_id}/file")
async def submission_file(ctx: Ctx, submission_id: uuid.UUID, user: SignedIn) -> Response:
    """The file of a submission, for its student and the course's teachers (the API's answer:
    a download, never run on our origin)."""
    try:
        async with ctx.db.session(write=False) as session:
            submission = await submission_for_viewer(submission_id, user, session)
        return await assessments_api.get_submission_file(submission, _storage(ctx))
    except AppError as exc:
        return refused(ctx, exc)
