"""Loader dependencies of what lives in a course (a module, a lesson, a quiz, an assignment).

Such an object is authorized through its course, so every kind answers the same status for the
same case: 404 when its course is not visible to the caller (its existence is not shown), then
the course's own rule for what the caller does (read, manage, teach, study: 403 otherwise).
`in_visible_course` is the first half; `through_course` and `for_student` make the second half's
loaders from an object's loader and one of the course checks (`course_read_by`, ...), and
`courses.dependencies.loaders_of` makes the three every object has (read, manage, study).

No `from __future__ import annotations` here: the loaders made below name the object's loader
(a local of the factory) in their annotations, and FastAPI must read those as objects; as
strings it would look them up among this module's globals and fail.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.db import SessionDep
from studyhall.core.errors import AppError
from studyhall.core.openapi import answers
from studyhall.courses import service
from studyhall.courses.models import Course
from studyhall.identity.dependencies import CurrentUser, StudentUser
from studyhall.identity.models import User


class InCourse(Protocol):
    @property
    def course_id(self) -> uuid.UUID: ...


T = TypeVar("T", bound=InCourse)

# Passes when the caller may act on the course of this id, raises (403, 404) otherwise.
CourseCheck = Callable[[AsyncSession, User, uuid.UUID], Awaitable[Course]]
# A loader of an object for a caller (the object, the caller, the session) ...
Loader = Callable[[T, User, AsyncSession], Awaitable[T]]
# ... and one for a student, whose role is checked first (the student, the object, the session).
StudentLoader = Callable[[User, T, AsyncSession], Awaitable[T]]


async def in_visible_course(
    session: AsyncSession, user: User, found: T | None, not_found: Callable[[], AppError]
) -> T:
    """`found` if it exists and the caller sees its course in the catalog; `not_found` else."""
    if found is None or (
        await service.visible_course(session, user=user, course_id=found.course_id) is None
    ):
        raise not_found()
    return found


def through_course(by_id: Callable[..., Awaitable[T]], check: CourseCheck) -> Loader[T]:
    """The loader of the object `by_id` loads, for a caller `check` accepts on its course."""

    @answers(403)
    async def loader(
        found: Annotated[T, Depends(by_id)], user: CurrentUser, session: SessionDep
    ) -> T:
        await check(session, user, found.course_id)
        return found

    return loader


def for_student(by_id: Callable[..., Awaitable[T]], check: CourseCheck) -> StudentLoader[T]:
    """`through_course` for a student's own actions: the caller's role is checked first (a
    non-student gets 403 before any lookup), then `check` (published course, enrolled)."""

    @answers(403, 404)
    async def loader(
        user: StudentUser, found: Annotated[T, Depends(by_id)], session: SessionDep
    ) -> T:
        await check(session, user, found.course_id)
        return found

    return loader
