"""Admin page of a user's wallet: balance, usage and movements, a top-up (or correction) and
the tier and daily limit. The billing service does the work, as for the API's routes; a top-up
form carries an idempotency key so a double click or a resent form credits once."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.billing import service as billing
from studyhall.billing.schemas import TopupIn, WalletLimitsIn
from studyhall.core import idempotency
from studyhall.core.errors import Unprocessable
from studyhall.identity import service as identity
from studyhall.identity.models import User
from studyhall.web.forms import number, validate
from studyhall.web.pages.answers import FRESH, Form, form_page, shown, submitted
from studyhall.web.pages.common import ADMINS_ONLY, Admin, Ctx, Posted, as_uuid
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False, dependencies=[ADMINS_ONLY])
SHOWN = 30
# Its own route name in the idempotency table: a key the page made never replays an API call.
TOPUP_ROUTE = "web POST /admin/users/{user_id}/wallet/topup"


async def _wallet_page(
    ctx: WebContext,
    user_id: uuid.UUID,
    *,
    form: Form = FRESH,
) -> Response:
    async with ctx.db.session() as session:  # a first look creates the wallet, as in the API
        person = await identity.admin_get_user(session, user_id=user_id)
        wallet = await billing.get_wallet(session, user_id=person.id, settings=ctx.settings.billing)
        ledger = await billing.list_transactions(session, user_id=person.id, limit=SHOWN)
    return form_page(
        ctx,
        "admin/wallet.html",
        form,
        person=person,
        wallet=wallet,
        entries=ledger.entries,
        idempotency_key=str(uuid.uuid4()),
        values={},
    )


@router.get("/admin/users/{user_id}/wallet")
async def wallet(ctx: Ctx, user_id: uuid.UUID) -> Response:
    return await shown(ctx, _wallet_page(ctx, user_id))


@router.post("/admin/users/{user_id}/wallet/topup")
async def topup(ctx: Ctx, user_id: uuid.UUID, admin: Admin, data: Posted) -> Response:
    """Credit tokens (a negative amount corrects); audited by the service."""

    async def credit(session: AsyncSession) -> str:
        key = as_uuid(data.get("idempotency_key", ""))
        if key is None:
            raise Unprocessable("This form is incomplete: reload the page", code="missing_key")
        fields: dict[str, Any] = {
            "amount": number(data, "amount"),
            "reason": data.get("reason", ""),
            "reference": data.get("reference", "").strip() or None,
        }
        body = validate(TopupIn, fields)
        person: User = await identity.admin_get_user(session, user_id=user_id)

        async def topup() -> dict[str, Any]:
            entry, view = await billing.topup(
                session,
                user_id=person.id,
                request=body,
                actor_id=admin.id,
                settings=ctx.settings.billing,
            )
            return {"transaction_id": entry.id, "new_balance": view.balance}

        # A key sent before: credited then, not again (the page goes to the wallet all the same).
        await idempotency.Idempotent(session, str(key)).run(
            topup,
            user_id=admin.id,
            route=TOPUP_ROUTE,
            request={"user_id": person.id, "body": body},
            status_code=201,
        )
        return f"/admin/users/{user_id}/wallet"

    return await submitted(ctx, credit, again=partial(_wallet_page, ctx, user_id), values=data)


@router.post("/admin/users/{user_id}/wallet/limits")
async def limits(ctx: Ctx, user_id: uuid.UUID, admin: Admin, data: Posted) -> Response:
    """The tier, and the daily limit when it was changed in the form (or given back to the
    tier): the form shows the limit in force, and sending it back untouched changes nothing."""

    async def set_limits(session: AsyncSession) -> str:
        to_tier = data.get("use_tier_limit") == "true"
        typed = number(data, "daily_limit")
        change = to_tier or typed != number(data, "shown_daily_limit")
        fields: dict[str, Any] = {}
        if change:
            fields["daily_limit"] = None if to_tier else typed
        if data.get("tier", "").strip():
            fields["tier"] = data["tier"].strip()
        body = validate(WalletLimitsIn, fields)
        person = await identity.admin_get_user(session, user_id=user_id)
        await billing.set_limits(
            session,
            user_id=person.id,
            actor_id=admin.id,
            tier=body.tier,
            daily_limit=body.daily_limit,
            change_daily_limit=change,
            settings=ctx.settings.billing,
        )
        return f"/admin/users/{user_id}/wallet"

    return await submitted(ctx, set_limits, again=partial(_wallet_page, ctx, user_id), values={})
