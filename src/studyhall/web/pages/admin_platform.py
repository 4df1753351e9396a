"""Admin pages for what the platform holds: every course (search, open its editor) and the
service API keys (issue one, its secret shown once; revoke). Each calls the service its API
route calls."""

from __future__ import annotations

import typing
import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.courses import service as courses
from studyhall.identity import service as identity
from studyhall.identity.models import Role
from studyhall.identity.schemas import ApiKeyCreate, ApiKeyOut, ApiScope
from studyhall.web.forms import validate
from studyhall.web.pages.answers import FRESH, Form, form_page, submitted
from studyhall.web.pages.common import ADMINS_ONLY, Admin, Ctx, first_rows
from studyhall.web.render import page
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False, dependencies=[ADMINS_ONLY])
SHOWN = 100
SCOPES: tuple[str, ...] = typing.get_args(ApiScope)


@router.get("/admin/courses")
async def course_list(ctx: Ctx, admin: Admin, q: str = "") -> Response:
    async with ctx.db.session(write=False) as session:
        found = await courses.list_courses(
            session, viewer=admin, limit=SHOWN, search=q.strip()[:200] or None
        )
    return page(ctx, "admin/courses.html", courses=found.items, total=found.total, q=q[:200])


# ---------------------------------------------------------------- API keys


async def _keys_page(
    ctx: WebContext,
    *,
    form: Form = FRESH,
    created: tuple[ApiKeyOut, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    keys, total = await first_rows(ctx, identity.list_api_keys, ApiKeyOut, SHOWN)
    return form_page(
        ctx,
        "admin/api_keys.html",
        form,
        keys=keys,
        total=total,
        created=created,
        scopes=SCOPES,
        roles=[r.value for r in Role],
        values={"scopes": ["read"], "acts_as_role": Role.teacher.value},
    )


@router.get("/admin/api-keys")
async def api_keys(ctx: Ctx) -> Response:
    return await _keys_page(ctx)


@router.post("/admin/api-keys")
async def create_api_key(ctx: Ctx, request: Request, admin: Admin) -> Response:
    """Issue a key; the page that answers is the only place its secret is ever shown."""
    form = await request.form()
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
    name = form.get("name")
    role = form.get("acts_as_role")
    expires = form.get("expires_on")
    fields: dict[str, Any] = {
        "name": name if isinstance(name, str) else "",
        "scopes": scopes,
        "acts_as_role": role if isinstance(role, str) else "",
    }
    if isinstance(expires, str) and expires.strip():
        # A date picked in the form: the key stops working at the start of that day (UTC).
        fields["expires_at"] = f"{expires.strip()}T00:00:00Z"

    async def create(session: AsyncSession) -> tuple[ApiKeyOut, str]:
        body = validate(ApiKeyCreate, fields)
        api_key, secret = await identity.create_api_key(session, actor=admin, data=body)
        return ApiKeyOut.model_validate(api_key), secret

    async def created(key: tuple[ApiKeyOut, str]) -> Response:
        return await _keys_page(ctx, form=Form(status_code=201), created=key)

    return await submitted(
        ctx, create, again=partial(_keys_page, ctx), values={**fields}, done=created
    )


@router.post("/admin/api-keys/{key_id}/revoke")
async def revoke_api_key(ctx: Ctx, key_id: uuid.UUID, admin: Admin) -> Response:
    async def revoke(session: AsyncSession) -> str:
        await identity.revoke_api_key(session, actor=admin, key_id=key_id)
        return "/admin/api-keys"

    return await submitted(ctx, revoke, again=partial(_keys_page, ctx))
