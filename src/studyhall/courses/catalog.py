"""Courses: creation, changes, join codes, deletion, the catalog and a course's detail."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.errors import Forbidden, Unprocessable
from studyhall.core.pagination import Pagination, page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import repository
from studyhall.courses.audit_log import audit_course
from studyhall.courses.errors import CourseCodeTaken, InvalidTeacher
from studyhall.courses.hooks import course_deletion_hooks
from studyhall.courses.models import Course, Visibility
from studyhall.courses.outline import module_out
from studyhall.courses.repository import CourseFilter
from studyhall.courses.schemas import (
    CourseCreate,
    CourseDetail,
    CourseSummary,
    CourseUpdate,
    LessonSummary,
    category_key,
)
from studyhall.identity.models import Role, User

# No 0/O or 1/I/L: codes are read aloud and copied from a board.
_JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_join_code() -> str:
    """A fresh 8-character join code (about 40 bits: guessing is slower than asking)."""
    return "".join(secrets.choice(_JOIN_ALPHABET) for _ in range(8))


def _summary(course: Course, student_count: int) -> CourseSummary:
    return CourseSummary.model_validate(course).model_copy(update={"student_count": student_count})


async def _check_teacher(session: AsyncSession, teacher_id: uuid.UUID) -> None:
    role = await repository.user_role(session, teacher_id)
    if role not in (Role.teacher, Role.admin):
        raise InvalidTeacher()


async def create_course(session: AsyncSession, *, actor: User, data: CourseCreate) -> CourseDetail:
    """Create a course owned by the calling teacher (admins may name another teacher)."""
    teacher_id = actor.id
    if data.teacher_id is not None and data.teacher_id != actor.id:
        if actor.role != Role.admin:
            raise Forbidden("Only admins may create a course for another teacher")
        await _check_teacher(session, data.teacher_id)
        teacher_id = data.teacher_id
    # Clients that know courses only by id (document 003) leave the code to StudyHall.
    code = data.code or f"C{secrets.token_hex(4).upper()}"
    if await repository.code_taken(session, code):
        raise CourseCodeTaken()
    course = Course(
        **data.model_dump(exclude={"teacher_id", "code"}), code=code, teacher_id=teacher_id
    )
    if course.visibility == Visibility.invite:
        course.join_code = new_join_code()
    session.add(course)
    try:
        await session.flush()
    except IntegrityError:
        raise CourseCodeTaken() from None  # a concurrent create won the race for the code
    await audit_course(
        session,
        actor,
        course,
        "course.created",
        {"code": course.code, "teacher_id": str(teacher_id)},
    )
    return await course_detail(session, course=course)


async def update_course(
    session: AsyncSession, *, actor: User, course: Course, data: CourseUpdate
) -> CourseDetail:
    """Change a course; only admins may move its ownership (audited)."""
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    new_teacher = changes.pop("teacher_id", None)
    if "code" in changes:
        if changes["code"] is None:
            raise Unprocessable("code cannot be null")
        if await repository.code_taken(session, changes["code"], except_id=course.id):
            raise CourseCodeTaken()
    for field in ("title", "is_published", "description", "guide", "language"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null")
    if new_teacher is not None and new_teacher != course.teacher_id:
        if actor.role != Role.admin:
            raise Forbidden("Only admins may change a course's teacher")
        await _check_teacher(session, new_teacher)
        await audit_course(
            session,
            actor,
            course,
            "course.owner_changed",
            {"from": str(course.teacher_id), "to": str(new_teacher)},
        )
        course.teacher_id = new_teacher
    for field in ("visibility", "quiz_grading"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null")
    for field, value in changes.items():
        setattr(course, field, value)
    if course.visibility == Visibility.invite and course.join_code is None:
        course.join_code = new_join_code()
    try:
        await session.flush()
    except IntegrityError:
        raise CourseCodeTaken() from None
    return await course_detail(session, course=course)


async def rotate_join_code(session: AsyncSession, *, actor: User, course: Course) -> str:
    """A new join code; the old one stops working at once (students already in stay)."""
    course.join_code = new_join_code()
    await audit_course(session, actor, course, "course.join_code_rotated")
    return course.join_code


async def delete_course(session: AsyncSession, *, actor: User, course: Course) -> None:
    """Delete a course with everything in it (dependent domains clean up through hooks)."""
    for hook in course_deletion_hooks():
        await hook(session, course_id=course.id)
    await repository.delete_course(session, course.id)
    await audit_course(session, actor, course, "course.deleted", {"code": course.code})


async def catalog_page(
    session: AsyncSession, *, viewer: User | None, filters: CourseFilter, page: Pagination
) -> Page[CourseSummary]:
    """The catalog as the viewer may see it (`None`: an anonymous visitor, who sees what a
    student not enrolled anywhere sees: published courses that are not private)."""
    if filters.category:
        filters = replace(filters, category=category_key(filters.category))
    rows, total = await repository.list_courses(
        session,
        viewer_id=viewer.id if viewer is not None else None,
        role=viewer.role if viewer is not None else Role.student,
        page=page,
        filters=filters,
    )
    return page_of(rows, total, page, lambda row: _summary(*row))


async def list_courses(
    session: AsyncSession,
    *,
    viewer: User | None,
    teacher_id: uuid.UUID | None = None,
    search: str | None = None,
    level: str | None = None,
    language: str | None = None,
    is_published: bool | None = None,
    limit: int = 20,
    offset: int = 0,
    category: str | None = None,
) -> Page[CourseSummary]:
    """`catalog_page` for a caller that holds the filters and the window apart."""
    return await catalog_page(
        session,
        viewer=viewer,
        filters=CourseFilter(teacher_id, search, level, category, language, is_published),
        page=window(limit, offset),
    )


async def courses_by_category(session: AsyncSession) -> dict[str, int]:
    """How many courses each category holds (courses without one are not counted)."""
    return await repository.count_by_category(session)


async def taught_courses(
    session: AsyncSession, *, teacher: User, limit: int, offset: int
) -> Page[CourseSummary]:
    """The courses the user owns or assists in (a teacher's own list), newest first."""
    page = window(limit, offset)
    rows, total = await repository.list_courses(
        session, viewer_id=teacher.id, role=teacher.role, page=page, taught_by=teacher.id
    )
    return page_of(rows, total, page, lambda row: _summary(*row))


async def course_detail(
    session: AsyncSession, *, course: Course, for_manager: bool = True
) -> CourseDetail:
    """A course with its ordered modules and lessons and its student count (3 queries)."""
    modules = await repository.list_modules(session, course.id)
    lessons = await repository.lesson_outline(session, course.id)
    student_count = await repository.count_students(session, course.id)
    summaries = [LessonSummary.model_validate(lesson) for lesson in lessons]
    by_module: dict[uuid.UUID, list[LessonSummary]] = {m.id: [] for m in modules}
    for summary in summaries:
        if summary.module_id is not None and summary.module_id in by_module:
            by_module[summary.module_id].append(summary)
    base = CourseSummary.model_validate(course).model_dump()
    base["student_count"] = student_count
    return CourseDetail(
        **base,
        guide=course.guide if for_manager else None,
        join_code=course.join_code if for_manager else None,
        lesson_count=len(summaries),
        modules=[module_out(m, by_module[m.id]) for m in modules],
        lessons=summaries,
    )
