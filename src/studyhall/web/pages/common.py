"""What the page modules share about who asks and what they reach: the context, the user of a
role and the posted form as route parameters, the courses as the API's loaders give them, the
first rows of a list, markdown and CSV files. How a page answers is in `answers`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.courses.dependencies import course_by_id, course_for_owner, course_for_teacher
from studyhall.courses.models import Course
from studyhall.identity.models import Role, User
from studyhall.web.forms import form_data
from studyhall.web.session import WebContext, web_context

Ctx = Annotated[WebContext, Depends(web_context)]
M = TypeVar("M", bound=BaseModel)
# CommonMark without raw HTML: a lesson's text can never inject markup or script.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


async def _teacher(ctx: Ctx) -> User:
    return ctx.require(Role.teacher, Role.admin)


async def _admin(ctx: Ctx) -> User:
    return ctx.require(Role.admin)


async def _student(ctx: Ctx) -> User:
    return ctx.require(Role.student)


async def _signed_in(ctx: Ctx) -> User:
    return ctx.require()


# The signed-in user of a page for these roles (else the sign-in page, or 403), and a posted
# form's text fields: what a route's parameters ask for before its own work starts.
Teacher = Annotated[User, Depends(_teacher)]  # a course's owner or assistant, or an admin
Admin = Annotated[User, Depends(_admin)]
Student = Annotated[User, Depends(_student)]
SignedIn = Annotated[User, Depends(_signed_in)]  # any role
Posted = Annotated[dict[str, str], Depends(form_data)]
# A router's pages are for these roles only (its routes that need the user take it as above).
TEACHERS_ONLY = Depends(_teacher)
ADMINS_ONLY = Depends(_admin)


def markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))  # noqa: S704  (escaped by markdown-it, html off)


async def first_rows(
    ctx: WebContext,
    list_rows: Callable[..., Awaitable[tuple[Sequence[Any], int]]],
    out: type[M],
    limit: int,
) -> tuple[list[M], int]:
    """The first `limit` rows a service lists (`list_rows(session, limit=, offset=)`), as the
    API's output schema `out` shows them, and how many there are."""
    async with ctx.db.session(write=False) as session:
        rows, total = await list_rows(session, limit=limit, offset=0)
    return [out.model_validate(row) for row in rows], total


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
