"""Mounts the web interface on the app: static files, offline API docs, the pages and the
answers to "sign in first", "not for your role" and "form without its CSRF token"."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from studyhall.web import docs
from studyhall.web.pages import (
    account,
    admin,
    admin_ops,
    admin_platform,
    admin_prompts,
    admin_sources,
    admin_wallets,
    auth,
    checkout,
    sso,
    student,
    teach_content,
    teach_editor,
    teach_insights,
    teach_quizzes,
    teacher,
    tutor,
    video,
    work,
)
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
    router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])
    for module in (
        auth,
        sso,
        account,
        student,
        checkout,
        work,
        tutor,
        teacher,
        teach_content,
        teach_editor,
        teach_insights,
        teach_quizzes,
        video,
        admin,
        admin_ops,
        admin_platform,
        admin_prompts,
        admin_sources,
        admin_wallets,
    ):
        router.include_router(module.router)
    return router


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    ctx = await web_context(request)
    ctx.clear_session = True
    return redirect(ctx, f"/sign-in?next={quote(exc.next_path, safe='/')}")


async def _page_forbidden(request: Request, exc: Exception) -> Response:
    return message(
        await web_context(request),
        status_code=403,
        title="Not allowed",
        text="Your account cannot open this page.",
    )


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return message(
        await web_context(request),
        status_code=403,
        title="Form expired",
        text="This form was sent without its security token. Reload the page and try again.",
    )


def install_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(docs.router)
    app.include_router(pages_router())
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(PageForbidden, _page_forbidden)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
