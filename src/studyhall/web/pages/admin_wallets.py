"""Admin page of a user's wallet: balance, usage and movements, a top-up (or correction) and
the tier and daily limit. The billing service does the work, as for the API's routes; a top-up
form carries an idempotency key so a double click or a resent form credits once."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from studyhall.billing import service as billing
from studyhall.billing.schemas import TopupIn, WalletLimitsIn
from studyhall.core import idempotency
from studyhall.core.errors import AppError, Unprocessable
from studyhall.identity import service as identity
from studyhall.identity.models import Role, User
from studyhall.web.forms import form_data, validate
from studyhall.web.pages.common import (
    FRESH,
    REFUSED,
    Ctx,
    Form,
    as_uuid,
    form_page,
    refused,
    shown_again,
)
from studyhall.web.render import redirect
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False)
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
    ctx.require(Role.admin)
    try:
        return await _wallet_page(ctx, user_id)
    except AppError as exc:
        return refused(ctx, exc)


def _whole(data: dict[str, str], name: str) -> int | None:
    value = data.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Unprocessable("Enter a number", code="not_a_number") from None


async def _after(
    ctx: WebContext, user_id: uuid.UUID, exc: Exception, values: dict[str, Any]
) -> Response:
    return await shown_again(ctx, exc, partial(_wallet_page, ctx, user_id), values=values)


@router.post("/admin/users/{user_id}/wallet/topup")
async def topup(ctx: Ctx, user_id: uuid.UUID, request: Request) -> Response:
    """Credit tokens (a negative amount corrects); audited by the service."""
    admin = ctx.require(Role.admin)
    data = await form_data(request)
    try:
        key = as_uuid(data.get("idempotency_key", ""))
        if key is None:
            raise Unprocessable("This form is incomplete: reload the page", code="missing_key")
        fields: dict[str, Any] = {
            "amount": _whole(data, "amount"),
            "reason": data.get("reason", ""),
            "reference": data.get("reference", "").strip() or None,
        }
        body = validate(TopupIn, fields)
        async with ctx.db.session() as session:
            person: User = await identity.admin_get_user(session, user_id=user_id)
            request_shape = {"user_id": person.id, "body": body}
            first = await idempotency.claim(
                session, key=str(key), user_id=admin.id, route=TOPUP_ROUTE, request=request_shape
            )
            if first is None:  # not sent before: credit now, remember it in the same unit
                entry, view = await billing.topup(
                    session,
                    user_id=person.id,
                    amount=body.amount,
                    reason=body.reason,
                    reference=body.reference,
                    actor_id=admin.id,
                    settings=ctx.settings.billing,
                )
                await idempotency.complete(
                    session,
                    key=str(key),
                    user_id=admin.id,
                    route=TOPUP_ROUTE,
                    status_code=201,
                    body={"transaction_id": entry.id, "new_balance": view.balance},
                )
    except REFUSED as exc:
        return await _after(ctx, user_id, exc, data)
    return redirect(ctx, f"/admin/users/{user_id}/wallet")


@router.post("/admin/users/{user_id}/wallet/limits")
async def limits(ctx: Ctx, user_id: uuid.UUID, request: Request) -> Response:
    """The tier, and the daily limit when it was changed in the form (or given back to the
    tier): the form shows the limit in force, and sending it back untouched changes nothing."""
    admin = ctx.require(Role.admin)
    data = await form_data(request)
    try:
        to_tier = data.get("use_tier_limit") == "true"
        typed = _whole(data, "daily_limit")
        change = to_tier or typed != _whole(data, "shown_daily_limit")
        fields: dict[str, Any] = {}
        if change:
            fields["daily_limit"] = None if to_tier else typed
        if data.get("tier", "").strip():
            fields["tier"] = data["tier"].strip()
        body = validate(WalletLimitsIn, fields)
        async with ctx.db.session() as session:
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
    except REFUSED as exc:
        return await _after(ctx, user_id, exc, {})
    return redirect(ctx, f"/admin/users/{user_id}/wallet")
