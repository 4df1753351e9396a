"""Pages of one's own account: the home page and profile with preferences."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter
from starlette.responses import Response

from studyhall.identity import service
from studyhall.identity.schemas import UserUpdate
from studyhall.web.forms import validate
from studyhall.web.i18n import pick_language
from studyhall.web.pages.answers import FRESH, REFUSED, form_page, refusal
from studyhall.web.pages.common import Ctx, Posted, SignedIn
from studyhall.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/home")
async def home(ctx: Ctx) -> Response:
    ctx.require()
    return page(ctx, "account/home.html", errors=[])


@router.get("/profile")
async def profile(ctx: Ctx) -> Response:
    ctx.require()
    return page(ctx, "account/profile.html", errors=[])


@router.post("/profile")
async def profile_submit(ctx: Ctx, user: SignedIn, data: Posted) -> Response:
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
        # 422 whatever refused it: the profile form itself is what was not taken.
        return form_page(ctx, "account/profile.html", replace(refusal(ctx, exc), status_code=422))
    ctx.user = updated
    ctx.language = pick_language(
        [(updated.preferences or {}).get("language")], None, ctx.locales_dir
    )
    return form_page(ctx, "account/profile.html", FRESH, notice=ctx.t("Saved"))
