"""Pages for everyone: sign in and out, register, and the pages behind every mailed link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.identity import service
from studyhall.identity.oauth import service as oauth
from studyhall.identity.router import get_limiter
from studyhall.identity.schemas import EmailIn, LoginIn, PasswordResetIn, RegisterIn, TokenIn
from studyhall.web.forms import form_data, problems, validate
from studyhall.web.render import page, redirect, safe_next
from studyhall.web.session import WebContext, apply_cookies, sign_in, web_context

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(web_context)]
REFUSED = (AppError, ValidationError, RequestValidationError)


@router.get("/")
async def index(ctx: Ctx) -> Response:
    return redirect(ctx, "/home" if ctx.user else "/sign-in")


@router.get("/sign-in")
async def sign_in_page(ctx: Ctx, next: str = "/home") -> Response:
    if ctx.user is not None:
        return redirect(ctx, safe_next(next, "/home"))
    return page(
        ctx,
        "auth/sign_in.html",
        next=safe_next(next, "/home"),
        login="",
        errors=[],
        providers=oauth.list_providers(ctx.settings),
    )


@router.post("/sign-in")
async def sign_in_submit(ctx: Ctx, request: Request) -> Response:
    data = await form_data(request)
    next_path = safe_next(data.get("next"), "/home")
    try:
        body = validate(
            LoginIn, {"email": data.get("login", ""), "password": data.get("password", "")}
        )
        pair = await service.login(
            ctx.db,
            settings=ctx.settings,
            limiter=await get_limiter(request),
            login=body.email,
            password=body.password,
        )
    except REFUSED as exc:
        return page(
            ctx,
            "auth/sign_in.html",
            status_code=getattr(exc, "status_code", 422),
            next=next_path,
            login=data.get("login", ""),
            errors=problems(exc, ctx.t),
            providers=oauth.list_providers(ctx.settings),
        )
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


@router.get("/register")
async def register_page(ctx: Ctx) -> Response:
    return page(
        ctx,
        "auth/register.html",
        form={},
        errors=[],
        min_length=ctx.settings.password_min_length,
    )


@router.post("/register")
async def register_submit(ctx: Ctx, request: Request) -> Response:
    data = await form_data(request)
    fields = {k: data.get(k, "") for k in ("email", "password", "full_name")}
    limiter = await get_limiter(request)
    try:
        body = validate(RegisterIn, fields)
        async with ctx.db.session() as session:
            await service.register(session, settings=ctx.settings, limiter=limiter, data=body)
        pair = await service.login(
            ctx.db,
            settings=ctx.settings,
            limiter=limiter,
            login=body.email,
            password=body.password,
        )
    except REFUSED as exc:
        return page(
            ctx,
            "auth/register.html",
            status_code=getattr(exc, "status_code", 422),
            form={"email": fields["email"], "full_name": fields["full_name"]},
            errors=problems(exc, ctx.t),
            min_length=ctx.settings.password_min_length,
        )
    sign_in(ctx, pair)
    return redirect(ctx, "/home")


@router.get("/verify-email")
async def verify_email_page(ctx: Ctx, token: str = "") -> Response:
    return page(ctx, "auth/verify_email.html", token=token[:512], verified=None, errors=[])


@router.post("/verify-email")
async def verify_email_submit(ctx: Ctx, request: Request) -> Response:
    data = await form_data(request)
    try:
        body = validate(TokenIn, {"token": data.get("token", "")})
        async with ctx.db.session() as session:
            verified = await service.verify_email(session, token=body.token)
    except REFUSED as exc:
        return page(
            ctx,
            "auth/verify_email.html",
            status_code=400,
            token=None,
            verified=None,
            errors=problems(exc, ctx.t),
        )
    if ctx.user is not None:
        ctx.user.is_verified = ctx.user.is_verified or ctx.user.email == verified.email
    return page(ctx, "auth/verify_email.html", token=None, verified=verified.email, errors=[])


@router.post("/verify-email/resend")
async def resend_verification(ctx: Ctx, request: Request) -> Response:
    user = ctx.require()
    try:
        async with ctx.db.session() as session:
            fresh = await session.merge(user)
            await service.resend_verification(
                session, settings=ctx.settings, limiter=await get_limiter(request), user=fresh
            )
    except REFUSED as exc:
        return page(ctx, "account/home.html", status_code=400, errors=problems(exc, ctx.t))
    return page(
        ctx, "account/home.html", errors=[], notice=ctx.t("A verification email is on its way")
    )


@router.get("/forgot-password")
async def forgot_password_page(ctx: Ctx) -> Response:
    return page(ctx, "auth/forgot_password.html", sent=False, errors=[])


@router.post("/forgot-password")
async def forgot_password_submit(ctx: Ctx, request: Request) -> Response:
    data = await form_data(request)
    try:
        body = validate(EmailIn, {"email": data.get("email", "")})
        async with ctx.db.session() as session:
            await service.forgot_password(
                session,
                settings=ctx.settings,
                limiter=await get_limiter(request),
                email=body.email,
            )
    except REFUSED as exc:
        return page(
            ctx,
            "auth/forgot_password.html",
            status_code=getattr(exc, "status_code", 422),
            sent=False,
            errors=problems(exc, ctx.t),
        )
    return page(
        ctx,
        "auth/forgot_password.html",
        sent=True,
        errors=[],
        notice=ctx.t("If an account uses this address, a reset link has been sent"),
    )


@router.get("/reset-password")
async def reset_password_page(ctx: Ctx, token: str = "") -> Response:
    return page(
        ctx,
        "auth/reset_password.html",
        token=token[:512],
        done=False,
        errors=[],
        min_length=ctx.settings.password_min_length,
    )


@router.post("/reset-password")
async def reset_password_submit(ctx: Ctx, request: Request) -> Response:
    data = await form_data(request)
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
        return page(
            ctx,
            "auth/reset_password.html",
            status_code=400,
            token=token,
            done=False,
            errors=problems(exc, ctx.t),
            min_length=ctx.settings.password_min_length,
        )
    # Every session of the account ended, this browser's too.
    ctx.user, ctx.new_pair, ctx.clear_session = None, None, True
    return page(
        ctx,
        "auth/reset_password.html",
        token=None,
        done=True,
        errors=[],
        notice=ctx.t("Your password is changed. Sign in with the new one."),
        min_length=ctx.settings.password_min_length,
    )
