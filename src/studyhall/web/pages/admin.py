"""Admin pages: users (search, filter by role, change role, block and unblock, set a new
password)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from urllib.parse import quote

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.identity import service as identity
from studyhall.identity.models import Role
from studyhall.identity.schemas import AdminPasswordReset, AdminUserUpdate
from studyhall.web.forms import validate
from studyhall.web.pages.answers import FRESH, Form, form_page, submitted
from studyhall.web.pages.common import ADMINS_ONLY, Admin, Ctx, Posted

router = APIRouter(include_in_schema=False, dependencies=[ADMINS_ONLY])
PAGE_SIZE = 50


async def _users_page(ctx: Ctx, *, q: str, role: str, form: Form = FRESH) -> Response:
    wanted = Role(role) if role in Role.__members__ else None
    async with ctx.db.session(write=False) as session:
        users, total = await identity.admin_list_users(
            session,
            role=wanted,
            search=q.strip()[:100] or None,
            is_active=None,
            limit=PAGE_SIZE,
            offset=0,
        )
    template = "admin/_user_rows.html" if ctx.is_htmx_target("users") else "admin/users.html"
    return form_page(
        ctx,
        template,
        form,
        users=users,
        total=total,
        q=q[:100],
        role=role if wanted else "",
        roles=[r.value for r in Role],
    )


@router.get("/admin/users")
async def users(ctx: Ctx, q: str = "", role: str = "") -> Response:
    return await _users_page(ctx, q=q, role=role)


@router.post("/admin/users/{user_id}")
async def update_user(ctx: Ctx, user_id: uuid.UUID, admin: Admin, data: Posted) -> Response:
    """Block, unblock or change the role of one account (the same service as the API's PATCH)."""
    fields: dict[str, object] = {}
    if data.get("is_active") in ("true", "false"):
        fields["is_active"] = data["is_active"] == "true"
    if data.get("role"):
        fields["role"] = data["role"]

    async def update(session: AsyncSession) -> str:
        body = validate(AdminUserUpdate, fields)
        await identity.admin_update_user(session, actor=admin, user_id=user_id, data=body)
        return _back_to_users(data)

    return await submitted(ctx, update, again=_users_again(ctx, data))


@router.post("/admin/users/{user_id}/password")
async def reset_password(ctx: Ctx, user_id: uuid.UUID, admin: Admin, data: Posted) -> Response:
    """Set a user's new password (the API's admin reset: the strength rules apply and every
    session of the user ends)."""

    async def reset(session: AsyncSession) -> str:
        body = validate(AdminPasswordReset, {"new_password": data.get("new_password", "")})
        await identity.admin_reset_password(
            session,
            settings=ctx.settings,
            actor=admin,
            user_id=user_id,
            new_password=body.new_password,
        )
        return _back_to_users(data)

    return await submitted(ctx, reset, again=_users_again(ctx, data))


def _users_again(ctx: Ctx, data: dict[str, str]) -> Callable[..., Awaitable[Response]]:
    """The list again after a refused change, searched as the admin searched it."""
    return partial(_users_page, ctx, q=data.get("q", ""), role="")


def _back_to_users(data: dict[str, str]) -> str:
    """The list as the admin left it (their search kept)."""
    return "/admin/users" + (f"?q={quote(data['q'])}" if data.get("q") else "")
