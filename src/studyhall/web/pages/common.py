"""What the page modules share: the context dependency, refusals shown as pages, markdown."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.exceptions import RequestValidationError
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.courses.dependencies import course_by_id, course_for_owner, course_for_teacher
from studyhall.courses.models import Course
from studyhall.identity.models import User
from studyhall.web.forms import problems, status_of
from studyhall.web.render import message, page
from studyhall.web.session import WebContext, web_context

Ctx = Annotated[WebContext, Depends(web_context)]
REFUSED = (AppError, ValidationError, RequestValidationError)
# CommonMark without raw HTML: a lesson's text can never inject markup or script.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))  # noqa: S704  (escaped by markdown-it, html off)


def refused(ctx: WebContext, exc: AppError) -> Response:
    """A service's refusal (404, 403, 409...) as a page with the same status."""
    return message(ctx, status_code=exc.status_code, title="Not available", text=exc.message)


async def shown(ctx: WebContext, render: Awaitable[Response]) -> Response:
    """A page whose loader may refuse (the thing is gone, or not the user's): the refusal as a
    page with its status."""
    try:
        return await render
    except AppError as exc:
        return refused(ctx, exc)


@dataclass(frozen=True)
class Form:
    """How a page with a form is shown: the first time (200, nothing wrong, the stored values),
    or again after a refusal (its status, what went wrong, what was typed)."""

    status_code: int = 200
    errors: tuple[str, ...] = ()
    values: dict[str, Any] | None = None


FRESH = Form()


def form_page(
    ctx: WebContext,
    template: str,
    form: Form,
    *,
    values: dict[str, Any] | None = None,
    **context: Any,
) -> Response:
    """`page` for a page with a form: the form's status and errors, and what was typed (else
    `values`, what the form shows the first time; none for a page without fields to refill)."""
    if values is not None:
        context["values"] = form.values or values
    return page(ctx, template, status_code=form.status_code, errors=list(form.errors), **context)


def refusal(ctx: WebContext, exc: Exception, values: dict[str, Any] | None = None) -> Form:
    """The form again after `exc`: its status and what went wrong, `values` as typed."""
    return Form(status_code=status_of(exc), errors=tuple(problems(exc, ctx.t)), values=values)


async def shown_again(
    ctx: WebContext,
    exc: Exception,
    render: Callable[..., Awaitable[Response]],
    values: dict[str, Any] | None = None,
) -> Response:
    """A refused form: `render` (its page, taking `form=`) again with what went wrong and the
    refusal's status, `values` as typed; the refusal alone when the page itself is gone."""
    return await shown(ctx, render(form=refusal(ctx, exc, values)))


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def owned_course(session: AsyncSession, user: User, course_id: uuid.UUID) -> Course:
    """A course its owner (or an admin) changes: the API's loaders, so the same 404 and 403."""
    return await course_for_owner(await course_by_id(course_id, user, session), user)


async def taught_course(session: AsyncSession, user: User, course_id: uuid.UUID) -> Course:
    """A course its teachers (owner, assistants, admin) read: the API's loaders."""
    return await course_for_teacher(await course_by_id(course_id, user, session), user, session)


def csv_download(text: str, filename: str) -> Response:
    """A CSV file the browser saves (never cached: it holds students' data)."""
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )
