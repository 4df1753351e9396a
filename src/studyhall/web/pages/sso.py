"""Sign in with the configured external providers (Google, GitHub, a school's OpenID Connect).

The service runs the authorization-code flow with PKCE and a server-side state; the page binds
that state to this browser with a short-lived cookie as well, so a sign-in started elsewhere
cannot be finished here (login CSRF). The start is a link (GET): a form's redirect to the
provider would be stopped by the pages' CSP `form-action 'self'`.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from studyhall.core.errors import AppError
from studyhall.identity.oauth import service as oauth
from studyhall.identity.oauth.errors import InvalidState
from studyhall.identity.oauth.schemas import CallbackIn
from studyhall.identity.router import get_limiter
from studyhall.web.pages.answers import refusal
from studyhall.web.pages.auth import sign_in_form
from studyhall.web.pages.common import Ctx
from studyhall.web.render import redirect
from studyhall.web.session import apply_cookies, sign_in

router = APIRouter(include_in_schema=False)
STATE_COOKIE = "sh_sso_state"


def callback_uri(request: Request, provider: str) -> str:
    return str(request.base_url).rstrip("/") + f"/sign-in/sso/{provider}/callback"


async def _context(ctx: Ctx, request: Request) -> oauth.SignInContext:
    """A sign-in from the pages: nobody is signed in on them yet (no link)."""
    return oauth.SignInContext(ctx.db, ctx.settings, await get_limiter(request))


def _refused(ctx: Ctx, exc: AppError) -> Response:
    return sign_in_form(ctx, "/home", form=refusal(ctx, exc))


@router.get("/sign-in/sso/{provider}")
async def start(ctx: Ctx, provider: str, request: Request) -> Response:
    try:
        out = await oauth.start_authorization(
            await _context(ctx, request),
            provider=provider[:64],
            redirect_uri=callback_uri(request, provider[:64]),
        )
    except AppError as exc:
        return _refused(ctx, exc)
    response = RedirectResponse(out.authorization_url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        out.state,
        max_age=ctx.settings.auth.state_ttl_s,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=ctx.settings.environment == "production",
        path="/sign-in/sso",
    )
    return apply_cookies(ctx, response)


@router.get("/sign-in/sso/{provider}/callback")
async def callback(
    ctx: Ctx, provider: str, request: Request, code: str = "", state: str = ""
) -> Response:
    """The provider sends the person back with a code (or an error) and our state."""
    held = request.cookies.get(STATE_COOKIE, "")
    try:
        if not code or not state or not hmac.compare_digest(held.encode(), state.encode()):
            raise InvalidState()
        # The provider's values as they came, cut to the API's lengths but not checked as a
        # JSON body would be: what the service cannot use it refuses, with its own errors.
        callback = CallbackIn.model_construct(
            code=code[:2048], state=state[:512], redirect_uri=callback_uri(request, provider[:64])
        )
        pair = await oauth.sign_in_with_code(
            await _context(ctx, request), provider=provider[:64], data=callback
        )
    except AppError as exc:
        response = _refused(ctx, exc)
    else:
        sign_in(ctx, pair)
        response = redirect(ctx, "/home")
    response.delete_cookie(STATE_COOKIE, path="/sign-in/sso")
    return response
