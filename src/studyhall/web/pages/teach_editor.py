"""The course editor: create and edit a course, its modules and its lessons (Markdown), and put
them in order. Every change goes through the courses service the JSON API uses, with the same
input schemas; only the course's owner or an admin changes anything, its assistants read the
outline.

Reordering works as plain form posts (each "move up/down" button posts the new position) and,
with htmx, swaps only the outline so the page does not jump."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.core.errors import AppError, Unprocessable
from studyhall.courses import service as courses
from studyhall.courses.dependencies import (
    course_for_teacher,
    lesson_by_id,
    lesson_for_owner,
    module_for_owner,
)
from studyhall.courses.models import Course, Lesson, Module
from studyhall.courses.schemas import (
    CourseCreate,
    CourseUpdate,
    LessonCreate,
    LessonUpdate,
    ModuleCreate,
    ModuleUpdate,
)
from studyhall.identity.models import User
from studyhall.web.forms import number, validate
from studyhall.web.pages import video as video_pages
from studyhall.web.pages.answers import (
    FRESH,
    REFUSED,
    Form,
    form_page,
    refused,
    shown,
    shown_again,
    submitted,
)
from studyhall.web.pages.common import (
    TEACHERS_ONLY,
    Ctx,
    Posted,
    Teacher,
    markdown,
    owned_course,
    taught_course,
)
from studyhall.web.render import redirect
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False, dependencies=[TEACHERS_ONLY])
OUTLINE = "outline"
COURSE_FIELDS = ("title", "code", "description", "guide", "language", "level", "image_url")


def _course_fields(data: dict[str, str]) -> dict[str, Any]:
    """The course form as the API's body: blank optional fields left out (or cleared)."""
    fields: dict[str, Any] = {name: data[name].strip() for name in COURSE_FIELDS if name in data}
    if not fields.get("code"):
        # New course: StudyHall picks a code, as for an API client that sends none; an edit
        # without one keeps the course's code.
        fields.pop("code", None)
    # Blank optional fields clear them: no level, a free course, no cover image.
    for name in ("level", "image_url"):
        if name in fields and not fields[name]:
            fields[name] = None
    if "price" in data:
        # "49,90" as typed in much of the world; the schema checks digits and decimals.
        fields["price"] = data["price"].strip().replace(",", ".") or None
    for name in ("visibility", "quiz_grading"):
        if data.get(name):
            fields[name] = data[name]
    fields["is_published"] = data.get("is_published") == "true"
    return fields


def _int_field(data: dict[str, str], name: str) -> int | None:
    """A whole number typed in a form (the API's schemas take JSON integers only)."""
    try:
        return number(data, name, int)
    except Unprocessable:
        return -1  # refused by the schema's own minimum, with its own message


# ---------------------------------------------------------------- courses


def _course_values(course: Course) -> dict[str, Any]:
    return {
        **{name: getattr(course, name) or "" for name in COURSE_FIELDS},
        "visibility": course.visibility.value,
        "quiz_grading": course.quiz_grading.value,
        "is_published": course.is_published,
        "price": "" if course.price is None else f"{course.price:.2f}",
    }


async def _new_course_page(ctx: WebContext, *, form: Form = FRESH) -> Response:
    return form_page(ctx, "teacher/course_new.html", form, values={"language": ctx.language})


@router.get("/teach/courses/new")
async def new_course(ctx: Ctx) -> Response:
    return await _new_course_page(ctx)


def _as_typed(data: dict[str, str]) -> dict[str, Any]:
    """The course form as typed, to show again (the checkbox as the template reads it)."""
    return {**data, "is_published": data.get("is_published") == "true"}


@router.post("/teach/courses/new")
async def create_course(ctx: Ctx, user: Teacher, data: Posted) -> Response:
    async def create(session: AsyncSession) -> str:
        body = validate(CourseCreate, _course_fields(data))
        created = await courses.create_course(session, actor=user, data=body)
        return f"/teach/courses/{created.id}/edit"

    return await submitted(
        ctx, create, again=partial(_new_course_page, ctx), values=_as_typed(data)
    )


async def _editor(
    ctx: WebContext,
    user: User,
    course_id: uuid.UUID,
    *,
    form: Form = FRESH,
    notice: str | None = None,
) -> Response:
    """The editor page (or only its outline, for htmx), as the user may see it."""
    async with ctx.db.session(write=False) as session:
        course = await taught_course(session, user, course_id)
        detail = await courses.course_detail(session, course=course)
    loose = [lesson for lesson in detail.lessons if lesson.module_id is None]
    template = (
        "teacher/_outline.html" if ctx.is_htmx_target(OUTLINE) else "teacher/course_edit.html"
    )
    if ctx.is_htmx_target(OUTLINE):
        # htmx swaps only 2xx answers: a refused outline change is shown in the outline itself.
        form = replace(form, status_code=200)
    return form_page(
        ctx,
        template,
        form,
        course=course,
        detail=detail,
        loose=loose,
        can_edit=courses.manages(user, course),
        values=_course_values(course),
        notice=notice,
        tab="content",
    )


@router.get("/teach/courses/{course_id}/edit")
async def edit_course(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
    return await shown(ctx, _editor(ctx, user, course_id))


@router.post("/teach/courses/{course_id}/edit")
async def update_course(ctx: Ctx, course_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    async def update(session: AsyncSession) -> str:
        course = await owned_course(session, user, course_id)
        body = validate(CourseUpdate, _course_fields(data))
        await courses.update_course(session, actor=user, course=course, data=body)
        return f"/teach/courses/{course_id}/edit"

    return await submitted(
        ctx, update, again=partial(_editor, ctx, user, course_id), values=_as_typed(data)
    )


@router.post("/teach/courses/{course_id}/delete")
async def delete_course(ctx: Ctx, course_id: uuid.UUID, user: Teacher) -> Response:
    async def delete(session: AsyncSession) -> str:
        course = await owned_course(session, user, course_id)
        await courses.delete_course(session, actor=user, course=course)
        return "/teach/courses"

    return await submitted(ctx, delete)


async def _done(ctx: WebContext, user: User, course_id: uuid.UUID, anchor: str = "") -> Response:
    """After a change: the new outline for htmx, the editor again for a plain form post."""
    if ctx.is_htmx_target(OUTLINE):
        return await _editor(ctx, user, course_id, notice=ctx.t("Saved."))
    return redirect(ctx, f"/teach/courses/{course_id}/edit{anchor}")


# ---------------------------------------------------------------- modules


@router.post("/teach/courses/{course_id}/modules")
async def add_module(ctx: Ctx, course_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    async def add(session: AsyncSession) -> None:
        course = await owned_course(session, user, course_id)
        body = validate(ModuleCreate, {"title": data.get("title", "").strip()})
        await courses.create_module(session, course=course, data=body)

    return await submitted(
        ctx,
        add,
        again=partial(_editor, ctx, user, course_id),
        done=lambda _: _done(ctx, user, course_id, "#outline"),
    )


@router.post("/teach/courses/{course_id}/lessons")
async def add_lesson(ctx: Ctx, course_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    """A new lesson at the end of a module (or of the lessons without one), then its editor."""

    async def add(session: AsyncSession) -> Lesson:
        course = await owned_course(session, user, course_id)
        fields = {
            "title": data.get("title", "").strip(),
            "module_id": data.get("module_id") or None,
        }
        return await courses.create_lesson(
            session, course=course, data=validate(LessonCreate, fields)
        )

    async def done(lesson: Lesson) -> Response:
        if ctx.is_htmx_target(OUTLINE):
            return await _done(ctx, user, course_id)
        return redirect(ctx, f"/teach/lessons/{lesson.id}/edit")

    return await submitted(ctx, add, again=partial(_editor, ctx, user, course_id), done=done)


# ---------------------------------------------------------------- outline changes

# Loads a module or a lesson (by its id) of a course the user owns.
Loader = Callable[[uuid.UUID, AsyncSession, User], Awaitable[Module | Lesson]]
# What an outline change does to the module or lesson it loaded, with the posted form.
Change = Callable[[AsyncSession, Any, dict[str, str]], Awaitable[object]]


async def _outline_change(
    ctx: WebContext,
    user: User,
    data: dict[str, str],
    load: Callable[[AsyncSession, User], Awaitable[Module | Lesson]],
    change: Change,
) -> Response:
    """Change a module or a lesson of a course the user owns, then show the outline again."""
    course_id: uuid.UUID | None = None
    try:
        async with ctx.db.session() as session:
            item = await load(session, user)
            course_id = item.course_id
            await change(session, item, data)
    except REFUSED as exc:
        if course_id is None:
            assert isinstance(exc, AppError)  # only the loader runs before the course is known
            return refused(ctx, exc)
        return await shown_again(ctx, exc, partial(_editor, ctx, user, course_id))
    return await _done(ctx, user, course_id, "#outline")


async def _owned_module(module_id: uuid.UUID, session: AsyncSession, user: User) -> Module:
    return await module_for_owner(module_id, user, session)


async def _owned_lesson(lesson_id: uuid.UUID, session: AsyncSession, user: User) -> Lesson:
    return await lesson_for_owner(await lesson_by_id(lesson_id, user, session), user, session)


async def _save_module(session: AsyncSession, module: Module, data: dict[str, str]) -> None:
    """Rename a module or move it (the up/down buttons post its new position)."""
    fields: dict[str, Any] = {}
    if "title" in data:
        fields["title"] = data["title"].strip()
    if "position" in data:
        fields["position"] = _int_field(data, "position")
    await courses.update_module(session, module=module, data=validate(ModuleUpdate, fields))


async def _move_lesson(session: AsyncSession, lesson: Lesson, data: dict[str, str]) -> None:
    """Move a lesson within its module (the up/down buttons post its new position)."""
    body = validate(LessonUpdate, {"position": _int_field(data, "position")})
    await courses.update_lesson(session, lesson=lesson, data=body)


async def _delete(session: AsyncSession, item: Module | Lesson, _data: dict[str, str]) -> None:
    if isinstance(item, Module):
        await courses.delete_module(session, module=item)
    else:
        await courses.delete_lesson(session, lesson=item)


def _outline_route(id_name: str, load: Loader, change: Change) -> Callable[..., Any]:
    """The route of one outline change, its module's or lesson's id read from the path."""

    async def route(ctx: Ctx, item_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
        return await _outline_change(ctx, user, data, partial(load, item_id), change)

    # The path names the id module_id or lesson_id (a refusal of a bad one names it likewise).
    route.__annotations__["item_id"] = Annotated[uuid.UUID, Path(alias=id_name)]
    route.__doc__ = change.__doc__
    return route


# (path, the id's name in it, its loader, the change, the route's name)
OUTLINE_CHANGES: tuple[tuple[str, str, Loader, Change, str], ...] = (
    ("/teach/modules/{module_id}", "module_id", _owned_module, _save_module, "update_module"),
    ("/teach/modules/{module_id}/delete", "module_id", _owned_module, _delete, "delete_module"),
    ("/teach/lessons/{lesson_id}/move", "lesson_id", _owned_lesson, _move_lesson, "move_lesson"),
    ("/teach/lessons/{lesson_id}/delete", "lesson_id", _owned_lesson, _delete, "delete_lesson"),
)
for _path, _id_name, _load, _change, _name in OUTLINE_CHANGES:
    router.post(_path, name=_name)(_outline_route(_id_name, _load, _change))


# ---------------------------------------------------------------- lessons


async def _lesson_editor(
    ctx: WebContext,
    user: User,
    lesson_id: uuid.UUID,
    *,
    form: Form = FRESH,
) -> Response:
    async with ctx.db.session(write=False) as session:
        lesson = await lesson_by_id(lesson_id, user, session)
        course = await course_for_teacher(
            await courses.get_course(session, lesson.course_id), user, session
        )
        detail = await courses.course_detail(session, course=course)
        course_videos, playing = await video_pages.lesson_videos(
            session, ctx.settings, user=user, course=course, lesson=lesson
        )
    saved = {
        "title": lesson.title,
        "content": lesson.content,
        "module_id": str(lesson.module_id or ""),
        "video_url": lesson.video_url or "",
        "duration_s": "" if lesson.duration_s is None else str(lesson.duration_s),
    }
    return form_page(
        ctx,
        "teacher/lesson_edit.html",
        form,
        course=course,
        lesson=lesson,
        modules=detail.modules,
        can_edit=courses.manages(user, course),
        values=saved,
        preview=markdown(lesson.content),
        videos=course_videos,
        playing=playing,
        upload_endpoint=video_pages.WEB_UPLOADS,
        tab="content",
    )


@router.get("/teach/lessons/{lesson_id}/edit")
async def edit_lesson(ctx: Ctx, lesson_id: uuid.UUID, user: Teacher) -> Response:
    return await shown(ctx, _lesson_editor(ctx, user, lesson_id))


def _lesson_fields(data: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": data.get("title", "").strip(),
        # Browsers send a textarea's line breaks as CRLF; the lesson keeps the author's text.
        "content": data.get("content", "").replace("\r\n", "\n"),
        "module_id": data.get("module_id") or None,
        "video_url": data.get("video_url", "").strip() or None,
        "duration_s": _int_field(data, "duration_s"),
    }
    return fields


@router.post("/teach/lessons/{lesson_id}/edit")
async def update_lesson(ctx: Ctx, lesson_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    async def update(session: AsyncSession) -> str:
        lesson = await _owned_lesson(lesson_id, session, user)
        body = validate(LessonUpdate, _lesson_fields(data))
        await courses.update_lesson(session, lesson=lesson, data=body)
        return f"/teach/lessons/{lesson_id}/edit"

    return await submitted(
        ctx, update, again=partial(_lesson_editor, ctx, user, lesson_id), values=data
    )
