"""Admin page of the tutor's system prompts: the versions of the global prompt and of each
course's, a new version (active at once, or kept for later), (de)activation and deletion, through
the tutor's system-prompt service as in the API. A course is named by its code."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Request
from starlette.responses import Response

from studyhall.core.errors import AppError, NotFound
from studyhall.courses import service as courses
from studyhall.identity.models import Role
from studyhall.tutor import system_prompts
from studyhall.tutor.schemas import SystemPromptCreate, SystemPromptUpdate
from studyhall.web.forms import form_data, validate
from studyhall.web.pages.common import FRESH, REFUSED, Ctx, Form, form_page, refusal, shown_again
from studyhall.web.render import redirect
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False)
SHOWN = 100
PAGE = "/admin/system-prompts"


async def _prompts_page(
    ctx: WebContext,
    *,
    scope: str = "",
    form: Form = FRESH,
) -> Response:
    wanted = scope if scope in ("global", "course") else None
    async with ctx.db.session(write=False) as session:
        found = await system_prompts.list_prompts(
            session, scope=wanted, course_id=None, active=None, limit=SHOWN, offset=0
        )
        codes = await courses.codes_by_id(
            session, course_ids=[p.course_id for p in found.items if p.course_id]
        )
    return form_page(
        ctx,
        "admin/system_prompts.html",
        form,
        prompts=found.items,
        total=found.total,
        codes=codes,
        scope=wanted or "",
        values={"activate": True},
    )


@router.get(PAGE)
async def prompts(ctx: Ctx, scope: str = "") -> Response:
    ctx.require(Role.admin)
    return await _prompts_page(ctx, scope=scope)


@router.post(PAGE)
async def create_prompt(ctx: Ctx, request: Request) -> Response:
    """A new version of the global prompt, or of the course whose code is given."""
    admin = ctx.require(Role.admin)
    data = await form_data(request)
    try:
        async with ctx.db.session() as session:
            course_id: uuid.UUID | None = None
            code = data.get("course_code", "").strip()
            if code:
                course = await courses.find_course_by_code(session, code)
                if course is None:
                    raise NotFound("No course has this code", code="course_not_found")
                course_id = course.id
            body = validate(
                SystemPromptCreate,
                {
                    "course_id": course_id,
                    "name": data.get("name", "").strip(),
                    "content": data.get("content", "").replace("\r\n", "\n").strip(),
                    "activate": data.get("activate") == "true",
                },
            )
            await system_prompts.create(session, actor=admin, data=body)
    except REFUSED as exc:
        values = {**data, "activate": data.get("activate") == "true"}
        return await shown_again(ctx, exc, partial(_prompts_page, ctx), values=values)
    return redirect(ctx, PAGE)


async def _change(ctx: WebContext, prompt_id: uuid.UUID, *, active: bool | None) -> Response:
    """(De)activate a version (active None: delete it)."""
    admin = ctx.require(Role.admin)
    try:
        async with ctx.db.session() as session:
            prompt = await system_prompts.get(session, prompt_id)
            if active is None:
                await system_prompts.delete(session, actor=admin, prompt=prompt)
            else:
                await system_prompts.update(
                    session,
                    actor=admin,
                    prompt=prompt,
                    data=SystemPromptUpdate(is_active=active),
                )
    except AppError as exc:
        return await _prompts_page(ctx, form=refusal(ctx, exc))
    return redirect(ctx, PAGE)


@router.post(PAGE + "/{prompt_id}/activate")
async def activate(ctx: Ctx, prompt_id: uuid.UUID) -> Response:
    return await _change(ctx, prompt_id, active=True)


@router.post(PAGE + "/{prompt_id}/deactivate")
async def deactivate(ctx: Ctx, prompt_id: uuid.UUID) -> Response:
    return await _change(ctx, prompt_id, active=False)


@router.post(PAGE + "/{prompt_id}/delete")
async def delete(ctx: Ctx, prompt_id: uuid.UUID) -> Response:
    return await _change(ctx, prompt_id, active=None)
