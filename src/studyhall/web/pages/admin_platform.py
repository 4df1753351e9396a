"""Admin pages for what the platform holds: every course (search, open its editor) and the
service API keys (issue one, its secret shown once; revoke). Each calls the service its API
route calls."""

from __future__ import annotations

import typing
import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.courses import service as courses
from studyhall.identity import service as identity
from studyhall.identity.models import Role
from studyhall.identity.schemas import ApiKeyCreate, ApiKeyOut, ApiScope
from studyhall.web.forms import validate
from studyhall.web.pages.common import FRESH, REFUSED, Ctx, Form, form_page, refusal, shown_again
from studyhall.web.render import page, redirect
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False)
SHOWN = 100
SCOPES: tuple[str, ...] = typing.get_args(ApiScope)


@router.get("/admin/courses")
async def course_list(ctx: Ctx, q: str = "") -> Response:
    admin = ctx.require(Role.admin)
    async with ctx.db.session(write=False) as session:
        found = await courses.list_courses(
            session,
            viewer=admin,
            teacher_id=None,
            search=q.strip()[:200] or None,
            level=None,
            language=None,
            is_published=None,
            limit=SHOWN,
            offset=0,
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
    async with ctx.db.session(write=False) as session:
        rows, total = await identity.list_api_keys(session, limit=SHOWN, offset=0)
    return form_page(
        ctx,
        "admin/api_keys.html",
        form,
        keys=[ApiKeyOut.model_validate(r) for r in rows],
        total=total,
        created=created,
        scopes=SCOPES,
        roles=[r.value for r in Role],
        values={"scopes": ["read"], "acts_as_role": Role.teacher.value},
    )


@router.get("/admin/api-keys")
async def api_keys(ctx: Ctx) -> Response:
    ctx.require(Role.admin)
    return await _keys_page(ctx)


@router.post("/admin/api-keys")
async def create_api_key(ctx: Ctx, request: Request) -> Response:
    """Issue a key; the page that answers is the only place its secret is ever shown."""
    admin = ctx.require(Role.admin)
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
    try:
        body = validate(ApiKeyCreate, fields)
        async with ctx.db.session() as session:
            api_key, secret = await identity.create_api_key(session, actor=admin, data=body)
            shown = ApiKeyOut.model_validate(api_key)
    except REFUSED as exc:
        return await shown_again(ctx, exc, partial(_keys_page, ctx), values={**fields})
    return await _keys_page(ctx, form=Form(status_code=201), created=(shown, secret))


@router.post("/admin/api-keys/{key_id}/revoke")
async def revoke_api_key(ctx: Ctx, key_id: uuid.UUID) -> Response:
    admin = ctx.require(Role.admin)
    try:
        async with ctx.db.session() as session:
            await identity.revoke_api_key(session, actor=admin, key_id=key_id)
    except AppError as exc:
        return await _keys_page(ctx, form=refusal(ctx, exc))
    return redirect(ctx, "/admin/api-keys")
