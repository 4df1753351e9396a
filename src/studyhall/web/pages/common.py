"""What the page modules share: the context dependency, refusals shown as pages, markdown."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from fastapi.exceptions import RequestValidationError
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from starlette.responses import Response

from studyhall.core.errors import AppError
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


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
