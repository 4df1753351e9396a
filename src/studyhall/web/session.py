"""Cookie sessions and CSRF for the web pages.

A signed-in browser holds the API's own token pair in two HttpOnly cookies (SameSite=Lax, Secure
in production): the short-lived access token proves who is asking on every page, and the refresh
token renews it when it expires, exactly as an API client would. Blocking an account, a password
reset or a sign-out therefore ends a browser session as it ends an API session.

CSRF: double submit. A random value lives in its own HttpOnly cookie; every form carries it in a
hidden field (htmx sends it as a header) and every unsafe request must present both, equal.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.responses import Response

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.core.errors import AppError
from studyhall.identity import service
from studyhall.identity.dependencies import user_from_access_token
from studyhall.identity.models import Role, User
from studyhall.identity.schemas import TokenPair
from studyhall.identity.tokens import ACCESS_COOKIE
from studyhall.web.i18n import direction, pick_language, translator

REFRESH_COOKIE = "sh_refresh"
CSRF_COOKIE = "sh_csrf"
LANGUAGE_COOKIE = "sh_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in user; answered with a redirect to /sign-in."""

    def __init__(self, next_path: str = "/") -> None:
        self.next_path = next_path


class PageForbidden(Exception):
    """The signed-in user's role may not open this page."""


class CsrfRefused(Exception):
    """An unsafe request without a matching CSRF token."""


@dataclass
class WebContext:
    """What every page needs: the user (or None), language, the CSRF token and cookie changes."""

    request: Request
    settings: Settings
    db: Database
    user: User | None
    language: str
    csrf_token: str
    new_pair: TokenPair | None = None
    clear_session: bool = False
    set_csrf_cookie: bool = False
    extra_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def locales_dir(self) -> str | None:
        return _locales_dir(self.settings)

    @property
    def t(self) -> Any:
        return translator(self.language, self.locales_dir)

    @property
    def dir(self) -> str:
        return direction(self.language)

    @property
    def theme(self) -> str:
        if self.user is not None:
            return str((self.user.preferences or {}).get("theme") or "system")
        return "system"

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def is_htmx_target(self, element_id: str) -> bool:
        """An htmx request that only wants the element with this id (search as you type)."""
        return self.is_htmx and self.request.headers.get("hx-target") == element_id

    def require(self, *roles: Role) -> User:
        """The signed-in user, of one of `roles` when given; otherwise redirect or 403."""
        if self.user is None:
            path = self.request.url.path
            query = self.request.url.query
            raise SignInRequired(path + ("?" + query if query else ""))
        if roles and self.user.role not in roles:
            raise PageForbidden()
        return self.user


def _locales_dir(settings: Settings) -> str | None:
    return str(settings.web_locales_dir) if settings.web_locales_dir else None


def _secure(settings: Settings) -> bool:
    return settings.environment == "production"


async def _user_for_access(db: Database, settings: Settings, token: str) -> User | None:
    async with db.session(write=False) as session:
        try:
            user = await user_from_access_token(session, settings, token)
        except AppError:
            return None
        session.expunge(user)
        return user


async def web_context(request: Request) -> WebContext:
    """Resolve the browser's session (renewing the access token when it expired)."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    user: User | None = None
    new_pair: TokenPair | None = None
    clear = False
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if access:
        user = await _user_for_access(db, settings, access)
    if user is None and refresh:
        try:
            new_pair = await service.refresh(db, settings=settings, refresh_token=refresh)
        except AppError:
            clear = True  # revoked, reused, expired or the account is blocked
        else:
            user = await _user_for_access(db, settings, new_pair.access_token)
            if user is None:
                new_pair, clear = None, True
    elif user is None and access:
        clear = True
    csrf = request.cookies.get(CSRF_COOKIE) or ""
    set_csrf = not _valid_csrf_value(csrf)
    if set_csrf:
        csrf = secrets.token_urlsafe(32)
    preferred = (user.preferences or {}).get("language") if user is not None else None
    language = pick_language(
        [request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE), preferred]
        if user is None
        else [preferred],
        request.headers.get("accept-language"),
        _locales_dir(settings),
    )
    return WebContext(
        request=request,
        settings=settings,
        db=db,
        user=user,
        language=language,
        csrf_token=csrf,
        new_pair=new_pair,
        clear_session=clear,
        set_csrf_cookie=set_csrf,
    )


def _valid_csrf_value(value: str) -> bool:
    return 32 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()


async def check_csrf(ctx: WebContext) -> None:
    """Refuse an unsafe request whose form field (or htmx header) does not match the cookie."""
    request = ctx.request
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRefused()


def sign_in(ctx: WebContext, pair: TokenPair) -> None:
    """Remember a fresh token pair (set on the response by `apply_cookies`)."""
    ctx.new_pair = pair
    ctx.clear_session = False


def apply_cookies(ctx: WebContext, response: Response) -> Response:
    secure = _secure(ctx.settings)
    if ctx.set_csrf_cookie:
        response.set_cookie(
            CSRF_COOKIE, ctx.csrf_token, httponly=True, samesite="lax", secure=secure, path="/"
        )
    if ctx.new_pair is not None:
        # Each token in its cookie for as long as the token itself lives.
        for name, token, max_age in (
            (ACCESS_COOKIE, ctx.new_pair.access_token, ctx.settings.access_token_ttl_s),
            (REFRESH_COOKIE, ctx.new_pair.refresh_token, ctx.settings.refresh_token_ttl_s),
        ):
            response.set_cookie(
                name, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
            )
    elif ctx.clear_session:
        for name in (ACCESS_COOKIE, REFRESH_COOKIE):
            response.delete_cookie(name, path="/", secure=secure, httponly=True)
    for name, value in ctx.extra_cookies.items():
        response.set_cookie(
            name, value, max_age=365 * 24 * 3600, httponly=True, samesite="lax", secure=secure
        )
    return response
