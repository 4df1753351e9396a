"""Mounts the web interface on the app: static files, offline API docs, the pages and the
answers to "sign in first", "not for your role" and "form without its CSRF token"."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from studyhall.web import docs, pages
from studyhall.web.render import message, redirect
from studyhall.web.session import (
    CsrfRefused,
    PageForbidden,
    SignInRequired,
    WebContext,
    check_csrf,
    web_context,
)

STATIC = Path(__file__).parent / "static"


async def csrf_guard(ctx: WebContext = Depends(web_context)) -> None:
    """Every unsafe request to a page must carry the form's CSRF token."""
    await check_csrf(ctx)


def pages_router() -> APIRouter:
    """Every page module's router (a module of `pages` without one is a helper of the others;
    no two modules' routes overlap, so their order does not matter)."""
    router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])
    for found in sorted(pkgutil.iter_modules(pages.__path__), key=lambda module: module.name):
        module = importlib.import_module(f"{pages.__name__}.{found.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            router.include_router(module.router)
    return router


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    ctx = await web_context(request)
    ctx.clear_session = True
    return redirect(ctx, f"/sign-in?next={quote(exc.next_path, safe='/')}")


# Refusals answered by a page that says why: the exception, the page's title and its text.
REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    (PageForbidden, "Not allowed", "Your account cannot open this page."),
    (
        CsrfRefused,
        "Form expired",
        "This form was sent without its security token. Reload the page and try again.",
    ),
)


def _refusal(title: str, text: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def answer(request: Request, exc: Exception) -> Response:
        return message(await web_context(request), status_code=403, title=title, text=text)

    return answer


def install_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(docs.router)
    app.include_router(pages_router())
    app.add_exception_handler(SignInRequired, _sign_in_required)
    for refusal, title, text in REFUSALS:
        app.add_exception_handler(refusal, _refusal(title, text))
