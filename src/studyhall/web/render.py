"""Rendering: the Jinja2 environment, the pages' security headers and redirects."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from studyhall import __version__
from studyhall.web.i18n import languages
from studyhall.web.session import CSRF_FIELD, WebContext, apply_cookies

TEMPLATES = Path(__file__).parent / "templates"
# Everything the pages load comes from this server: no inline script, no third party.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' https: blob:; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية"}

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
env.globals["version"] = __version__
env.globals["csrf_field"] = CSRF_FIELD
# The labelled input of the forms, called by every template without an import.
env.globals["field"] = env.get_template("_panels.html").module.field  # type: ignore[attr-defined]


def page(ctx: WebContext, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a template for this request, with the session's cookie changes applied (the
    templates read the language, direction and theme from `ctx`)."""
    html = env.get_template(template).render(
        ctx=ctx,
        user=ctx.user,
        t=ctx.t,
        csrf_token=ctx.csrf_token,
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in languages()],
        is_htmx=ctx.request.headers.get("hx-request") == "true",
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_CSP
    response.headers["cache-control"] = "no-store"
    response.headers["vary"] = "Cookie, HX-Request"
    return apply_cookies(ctx, response)  # type: ignore[return-value]


def message(ctx: WebContext, *, status_code: int, title: str, text: str) -> HTMLResponse:
    """A page that only says something: why a page is refused or a form was not taken (the
    title and text in the visitor's language)."""
    return page(
        ctx, "message.html", status_code=status_code, title=ctx.t(title), message=ctx.t(text)
    )


def redirect(ctx: WebContext, url: str) -> Response:
    """303 to a page of ours (htmx requests get HX-Redirect so the whole page moves)."""
    target = safe_next(url)
    if ctx.request.headers.get("hx-request") == "true":
        response: Response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    return apply_cookies(ctx, response)


def safe_next(url: str | None, default: str = "/") -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return default
    if "\\" in url:
        return default
    return url
