"""How a page answers: a page read in one unit of work, a form's change in one unit of work and
the redirect after it, a form shown again with what went wrong, a refusal (404, 403, 409...) as
a page with its status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.web.forms import problems, status_of
from studyhall.web.render import message, page, redirect
from studyhall.web.session import WebContext

REFUSED = (AppError, ValidationError, RequestValidationError)
T = TypeVar("T")
# What a page reads, or a form changes, in one unit of work (given its session).
Unit = Callable[[AsyncSession], Awaitable[T]]


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


async def answered(ctx: WebContext, load: Unit[T], answer: Callable[[T], Response]) -> Response:
    """What `load` reads in one read-only unit of work, answered by `answer` (a page, a file);
    a refusal of its loaders (the thing is gone, or not the user's) as a page with its status."""
    try:
        async with ctx.db.session(write=False) as session:
            loaded = await load(session)
    except AppError as exc:
        return refused(ctx, exc)
    return answer(loaded)


async def viewed(ctx: WebContext, template: str, load: Unit[dict[str, Any]]) -> Response:
    """A page whose values `load` reads in one read-only unit of work (see `answered`)."""
    return await answered(ctx, load, lambda values: page(ctx, template, **values))


async def submitted(
    ctx: WebContext,
    change: Unit[Any],
    *,
    again: Callable[..., Awaitable[Response]] | None = None,
    values: dict[str, Any] | None = None,
    done: Callable[[Any], Awaitable[Response]] | None = None,
) -> Response:
    """A form's change in one unit of work (committed when it returns). Taken: `done` with what
    `change` returned, by default a redirect to the URL it returned. Refused: `again` (the form's
    page, taking `form=`) with what went wrong and `values` as typed; without a form to show
    again, the refusal alone as a page."""
    try:
        async with ctx.db.session() as session:
            result = await change(session)
    except REFUSED as exc:
        if again is not None:
            return await shown_again(ctx, exc, again, values)
        if not isinstance(exc, AppError):
            raise
        return refused(ctx, exc)
    return await done(result) if done is not None else redirect(ctx, result)
