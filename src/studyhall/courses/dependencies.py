"""Loader dependencies: fetch by id, then authorize, in one place for every route.

Each loader depends on the authenticated user first, so an anonymous caller gets 401 before any
lookup (no existence leak). Objects the caller may not see answer 404; objects the caller may see
but not use answer 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.db import SessionDep
from studyhall.core.openapi import answers
from studyhall.courses import repository, service
from studyhall.courses.errors import (
    CourseNotFound,
    EnrollmentRequired,
    LessonNotFound,
    ModuleNotFound,
    NotCourseOwner,
)
from studyhall.courses.loaders import (
    InCourse,
    Loader,
    StudentLoader,
    for_student,
    in_visible_course,
    through_course,
)
from studyhall.courses.models import Course, Lesson, Module
from studyhall.identity.dependencies import (
    CurrentUser,
    OptionalCurrentUser,
    StudentUser,
)
from studyhall.identity.models import User

T = TypeVar("T", bound=InCourse)


async def _seen_course(session: AsyncSession, user: User | None, course_id: uuid.UUID) -> Course:
    course = await service.visible_course(session, user=user, course_id=course_id)
    if course is None:
        raise CourseNotFound()
    return course


# The caller of the public catalog reads: anonymous, or checked as everywhere.
CatalogViewer = OptionalCurrentUser


@answers(404)
async def catalog_course(
    course_id: uuid.UUID, viewer: CatalogViewer, session: SessionDep
) -> Course:
    """The course in the path if the caller (anonymous too) sees it in the catalog."""
    return await _seen_course(session, viewer, course_id)


CatalogCourse = Annotated[Course, Depends(catalog_course)]


@answers(404)
async def course_by_id(course_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Course:
    """The course in the path, if the caller may see it in the catalog (404 otherwise)."""
    return await _seen_course(session, user, course_id)


CourseById = Annotated[Course, Depends(course_by_id)]


@answers(403)
async def course_for_reader(course: CourseById, user: CurrentUser, session: SessionDep) -> Course:
    """A course whose content the caller may read: enrolled student, owner or admin."""
    await service.require_reader(session, user=user, course=course)
    return course


@answers(403)
async def course_for_owner(course: CourseById, user: CurrentUser) -> Course:
    """A course the caller manages: its teacher or an admin."""
    service.require_manager(user, course)
    return course


@answers(403)
async def course_for_teacher(course: CourseById, user: CurrentUser, session: SessionDep) -> Course:
    """A course the caller teaches: its owner, one of its assistants, or an admin."""
    if not await service.teaches(session, user=user, course=course):
        raise NotCourseOwner("Only the course's teachers or an admin may see this")
    return course


@answers(404)
async def course_for_student(user: StudentUser, course: CourseById) -> Course:
    """A published course seen by a student (enrollment routes)."""
    if not course.is_published:
        raise CourseNotFound()
    return course


@answers(403, 404)
async def course_for_enrolled_student(
    user: StudentUser, course: CourseById, session: SessionDep
) -> Course:
    """A published course the calling student is enrolled in."""
    if not course.is_published:
        raise CourseNotFound()
    if not await repository.is_enrolled(session, course_id=course.id, student_id=user.id):
        raise EnrollmentRequired()
    return course


# What lives in a course (a lesson, a quiz, an assignment) is authorized through its course, by
# these, so each relation answers the same status for every kind of object.


async def course_read_by(session: AsyncSession, user: User, course_id: uuid.UUID) -> Course:
    """The course of an object the caller reads (403 otherwise)."""
    return await course_for_reader(await service.get_course(session, course_id), user, session)


async def course_managed_by(session: AsyncSession, user: User, course_id: uuid.UUID) -> Course:
    """The course of an object the caller changes: its teacher or an admin (403 otherwise)."""
    return await course_for_owner(await service.get_course(session, course_id), user)


async def course_taught_by(session: AsyncSession, user: User, course_id: uuid.UUID) -> Course:
    """The course of an object the caller teaches: owner, assistant, admin (403 otherwise)."""
    return await course_for_teacher(await service.get_course(session, course_id), user, session)


async def course_studied_by(session: AsyncSession, user: User, course_id: uuid.UUID) -> Course:
    """The published course of an object the calling student is enrolled in (404, 403)."""
    course = await service.get_course(session, course_id)
    return await course_for_enrolled_student(user, course, session)


def loaders_of(
    by_id: Callable[..., Awaitable[T]],
) -> tuple[Loader[T], Loader[T], StudentLoader[T]]:
    """The loaders every object of a course has, for what the caller does with the object
    `by_id` loads: (read, manage, study as an enrolled student)."""
    return (
        through_course(by_id, course_read_by),
        through_course(by_id, course_managed_by),
        for_student(by_id, course_studied_by),
    )


ReadableCourse = Annotated[Course, Depends(course_for_reader)]
OwnedCourse = Annotated[Course, Depends(course_for_owner)]
TaughtCourse = Annotated[Course, Depends(course_for_teacher)]
StudentCourse = Annotated[Course, Depends(course_for_student)]
EnrolledCourse = Annotated[Course, Depends(course_for_enrolled_student)]


@answers(403, 404)
async def module_for_owner(module_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Module:
    """A module of a course the caller manages."""
    found = await repository.get_module(session, module_id)
    module = await in_visible_course(session, user, found, ModuleNotFound)
    await course_managed_by(session, user, module.course_id)
    return module


OwnedModule = Annotated[Module, Depends(module_for_owner)]


@answers(404)
async def lesson_by_id(lesson_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Lesson:
    """The lesson in the path, if its course is visible to the caller."""
    lesson = await repository.get_lesson(session, lesson_id)
    return await in_visible_course(session, user, lesson, LessonNotFound)


lesson_for_reader, lesson_for_owner, lesson_for_enrolled_student = loaders_of(lesson_by_id)
lesson_for_teacher = through_course(lesson_by_id, course_taught_by)

ReadableLesson = Annotated[Lesson, Depends(lesson_for_reader)]
OwnedLesson = Annotated[Lesson, Depends(lesson_for_owner)]
TaughtLesson = Annotated[Lesson, Depends(lesson_for_teacher)]
StudentLesson = Annotated[Lesson, Depends(lesson_for_enrolled_student)]
