"""What the page modules share: the context dependency, refusals shown as pages, markdown."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends
from fastapi.exceptions import RequestValidationError
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.web.forms import problems, status_of
from studyhall.web.render import page
from studyhall.web.session import WebContext, web_context

Ctx = Annotated[WebContext, Depends(web_context)]
REFUSED = (AppError, ValidationError, RequestValidationError)
# CommonMark without raw HTML: a lesson's text can never inject markup or script.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))  # noqa: S704  (escaped by markdown-it, html off)


def refused(ctx: WebContext, exc: AppError) -> Response:
    """A service's refusal (404, 403, 409...) as a page with the same status."""
    return page(
        ctx,
        "message.html",
        status_code=exc.status_code,
        title=ctx.t("Not available"),
        message=ctx.t(exc.message),
    )


async def shown(ctx: WebContext, render: Awaitable[Response]) -> Response:
    """A page whose loader may refuse (the thing is gone, or not the user's): the refusal as a
    page with its status."""
    try:
        return await render
    except AppError as exc:
        return refused(ctx, exc)


async def shown_again(
    ctx: WebContext, exc: Exception, render: Callable[..., Awaitable[Response]], **values: Any
) -> Response:
    """A refused form: `render` (its page) again with what went wrong and the refusal's status,
    `values` passed on (what was typed); the refusal alone when the page itself is gone."""
    return await shown(
        ctx, render(status_code=status_of(exc), errors=problems(exc, ctx.t), **values)
    )


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
