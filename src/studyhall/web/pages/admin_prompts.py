"""Admin page of the tutor's system prompts: the versions of the global prompt and of each
course's, a new version (active at once, or kept for later), (de)activation and deletion, through
the tutor's system-prompt service as in the API. A course is named by its code."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.core.errors import NotFound
from studyhall.courses import service as courses
from studyhall.identity.models import User
from studyhall.tutor import system_prompts
from studyhall.tutor.schemas import SystemPromptCreate, SystemPromptUpdate
from studyhall.web.forms import validate
from studyhall.web.pages.answers import FRESH, Form, form_page, submitted
from studyhall.web.pages.common import ADMINS_ONLY, Admin, Ctx, Posted
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False, dependencies=[ADMINS_ONLY])
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
    return await _prompts_page(ctx, scope=scope)


@router.post(PAGE)
async def create_prompt(ctx: Ctx, admin: Admin, data: Posted) -> Response:
    """A new version of the global prompt, or of the course whose code is given."""

    async def create(session: AsyncSession) -> str:
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
        return PAGE

    values = {**data, "activate": data.get("activate") == "true"}
    return await submitted(ctx, create, again=partial(_prompts_page, ctx), values=values)


async def _change(
    ctx: WebContext, admin: User, prompt_id: uuid.UUID, active: bool | None
) -> Response:
    """(De)activate a version (active None: delete it)."""

    async def change(session: AsyncSession) -> str:
        prompt = await system_prompts.get(session, prompt_id)
        if active is None:
            await system_prompts.delete(session, actor=admin, prompt=prompt)
        else:
            update = SystemPromptUpdate(is_active=active)
            await system_prompts.update(session, actor=admin, prompt=prompt, data=update)
        return PAGE

    return await submitted(ctx, change, again=partial(_prompts_page, ctx))


@router.post(PAGE + "/{prompt_id}/activate")
async def activate(ctx: Ctx, prompt_id: uuid.UUID, admin: Admin) -> Response:
    return await _change(ctx, admin, prompt_id, True)


@router.post(PAGE + "/{prompt_id}/deactivate")
async def deactivate(ctx: Ctx, prompt_id: uuid.UUID, admin: Admin) -> Response:
    return await _change(ctx, admin, prompt_id, False)


@router.post(PAGE + "/{prompt_id}/delete")
async def delete(ctx: Ctx, prompt_id: uuid.UUID, admin: Admin) -> Response:
    return await _change(ctx, admin, prompt_id, None)
