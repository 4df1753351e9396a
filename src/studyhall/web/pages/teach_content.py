"""Teacher pages for a course's material: documents (upload, ingestion status that refreshes
itself while a document is being read) and quizzes (list, JSON or SciQ import)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from studyhall.assessments import service as assessments
from studyhall.assessments.schemas import QuizImport
from studyhall.core.errors import AppError, PayloadTooLarge, Unprocessable
from studyhall.courses import service as courses
from studyhall.courses.models import Course
from studyhall.identity.models import Role
from studyhall.knowledge import service as knowledge
from studyhall.knowledge.models import DocumentStatus
from studyhall.web.forms import validate
from studyhall.web.pages.answers import FRESH, REFUSED, Form, form_page, refusal, shown, shown_again
from studyhall.web.pages.common import TEACHERS_ONLY, Ctx, Teacher, owned_course, taught_course
from studyhall.web.render import redirect

router = APIRouter(include_in_schema=False, dependencies=[TEACHERS_ONLY])
SHOWN = 100
IMPORT_LIMIT = 20 * 1024 * 1024  # a SciQ split is a few MiB
BUSY = frozenset({DocumentStatus.queued, DocumentStatus.processing})


async def _managed(ctx: Ctx, course_id: uuid.UUID) -> Course:
    """A course the user changes: its owner or an admin."""
    user = ctx.require(Role.teacher, Role.admin)
    async with ctx.db.session(write=False) as session:
        return await owned_course(session, user, course_id)


async def _material_page(
    ctx: Ctx,
    course_id: uuid.UUID,
    template: str,
    form: Form,
    read: Callable[[AsyncSession, Course], Awaitable[dict[str, Any]]],
    **context: Any,
) -> Response:
    """A page of a course's material for its teachers (assistants read it): what `read` finds
    in the course, and whether the user changes it."""
    user = ctx.require(Role.teacher, Role.admin)
    async with ctx.db.session(write=False) as session:
        course = await taught_course(session, user, course_id)
        found = await read(session, course)
    can_edit = courses.manages(user, course)
    return form_page(ctx, template, form, course=course, can_edit=can_edit, **found, **context)


async def _file(form: Any, limit: int) -> tuple[bytes, str | None] | None:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not (upload.filename or upload.size):
        return None
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The file is larger than the {limit} byte limit")
    return data, upload.filename


# ---------------------------------------------------------------- documents


async def _documents(session: AsyncSession, course: Course) -> dict[str, Any]:
    documents, total = await knowledge.list_documents(
        session, course_id=course.id, status=None, limit=SHOWN, offset=0
    )
    return {
        "documents": documents,
        "total": total,
        "busy": any(d.status in BUSY for d in documents),
    }


async def _documents_page(ctx: Ctx, course_id: uuid.UUID, form: Form = FRESH) -> Response:
    template = (
        "teacher/_document_rows.html"
        if ctx.is_htmx_target("documents")
        else "teacher/documents.html"
    )
    return await _material_page(ctx, course_id, template, form, _documents, tab="documents")


@router.get("/teach/courses/{course_id}/documents")
async def documents(ctx: Ctx, course_id: uuid.UUID) -> Response:
    return await shown(ctx, _documents_page(ctx, course_id))


@router.post("/teach/courses/{course_id}/documents")
async def upload_document(
    ctx: Ctx, course_id: uuid.UUID, request: Request, user: Teacher
) -> Response:
    """Upload a file; its ingestion runs as a job and the list follows it."""
    limit = ctx.settings.knowledge.max_upload_bytes
    try:
        course = await _managed(ctx, course_id)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise PayloadTooLarge(f"The file is larger than the {limit} byte limit")
        form = await request.form()
        received = await _file(form, limit)
        if received is None:
            raise Unprocessable("Choose a file to upload")
        title = form.get("title")
        async with ctx.db.session() as session:
            await knowledge.create_document(
                session,
                storage=request.app.state.storage,
                actor_id=user.id,
                course_id=course.id,
                new=knowledge.NewDocument(
                    data=received[0],
                    filename=received[1],
                    title=title.strip()[:300] or None if isinstance(title, str) else None,
                ),
                duplicates="replace" if form.get("replace") == "true" else "refuse",
            )
    except AppError as exc:
        return await shown_again(ctx, exc, partial(_documents_page, ctx, course_id))
    return redirect(ctx, f"/teach/courses/{course_id}/documents")


# ---------------------------------------------------------------- quizzes


async def _quizzes_page(
    ctx: Ctx,
    course_id: uuid.UUID,
    form: Form = FRESH,
    *,
    notice: str | None = None,
) -> Response:
    return await _material_page(
        ctx, course_id, "teacher/quizzes.html", form, _quizzes, notice=notice, tab="quizzes"
    )


async def _quizzes(session: AsyncSession, course: Course) -> dict[str, Any]:
    found = await assessments.list_quizzes(session, course_id=course.id, limit=SHOWN, offset=0)
    return {"quizzes": found.items}


@router.get("/teach/courses/{course_id}/quizzes")
async def quizzes(ctx: Ctx, course_id: uuid.UUID) -> Response:
    return await shown(ctx, _quizzes_page(ctx, course_id))


def import_body(raw: bytes, title: str) -> dict[str, Any]:
    """The API's two import shapes: `{title, items, ...}` or a bare list of records (SciQ)."""
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unprocessable(f"The file is not JSON: {exc}", code="invalid_json") from None
    if isinstance(parsed, list):
        return {"items": parsed, **({"title": title} if title else {})}
    if isinstance(parsed, dict):
        return {**parsed, **({"title": title} if title else {})}
    raise Unprocessable("Send a JSON list of questions or an object with `items`")


@router.post("/teach/courses/{course_id}/quizzes/import")
async def import_quiz(ctx: Ctx, course_id: uuid.UUID, request: Request) -> Response:
    """A quiz from a JSON file or pasted JSON, checked by the API's import schema."""
    try:
        course = await _managed(ctx, course_id)
        form = await request.form()
        received = await _file(form, IMPORT_LIMIT)
        pasted = form.get("json")
        raw = (
            received[0] if received else (pasted or "").encode() if isinstance(pasted, str) else b""
        )
        if not raw.strip():
            raise Unprocessable("Choose a JSON file or paste the questions")
        title = form.get("title")
        body = validate(
            QuizImport, import_body(raw, title.strip() if isinstance(title, str) else "")
        )
        async with ctx.db.session() as session:
            result = await assessments.import_quiz(session, course_id=course.id, data=body)
    except REFUSED as exc:
        again = refusal(ctx, exc)
        # A file can break many questions: the first ten say enough.
        return await shown(
            ctx, _quizzes_page(ctx, course_id, replace(again, errors=again.errors[:10]))
        )
    return await _quizzes_page(
        ctx,
        course_id,
        Form(status_code=201),
        notice=ctx.t(
            "Imported {n} questions into “{title}” ({skipped} skipped).",
            n=result.imported,
            title=result.quiz.title,
            skipped=result.skipped,
        ),
    )
