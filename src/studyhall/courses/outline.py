"""A course's outline: its modules and their lessons, in order."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.errors import Unprocessable
from studyhall.courses import repository
from studyhall.courses.hooks import lesson_deletion_hooks
from studyhall.courses.models import Course, Lesson, Module
from studyhall.courses.schemas import (
    LessonCreate,
    LessonSummary,
    LessonUpdate,
    ModuleCreate,
    ModuleOut,
    ModuleUpdate,
)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _shift_for_move(old: int, new: int) -> tuple[int, int, int] | None:
    """(start, end, delta): the positions the others in a dense ordering step through when one
    moves from `old` to `new` (up to make room, down to fill the gap); None when it stays."""
    if new < old:
        return new, old - 1, 1
    if new > old:
        return old + 1, new, -1
    return None


def module_out(module: Module, lessons: list[LessonSummary]) -> ModuleOut:
    """A module with its lessons (in order)."""
    return ModuleOut.model_validate(module).model_copy(update={"lessons": lessons})


async def create_module(session: AsyncSession, *, course: Course, data: ModuleCreate) -> ModuleOut:
    """Insert a module; a position shifts the modules at and after it."""
    await repository.lock_course(session, course.id)
    count = await repository.count_modules(session, course.id)
    position = count if data.position is None else _clamp(data.position, 0, count)
    await repository.shift_modules(session, course.id, start=position, end=None, delta=1)
    module = Module(course_id=course.id, title=data.title, position=position)
    session.add(module)
    await session.flush()
    return ModuleOut.model_validate(module, from_attributes=True)


async def update_module(session: AsyncSession, *, module: Module, data: ModuleUpdate) -> ModuleOut:
    """Rename or move a module; the others shift so positions stay dense."""
    if data.title is not None:
        module.title = data.title
    if data.position is not None and data.position != module.position:
        await repository.lock_course(session, module.course_id)
        count = await repository.count_modules(session, module.course_id)
        new = _clamp(data.position, 0, count - 1)
        shift = _shift_for_move(module.position, new)
        if shift is not None:
            start, end, delta = shift
            await repository.shift_modules(
                session, module.course_id, start=start, end=end, delta=delta
            )
        module.position = new
    await session.flush()
    lessons = [
        LessonSummary.model_validate(lesson)
        for lesson in await repository.lesson_outline(session, module.course_id)
        if lesson.module_id == module.id
    ]
    return module_out(module, lessons)


async def delete_module(session: AsyncSession, *, module: Module) -> None:
    """Delete a module and its lessons; later modules move up."""
    await repository.lock_course(session, module.course_id)
    lesson_ids = [
        lesson.id
        for lesson in await repository.lesson_outline(session, module.course_id)
        if lesson.module_id == module.id
    ]
    for lesson_id in lesson_ids:
        for hook in lesson_deletion_hooks():
            await hook(session, lesson_id=lesson_id)
    position = module.position
    await repository.delete_module(session, module.id)
    await repository.shift_modules(
        session, module.course_id, start=position + 1, end=None, delta=-1
    )


async def _module_of_course(
    session: AsyncSession, course_id: uuid.UUID, module_id: uuid.UUID
) -> Module:
    module = await repository.get_module(session, module_id)
    if module is None or module.course_id != course_id:
        raise Unprocessable("module_id is not a module of this course", code="invalid_module")
    return module


async def create_lesson(session: AsyncSession, *, course: Course, data: LessonCreate) -> Lesson:
    """Insert a lesson into its module (or the course's module-less lessons) at a position."""
    await repository.lock_course(session, course.id)
    if data.module_id is not None:
        await _module_of_course(session, course.id, data.module_id)
    count = await repository.count_lessons_in_scope(session, course.id, data.module_id)
    position = count if data.position is None else _clamp(data.position, 0, count)
    await repository.shift_lessons(
        session, course.id, data.module_id, start=position, end=None, delta=1
    )
    lesson = Lesson(course_id=course.id, **data.model_dump(exclude={"position"}), position=position)
    session.add(lesson)
    await session.flush()
    return lesson


async def update_lesson(session: AsyncSession, *, lesson: Lesson, data: LessonUpdate) -> Lesson:
    """Edit a lesson; moving it (module or position) keeps both orderings dense."""
    changes = data.model_dump(exclude_unset=True)
    moving_module = "module_id" in changes and changes["module_id"] != lesson.module_id
    new_position = changes.pop("position", None)
    new_module = changes.pop("module_id", lesson.module_id)
    if "title" in changes and changes["title"] is None:
        raise Unprocessable("title cannot be null")
    if "content" in changes and changes["content"] is None:
        changes["content"] = ""
    if moving_module or (new_position is not None and new_position != lesson.position):
        await repository.lock_course(session, lesson.course_id)
    if moving_module:
        if new_module is not None:
            await _module_of_course(session, lesson.course_id, new_module)
        old_module, old_position = lesson.module_id, lesson.position
        await repository.shift_lessons(
            session,
            lesson.course_id,
            old_module,
            start=old_position + 1,
            end=None,
            delta=-1,
            exclude=lesson.id,
        )
        count = await repository.count_lessons_in_scope(session, lesson.course_id, new_module)
        position = count if new_position is None else _clamp(new_position, 0, count)
        await repository.shift_lessons(
            session, lesson.course_id, new_module, start=position, end=None, delta=1
        )
        lesson.module_id = new_module
        lesson.position = position
    elif new_position is not None and new_position != lesson.position:
        count = await repository.count_lessons_in_scope(session, lesson.course_id, lesson.module_id)
        new = _clamp(new_position, 0, count - 1)
        shift = _shift_for_move(lesson.position, new)
        if shift is not None:
            start, end, delta = shift
            await repository.shift_lessons(
                session,
                lesson.course_id,
                lesson.module_id,
                start=start,
                end=end,
                delta=delta,
                exclude=lesson.id,
            )
        lesson.position = new
    for field, value in changes.items():
        setattr(lesson, field, value)
    await session.flush()
    return lesson


async def delete_lesson(session: AsyncSession, *, lesson: Lesson) -> None:
    """Delete a lesson; the lessons after it move up."""
    await repository.lock_course(session, lesson.course_id)
    for hook in lesson_deletion_hooks():
        await hook(session, lesson_id=lesson.id)
    await repository.delete_lesson(session, lesson.id)
    await repository.shift_lessons(
        session, lesson.course_id, lesson.module_id, start=lesson.position + 1, end=None, delta=-1
    )
