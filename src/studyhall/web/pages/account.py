"""Pages of one's own account: the home page and profile with preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.identity import service
from studyhall.identity.schemas import UserUpdate
from studyhall.web.forms import form_data, problems, validate
from studyhall.web.i18n import pick_language
from studyhall.web.render import page
from studyhall.web.session import WebContext, web_context

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(web_context)]
REFUSED = (AppError, ValidationError, RequestValidationError)


@router.get("/home")
async def home(ctx: Ctx) -> Response:
    ctx.require()
    return page(ctx, "account/home.html", errors=[])


@router.get("/profile")
async def profile(ctx: Ctx) -> Response:
    ctx.require()
    return page(ctx, "account/profile.html", errors=[])


@router.post("/profile")
async def profile_submit(ctx: Ctx, request: Request) -> Response:
    user = ctx.require()
    data = await form_data(request)
    try:
        body = validate(
            UserUpdate,
            {
                "full_name": data.get("full_name", ""),
                "preferences": {
                    "theme": data.get("theme") or None,
                    "language": data.get("language") or None,
                },
            },
        )
        async with ctx.db.session() as session:
            fresh = await session.merge(user)
            updated = await service.update_me(session, settings=ctx.settings, user=fresh, data=body)
            session.expunge(updated)
    except REFUSED as exc:
        return page(ctx, "account/profile.html", status_code=422, errors=problems(exc, ctx.t))
    ctx.user = updated
    ctx.language = pick_language(
        [(updated.preferences or {}).get("language")], None, ctx.locales_dir
    )
    return page(ctx, "account/profile.html", errors=[], notice=ctx.t("Saved"))
