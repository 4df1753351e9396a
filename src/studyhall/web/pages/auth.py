"""Pages for everyone: sign in and out, register, and the pages behind every mailed link."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from studyhall.identity import service
from studyhall.identity.oauth import service as oauth
from studyhall.identity.router import get_limiter
from studyhall.identity.schemas import (
    EmailIn,
    LoginIn,
    PasswordResetIn,
    RegisterIn,
    TokenIn,
    TokenPair,
)
from studyhall.web.forms import validate
from studyhall.web.pages.answers import FRESH, REFUSED, Form, form_page, refusal
from studyhall.web.pages.common import Ctx, Posted, SignedIn
from studyhall.web.render import redirect, safe_next
from studyhall.web.session import WebContext, apply_cookies, sign_in

router = APIRouter(include_in_schema=False)


def _bad_link(ctx: WebContext, exc: Exception) -> Form:
    """A mailed link's token refused (used, expired, unknown): 400 whatever the reason."""
    return replace(refusal(ctx, exc), status_code=400)


async def _login(ctx: WebContext, limiter: Any, email: str, password: str) -> TokenPair:
    return await service.login(
        ctx.db, settings=ctx.settings, limiter=limiter, login=email, password=password
    )


@router.get("/")
async def index(ctx: Ctx) -> Response:
    return redirect(ctx, "/home" if ctx.user else "/sign-in")


def sign_in_form(
    ctx: WebContext, next_path: str, *, login: str = "", form: Form = FRESH
) -> Response:
    """The sign-in form (with the external providers), also where a refused SSO sign-in lands."""
    providers = oauth.list_providers(ctx.settings)
    return form_page(
        ctx, "auth/sign_in.html", form, next=next_path, login=login, providers=providers
    )


@router.get("/sign-in")
async def sign_in_page(ctx: Ctx, next: str = "/home") -> Response:
    if ctx.user is not None:
        return redirect(ctx, safe_next(next, "/home"))
    return sign_in_form(ctx, safe_next(next, "/home"))


@router.post("/sign-in")
async def sign_in_submit(ctx: Ctx, request: Request, data: Posted) -> Response:
    next_path = safe_next(data.get("next"), "/home")
    try:
        body = validate(
            LoginIn, {"email": data.get("login", ""), "password": data.get("password", "")}
        )
        pair = await _login(ctx, await get_limiter(request), body.email, body.password)
    except REFUSED as exc:
        return sign_in_form(ctx, next_path, login=data.get("login", ""), form=refusal(ctx, exc))
    sign_in(ctx, pair)
    return redirect(ctx, next_path)


@router.post("/sign-out")
async def sign_out(ctx: Ctx, request: Request) -> Response:
    refresh = request.cookies.get("sh_refresh")
    if ctx.user is not None and refresh:
        async with ctx.db.session() as session:
            await service.logout(session, user=ctx.user, refresh_token=refresh)
    ctx.new_pair = None
    ctx.clear_session = True
    return redirect(ctx, "/sign-in")


@router.get("/session/check")
async def session_check(ctx: Ctx) -> Response:
    """Polled by every signed-in page: a blocked or signed-out session leaves the page at once."""
    if ctx.user is None:
        ctx.clear_session = True
        return redirect(ctx, "/sign-in")
    return apply_cookies(ctx, Response(status_code=204))


def _register_page(ctx: WebContext, form: Form = FRESH) -> Response:
    min_length = ctx.settings.password_min_length
    return form_page(ctx, "auth/register.html", form, values={}, min_length=min_length)


@router.get("/register")
async def register_page(ctx: Ctx) -> Response:
    return _register_page(ctx)


@router.post("/register")
async def register_submit(ctx: Ctx, request: Request, data: Posted) -> Response:
    fields = {k: data.get(k, "") for k in ("email", "password", "full_name")}
    limiter = await get_limiter(request)
    try:
        body = validate(RegisterIn, fields)
        async with ctx.db.session() as session:
            await service.register(session, settings=ctx.settings, limiter=limiter, data=body)
        pair = await _login(ctx, limiter, body.email, body.password)
    except REFUSED as exc:
        typed = {"email": fields["email"], "full_name": fields["full_name"]}
        return _register_page(ctx, refusal(ctx, exc, typed))
    sign_in(ctx, pair)
    return redirect(ctx, "/home")


def _verify_page(
    ctx: WebContext, *, token: str | None = None, verified: str | None = None, form: Form = FRESH
) -> Response:
    return form_page(ctx, "auth/verify_email.html", form, token=token, verified=verified)


@router.get("/verify-email")
async def verify_email_page(ctx: Ctx, token: str = "") -> Response:
    return _verify_page(ctx, token=token[:512])


@router.post("/verify-email")
async def verify_email_submit(ctx: Ctx, data: Posted) -> Response:
    try:
        body = validate(TokenIn, {"token": data.get("token", "")})
        async with ctx.db.session() as session:
            verified = await service.verify_email(session, token=body.token)
    except REFUSED as exc:
        return _verify_page(ctx, form=_bad_link(ctx, exc))
    if ctx.user is not None:
        ctx.user.is_verified = ctx.user.is_verified or ctx.user.email == verified.email
    return _verify_page(ctx, verified=verified.email)


@router.post("/verify-email/resend")
async def resend_verification(ctx: Ctx, request: Request, user: SignedIn) -> Response:
    try:
        async with ctx.db.session() as session:
            fresh = await session.merge(user)
            await service.resend_verification(
                session, settings=ctx.settings, limiter=await get_limiter(request), user=fresh
            )
    except REFUSED as exc:
        return form_page(ctx, "account/home.html", _bad_link(ctx, exc))
    notice = ctx.t("A verification email is on its way")
    return form_page(ctx, "account/home.html", FRESH, notice=notice)


def _forgot_page(ctx: WebContext, form: Form = FRESH, notice: str | None = None) -> Response:
    # Sent: the form gives way to the notice, said whether or not an account uses the address.
    sent = notice is not None
    return form_page(ctx, "auth/forgot_password.html", form, sent=sent, notice=notice)


@router.get("/forgot-password")
async def forgot_password_page(ctx: Ctx) -> Response:
    return _forgot_page(ctx)


@router.post("/forgot-password")
async def forgot_password_submit(ctx: Ctx, request: Request, data: Posted) -> Response:
    try:
        body = validate(EmailIn, {"email": data.get("email", "")})
        async with ctx.db.session() as session:
            await service.forgot_password(
                session, settings=ctx.settings, limiter=await get_limiter(request), email=body.email
            )
    except REFUSED as exc:
        return _forgot_page(ctx, refusal(ctx, exc))
    return _forgot_page(
        ctx, notice=ctx.t("If an account uses this address, a reset link has been sent")
    )


def _reset_page(
    ctx: WebContext,
    *,
    token: str | None = None,
    form: Form = FRESH,
    notice: str | None = None,
) -> Response:
    return form_page(
        ctx,
        "auth/reset_password.html",
        form,
        token=token,
        done=notice is not None,  # the new password is set: the way to sign in with it
        notice=notice,
        min_length=ctx.settings.password_min_length,
    )


@router.get("/reset-password")
async def reset_password_page(ctx: Ctx, token: str = "") -> Response:
    return _reset_page(ctx, token=token[:512])


@router.post("/reset-password")
async def reset_password_submit(ctx: Ctx, data: Posted) -> Response:
    token = data.get("token", "")[:512]
    try:
        body = validate(
            PasswordResetIn, {"token": token, "new_password": data.get("new_password", "")}
        )
        async with ctx.db.session() as session:
            await service.reset_password(
                session, settings=ctx.settings, token=body.token, new_password=body.new_password
            )
    except REFUSED as exc:
        return _reset_page(ctx, token=token, form=_bad_link(ctx, exc))
    # Every session of the account ended, this browser's too.
    ctx.user, ctx.new_pair, ctx.clear_session = None, None, True
    return _reset_page(ctx, notice=ctx.t("Your password is changed. Sign in with the new one."))
