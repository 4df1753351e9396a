"""All SQL of the courses domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    case,
    delete,
    distinct,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.db import dialect_insert
from studyhall.core.models import Base
from studyhall.core.pagination import Pagination, paginate_rows
from studyhall.courses.models import (
    Course,
    CourseAssistant,
    Enrollment,
    Lesson,
    LessonProgress,
    Module,
    VideoWatchEvent,
    Visibility,
)

# Identity is the base every domain builds on; reading users' names for student lists is a
# read-only join (a per-row lookup through a service would be an N+1).
from studyhall.identity.models import Role, User

_SelectT = TypeVar("_SelectT", bound=Select[*tuple[Any, ...]])


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _insert_new(
    session: AsyncSession, model: type[Base], *, unique: list[str], **values: Any
) -> bool:
    """Insert a row unless one with the same `unique` columns exists (a concurrent insert
    included: no error, no lock wait); whether it was inserted. Columns not in `values` take
    the model's defaults (the id among them)."""
    result = await session.execute(
        dialect_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=unique)
    )
    return bool(getattr(result, "rowcount", 0))


async def _delete_found(
    session: AsyncSession, model: type[Base], *where: ColumnElement[bool]
) -> bool:
    """Delete the rows `where` selects; whether there were any."""
    result = await session.execute(delete(model).where(*where))
    return bool(getattr(result, "rowcount", 0))


async def _count(session: AsyncSession, model: type[Base], *where: ColumnElement[bool]) -> int:
    """How many rows of `model` match `where`."""
    n = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(n or 0)


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---------------------------------------------------------------- courses


async def get_course(session: AsyncSession, course_id: uuid.UUID) -> Course | None:
    """A course by id."""
    return await session.get(Course, course_id)


async def lock_course(session: AsyncSession, course_id: uuid.UUID) -> None:
    """Row-lock a course so concurrent reorderings of its modules and lessons serialize.

    SQLite needs nothing: write transactions there are already serialized (BEGIN IMMEDIATE).
    """
    if _dialect(session) == "postgresql":
        await session.execute(select(Course.id).where(Course.id == course_id).with_for_update())


async def get_course_by_code(session: AsyncSession, code: str) -> Course | None:
    """A course by its code."""
    return await session.scalar(select(Course).where(Course.code == code))


async def code_taken(
    session: AsyncSession, code: str, *, except_id: uuid.UUID | None = None
) -> bool:
    """Whether another course uses this code."""
    query = select(Course.id).where(Course.code == code)
    if except_id is not None:
        query = query.where(Course.id != except_id)
    return (await session.scalar(query.limit(1))) is not None


def _student_count() -> Any:
    """Correlated count of a course's students: an index lookup per listed course."""
    return (
        select(func.count())
        .where(Enrollment.course_id == Course.id)
        .correlate(Course)
        .scalar_subquery()
    )


def _taught_by(teacher_id: uuid.UUID) -> ColumnElement[bool]:
    """Courses the user owns or assists in."""
    assisted = select(CourseAssistant.course_id).where(CourseAssistant.user_id == teacher_id)
    return or_(Course.teacher_id == teacher_id, Course.id.in_(assisted))


def _visible_filter(viewer_id: uuid.UUID | None, role: Role) -> ColumnElement[bool] | None:
    if role == Role.admin:
        return None
    if viewer_id is None:  # an anonymous visitor: the public catalog
        return and_(Course.is_published.is_(True), Course.visibility != Visibility.private)
    if role == Role.teacher:
        return or_(Course.is_published.is_(True), _taught_by(viewer_id))
    # A private course is in a student's catalog only once its teacher has added them.
    enrolled = select(Enrollment.course_id).where(Enrollment.student_id == viewer_id)
    return and_(
        Course.is_published.is_(True),
        or_(Course.visibility != Visibility.private, Course.id.in_(enrolled)),
    )


async def count_by_category(session: AsyncSession) -> dict[str, int]:
    """Courses per category, categorised courses only."""
    rows = await session.execute(
        select(Course.category, func.count())
        .where(Course.category.is_not(None))
        .group_by(Course.category)
        .order_by(Course.category)
    )
    return {str(category): int(n) for category, n in rows.all()}


@dataclass(frozen=True)
class CourseFilter:
    """The catalog's filters, every one optional (None: not filtered): `teacher_id` the owner,
    `category` as stored (its key)."""

    teacher_id: uuid.UUID | None = None
    search: str | None = None
    level: str | None = None
    category: str | None = None
    language: str | None = None
    is_published: bool | None = None


async def list_courses(
    session: AsyncSession,
    *,
    viewer_id: uuid.UUID | None,
    role: Role,
    page: Pagination,
    taught_by: uuid.UUID | None = None,
    filters: CourseFilter = CourseFilter(),
) -> tuple[list[tuple[Course, int]], int]:
    """Courses the viewer may see, filtered, with their student counts, and the total
    (`taught_by`: a teacher who owns or assists in the course)."""
    conditions: list[ColumnElement[bool]] = []
    visible = _visible_filter(viewer_id, role)
    if visible is not None:
        conditions.append(visible)
    if taught_by is not None:
        conditions.append(_taught_by(taught_by))
    equal_to: list[tuple[Any, Any]] = [
        (Course.teacher_id, filters.teacher_id),
        (Course.level, filters.level),
        (Course.category, filters.category),
        (Course.language, filters.language),
    ]
    conditions += [column == value for column, value in equal_to if value is not None]
    if filters.is_published is not None:
        conditions.append(Course.is_published.is_(filters.is_published))
    if filters.search:
        pattern = _like(filters.search.strip())
        conditions.append(
            or_(
                Course.title.ilike(pattern, escape="\\"),
                Course.code.ilike(pattern, escape="\\"),
                Course.description.ilike(pattern, escape="\\"),
            )
        )
    rows, total = await paginate_rows(
        session,
        select(Course, _student_count()).where(*conditions),
        order_by=[Course.created_at.desc(), Course.id.desc()],
        limit=page.limit,
        offset=page.offset,
        count_query=select(Course.id).where(*conditions),
    )
    return [(row[0], int(row[1])) for row in rows], total


async def count_students(session: AsyncSession, course_id: uuid.UUID) -> int:
    """Number of students enrolled in a course."""
    return await _count(session, Enrollment, Enrollment.course_id == course_id)


async def delete_course(session: AsyncSession, course_id: uuid.UUID) -> None:
    """Delete a course; modules, lessons, enrollments and progress go with it (FK cascades)."""
    await session.execute(delete(Course).where(Course.id == course_id))


async def is_assistant(session: AsyncSession, *, course_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the user is one of the course's assistants."""
    query = select(
        exists().where(CourseAssistant.course_id == course_id, CourseAssistant.user_id == user_id)
    )
    return bool(await session.scalar(query))


async def insert_assistant(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    user_id: uuid.UUID,
    added_by: uuid.UUID,
    now: datetime,
) -> bool:
    """Add an assistant; False when they already were one (a concurrent add included)."""
    return await _insert_new(
        session,
        CourseAssistant,
        unique=["course_id", "user_id"],
        course_id=course_id,
        user_id=user_id,
        added_by=added_by,
        added_at=now,
    )


async def delete_assistant(
    session: AsyncSession, *, course_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Remove an assistant; False when they were not one."""
    return await _delete_found(
        session,
        CourseAssistant,
        CourseAssistant.course_id == course_id,
        CourseAssistant.user_id == user_id,
    )


async def delete_assistant_rows(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A deleted account assists no course any more."""
    await session.execute(delete(CourseAssistant).where(CourseAssistant.user_id == user_id))


@dataclass
class TeacherRow:
    user_id: uuid.UUID
    email: str
    full_name: str
    is_owner: bool
    added_at: datetime | None


async def course_teachers(session: AsyncSession, course: Course) -> list[TeacherRow]:
    """The owner (first) and the assistants (by when they were added) with their names."""
    owner = await session.execute(
        select(User.id, User.email, User.full_name).where(User.id == course.teacher_id)
    )
    rows = [TeacherRow(uid, email, name, True, None) for uid, email, name in owner]
    assistants = await session.execute(
        select(User.id, User.email, User.full_name, CourseAssistant.added_at)
        .join(User, User.id == CourseAssistant.user_id)
        .where(CourseAssistant.course_id == course.id)
        .order_by(CourseAssistant.added_at, CourseAssistant.id)
    )
    rows += [TeacherRow(uid, email, name, False, at) for uid, email, name, at in assistants]
    return rows


async def active_user_by_email(
    session: AsyncSession, *, email: str, role: Role
) -> uuid.UUID | None:
    """The id of the active, non-service account of this role with this email, or None."""
    return await session.scalar(
        select(User.id).where(
            func.lower(User.email) == email.strip().lower(),
            User.role == role,
            User.is_active.is_(True),
            User.is_service.is_(False),
        )
    )


async def user_role(session: AsyncSession, user_id: uuid.UUID) -> Role | None:
    """The role of an active, non-service user, or None."""
    return await session.scalar(
        select(User.role).where(
            User.id == user_id, User.is_active.is_(True), User.is_service.is_(False)
        )
    )


# ---------------------------------------------------------------- modules


async def get_module(session: AsyncSession, module_id: uuid.UUID) -> Module | None:
    """A module by id."""
    return await session.get(Module, module_id)


async def list_modules(session: AsyncSession, course_id: uuid.UUID) -> list[Module]:
    """A course's modules in order."""
    rows = await session.scalars(
        select(Module).where(Module.course_id == course_id).order_by(Module.position, Module.id)
    )
    return list(rows)


async def count_modules(session: AsyncSession, course_id: uuid.UUID) -> int:
    """How many modules a course has (= the next free position, positions being dense)."""
    return await _count(session, Module, Module.course_id == course_id)


async def shift_modules(
    session: AsyncSession, course_id: uuid.UUID, *, start: int, end: int | None, delta: int
) -> None:
    """Add delta to the positions in [start, end] of a course's modules."""
    conditions = [Module.course_id == course_id, Module.position >= start]
    if end is not None:
        conditions.append(Module.position <= end)
    await session.execute(
        update(Module).where(*conditions).values(position=Module.position + delta)
    )


async def delete_module(session: AsyncSession, module_id: uuid.UUID) -> None:
    """Delete a module; its lessons go with it (FK cascade)."""
    await session.execute(delete(Module).where(Module.id == module_id))


# ---------------------------------------------------------------- lessons


async def get_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> Lesson | None:
    """A lesson by id."""
    return await session.get(Lesson, lesson_id)


def _lesson_scope(course_id: uuid.UUID, module_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    module_cond = Lesson.module_id.is_(None) if module_id is None else Lesson.module_id == module_id
    return [Lesson.course_id == course_id, module_cond]


def _reading_order(query: _SelectT) -> _SelectT:
    """Lessons without a module first, then by module position, then lesson position."""
    return query.outerjoin(Module, Module.id == Lesson.module_id).order_by(
        case((Lesson.module_id.is_(None), 0), else_=1),
        Module.position,
        Lesson.position,
        Lesson.id,
    )


async def lesson_outline(
    session: AsyncSession, course_id: uuid.UUID
) -> Sequence[Row[*tuple[Any, ...]]]:
    """A course's lessons in reading order without their content: plain rows (the hot path)
    with the fields of a lesson summary (id, module_id, title, position, video_url,
    video_provider, duration_s)."""
    query = _reading_order(
        select(
            Lesson.id,
            Lesson.module_id,
            Lesson.title,
            Lesson.position,
            Lesson.video_url,
            Lesson.video_provider,
            Lesson.duration_s,
        ).where(Lesson.course_id == course_id)
    )
    return (await session.execute(query)).all()


async def list_lessons(session: AsyncSession, course_id: uuid.UUID) -> list[Lesson]:
    """A course's lessons with their content, in reading order."""
    return list(
        (
            await session.scalars(
                _reading_order(select(Lesson).where(Lesson.course_id == course_id))
            )
        ).all()
    )


async def count_lessons_in_scope(
    session: AsyncSession, course_id: uuid.UUID, module_id: uuid.UUID | None
) -> int:
    """Lessons in one ordering scope (a module, or the course's module-less lessons)."""
    return await _count(session, Lesson, *_lesson_scope(course_id, module_id))


async def count_lessons(session: AsyncSession, course_id: uuid.UUID) -> int:
    """All lessons of a course."""
    return await _count(session, Lesson, Lesson.course_id == course_id)


async def shift_lessons(
    session: AsyncSession,
    course_id: uuid.UUID,
    module_id: uuid.UUID | None,
    *,
    start: int,
    end: int | None,
    delta: int,
    exclude: uuid.UUID | None = None,
) -> None:
    """Add delta to the positions in [start, end] of one lesson ordering scope."""
    conditions = [*_lesson_scope(course_id, module_id), Lesson.position >= start]
    if end is not None:
        conditions.append(Lesson.position <= end)
    if exclude is not None:
        conditions.append(Lesson.id != exclude)
    await session.execute(
        update(Lesson).where(*conditions).values(position=Lesson.position + delta)
    )


async def delete_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> None:
    """Delete a lesson; its progress and watch events go with it (FK cascade)."""
    await session.execute(delete(Lesson).where(Lesson.id == lesson_id))


# ---------------------------------------------------------------- enrollment


def _enrollment_of(course_id: uuid.UUID, student_id: uuid.UUID) -> ColumnElement[bool]:
    """The student's enrollment in the course (one row at most)."""
    return and_(Enrollment.course_id == course_id, Enrollment.student_id == student_id)


async def get_enrollment(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> Enrollment | None:
    """A student's enrollment in a course."""
    return await session.scalar(select(Enrollment).where(_enrollment_of(course_id, student_id)))


async def insert_enrollment(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID, now: datetime
) -> bool:
    """Enroll unless already enrolled; False when the row existed (race-safe)."""
    return await _insert_new(
        session,
        Enrollment,
        unique=["course_id", "student_id"],
        course_id=course_id,
        student_id=student_id,
        enrolled_at=now,
        last_activity_at=now,
    )


async def delete_enrollment(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> bool:
    """Remove an enrollment; False when there was none."""
    return await _delete_found(session, Enrollment, _enrollment_of(course_id, student_id))


async def course_and_enrollment(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> tuple[Course, bool] | None:
    """A course and whether the student is enrolled in it, in one statement (None: no course)."""
    enrolled = (
        exists()
        .where(Enrollment.course_id == Course.id, Enrollment.student_id == student_id)
        .label("enrolled")
    )
    row = (await session.execute(select(Course, enrolled).where(Course.id == course_id))).first()
    return None if row is None else (row[0], bool(row[1]))


async def is_enrolled(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> bool:
    """Whether the student is enrolled."""
    found = await session.scalar(select(Enrollment.id).where(_enrollment_of(course_id, student_id)))
    return found is not None


async def enrolled_student_ids(session: AsyncSession, course_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the students enrolled in a course, oldest enrollment first."""
    rows = await session.scalars(
        select(Enrollment.student_id)
        .where(Enrollment.course_id == course_id)
        .order_by(Enrollment.enrolled_at, Enrollment.id)
    )
    return list(rows)


async def enrolled_course_ids(session: AsyncSession, student_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of every course the user is enrolled in."""
    rows = await session.scalars(
        select(Enrollment.course_id)
        .where(Enrollment.student_id == student_id)
        .order_by(Enrollment.enrolled_at)
    )
    return list(rows)


async def teacher_has_student(
    session: AsyncSession, *, teacher_id: uuid.UUID, student_id: uuid.UUID
) -> bool:
    """Whether the student is enrolled in any course the teacher owns or assists in."""
    query = select(
        exists().where(
            Enrollment.student_id == student_id,
            Enrollment.course_id == Course.id,
            _taught_by(teacher_id),
        )
    )
    return bool(await session.scalar(query))


async def touch_activity(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID, at: datetime
) -> None:
    """Move an enrollment's last activity forward."""
    await session.execute(
        update(Enrollment)
        .where(_enrollment_of(course_id, student_id), Enrollment.last_activity_at < at)
        .values(last_activity_at=at)
    )


def _lesson_totals() -> Any:
    return (
        select(Lesson.course_id, func.count().label("n"))
        .group_by(Lesson.course_id)
        .subquery("lesson_totals")
    )


def _completed_counts(*conditions: ColumnElement[bool]) -> Any:
    return (
        select(
            LessonProgress.course_id,
            LessonProgress.student_id,
            func.count().label("n"),
        )
        .where(LessonProgress.completed.is_(True), *conditions)
        .group_by(LessonProgress.course_id, LessonProgress.student_id)
        .subquery("completed_counts")
    )


def _enrollments(*conditions: ColumnElement[bool]) -> Select[uuid.UUID]:
    """The enrollments (joined to their course) that a filtered list counts."""
    return select(Enrollment.id).join(Course, Course.id == Enrollment.course_id).where(*conditions)


@dataclass(frozen=True)
class EnrolledRow:
    course: Course
    student_count: int
    enrolled_at: datetime
    last_activity_at: datetime
    lessons_total: int
    lessons_completed: int


async def list_enrolled_courses(
    session: AsyncSession, *, student_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[EnrolledRow], int]:
    """A student's published courses with progress counts, newest enrollment first."""
    base = [Enrollment.student_id == student_id, Course.is_published.is_(True)]
    totals = _lesson_totals()
    done = _completed_counts(LessonProgress.student_id == student_id)
    query = (
        select(
            Course,
            _student_count(),
            Enrollment.enrolled_at,
            Enrollment.last_activity_at,
            func.coalesce(totals.c.n, 0),
            func.coalesce(done.c.n, 0),
        )
        .join(Enrollment, Enrollment.course_id == Course.id)
        .outerjoin(totals, totals.c.course_id == Course.id)
        .outerjoin(done, done.c.course_id == Course.id)
        .where(*base)
    )
    rows, total = await paginate_rows(
        session,
        query,
        order_by=[Enrollment.enrolled_at.desc(), Course.id],
        limit=limit,
        offset=offset,
        count_query=_enrollments(*base),
    )
    return [EnrolledRow(r[0], int(r[1]), r[2], r[3], int(r[4]), int(r[5])) for r in rows], total


async def list_students(
    session: AsyncSession,
    *,
    course_ids_of_teacher: uuid.UUID | None,
    course_id: uuid.UUID | None,
    limit: int | None,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """Enrollments (student × course) with names and progress, for one course or a teacher's:
    rows of student_id, email, username, full_name, course_id, course_code, course_title,
    enrolled_at, last_activity_at, lessons_total and lessons_completed."""
    conditions: list[ColumnElement[bool]] = []
    if course_id is not None:
        conditions.append(Enrollment.course_id == course_id)
    if course_ids_of_teacher is not None:
        conditions.append(_taught_by(course_ids_of_teacher))
    totals = _lesson_totals()
    done_conditions = [LessonProgress.course_id == course_id] if course_id is not None else []
    done = _completed_counts(*done_conditions)
    query = (
        select(
            Enrollment.student_id,
            User.email,
            User.username,
            User.full_name,
            Course.id.label("course_id"),
            Course.code.label("course_code"),
            Course.title.label("course_title"),
            Enrollment.enrolled_at,
            Enrollment.last_activity_at,
            func.coalesce(totals.c.n, 0).label("lessons_total"),
            func.coalesce(done.c.n, 0).label("lessons_completed"),
        )
        .select_from(Enrollment)
        .join(Course, Course.id == Enrollment.course_id)
        .join(User, User.id == Enrollment.student_id)
        .outerjoin(totals, totals.c.course_id == Course.id)
        .outerjoin(
            done,
            and_(done.c.course_id == Course.id, done.c.student_id == Enrollment.student_id),
        )
        .where(*conditions)
    )
    rows, total = await paginate_rows(
        session,
        query,
        order_by=[User.full_name, User.id, Course.code],
        limit=limit,
        offset=offset,
        count_query=_enrollments(*conditions),
    )
    return rows, total


# ---------------------------------------------------------------- progress


async def ensure_progress(
    session: AsyncSession,
    *,
    lesson_id: uuid.UUID,
    course_id: uuid.UUID,
    student_id: uuid.UUID,
    now: datetime,
) -> LessonProgress:
    """The (student, lesson) progress row, created if missing (race-safe), locked for update."""
    await _insert_new(
        session,
        LessonProgress,
        unique=["lesson_id", "student_id"],
        lesson_id=lesson_id,
        course_id=course_id,
        student_id=student_id,
        created_at=now,
        updated_at=now,
    )
    row = await session.scalar(
        select(LessonProgress)
        .where(LessonProgress.lesson_id == lesson_id, LessonProgress.student_id == student_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def add_watch_event(session: AsyncSession, event: VideoWatchEvent) -> None:
    """Record one video report."""
    session.add(event)


async def completed_lessons(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> int:
    """How many lessons of a course the student has completed."""
    return await _count(
        session,
        LessonProgress,
        LessonProgress.course_id == course_id,
        LessonProgress.student_id == student_id,
        LessonProgress.completed.is_(True),
    )


async def course_progress_rows(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> list[tuple[Lesson, LessonProgress | None]]:
    """Every lesson of a course in reading order with the student's progress row, if any."""
    query = _reading_order(
        select(Lesson, LessonProgress)
        .outerjoin(
            LessonProgress,
            and_(
                LessonProgress.lesson_id == Lesson.id,
                LessonProgress.student_id == student_id,
            ),
        )
        .where(Lesson.course_id == course_id)
    )
    rows = (await session.execute(query)).all()
    return [(r[0], r[1]) for r in rows]


# ---------------------------------------------------------------- video analytics


@dataclass(frozen=True)
class VideoFigures:
    watch_events: int
    unique_viewers: int
    furthest_position_s: float
    views: int
    completions: int
    average_watch_time_s: float


def _utc_day(session: AsyncSession, column: Any) -> Any:
    if _dialect(session) == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


async def video_figures(session: AsyncSession, lesson_id: uuid.UUID) -> VideoFigures:
    """Aggregates of a lesson's watch events and its viewers' progress rows."""
    events_q = select(
        func.count(),
        func.count(distinct(VideoWatchEvent.student_id)),
        func.coalesce(func.max(VideoWatchEvent.position_s), 0.0),
    ).where(VideoWatchEvent.lesson_id == lesson_id)
    n_events, viewers, furthest = (await session.execute(events_q)).one()
    day = _utc_day(session, VideoWatchEvent.created_at)
    views_sq = (
        select(VideoWatchEvent.student_id, day.label("day"))
        .where(VideoWatchEvent.lesson_id == lesson_id)
        .distinct()
        .subquery("views")
    )
    views = await session.scalar(select(func.count()).select_from(views_sq))
    progress_q = select(
        func.coalesce(func.sum(case((LessonProgress.completed.is_(True), 1), else_=0)), 0),
        func.coalesce(func.avg(LessonProgress.video_watched_s), 0.0),
    ).where(LessonProgress.lesson_id == lesson_id, _viewer_filter(lesson_id))
    completions, avg_watch = (await session.execute(progress_q)).one()
    return VideoFigures(
        watch_events=int(n_events),
        unique_viewers=int(viewers),
        furthest_position_s=float(furthest or 0.0),
        views=int(views or 0),
        completions=int(completions or 0),
        average_watch_time_s=float(avg_watch or 0.0),
    )


def _viewer_filter(lesson_id: uuid.UUID) -> ColumnElement[bool]:
    viewers = select(VideoWatchEvent.student_id).where(VideoWatchEvent.lesson_id == lesson_id)
    return LessonProgress.student_id.in_(viewers)


async def drop_off_histogram(
    session: AsyncSession, lesson_id: uuid.UUID, *, duration_s: float
) -> dict[int, int]:
    """Viewers per 10% bucket of their last position (bucket 9 includes the end)."""
    ratio = LessonProgress.video_position_s / duration_s
    # A CASE ladder instead of floor(): SQLite builds may lack math functions.
    bucket = case(*[(ratio < (i + 1) / 10, i) for i in range(9)], else_=9).label("bucket")
    # Grouped through a subquery: PostgreSQL would not match the CASE's bound parameters
    # between the select list and a GROUP BY repeating the expression.
    buckets = (
        select(bucket)
        .where(LessonProgress.lesson_id == lesson_id, _viewer_filter(lesson_id))
        .subquery("buckets")
    )
    query = select(buckets.c.bucket, func.count()).group_by(buckets.c.bucket)
    rows = (await session.execute(query)).all()
    return {int(r[0]): int(r[1]) for r in rows}


@dataclass(frozen=True)
class EnrollmentFigures:
    active_students: int
    new_enrollments: int
    lessons_to_do: int
    lessons_done: int


async def enrollment_figures(
    session: AsyncSession, *, active_since: datetime, enrolled_since: datetime
) -> EnrollmentFigures:
    """Platform-wide enrollment figures (aggregates only)."""
    active = await session.scalar(
        select(func.count(distinct(Enrollment.student_id))).where(
            Enrollment.last_activity_at >= active_since
        )
    )
    new = await session.scalar(
        select(func.count()).select_from(Enrollment).where(Enrollment.enrolled_at >= enrolled_since)
    )
    to_do = await session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .join(Lesson, Lesson.course_id == Enrollment.course_id)
    )
    done = await session.scalar(
        select(func.count())
        .select_from(LessonProgress)
        .join(
            Enrollment,
            and_(
                Enrollment.course_id == LessonProgress.course_id,
                Enrollment.student_id == LessonProgress.student_id,
            ),
        )
        .where(LessonProgress.completed.is_(True))
    )
    return EnrollmentFigures(int(active or 0), int(new or 0), int(to_do or 0), int(done or 0))


async def course_codes_by_user(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each user's course codes: those they are enrolled in and those they teach, sorted."""
    found: dict[uuid.UUID, set[str]] = {user_id: set() for user_id in user_ids}
    if not user_ids:
        return {}
    # One round trip: enrollments and taught courses together.
    rows = await session.execute(
        select(Enrollment.student_id, Course.code)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.student_id.in_(user_ids))
        .union_all(select(Course.teacher_id, Course.code).where(Course.teacher_id.in_(user_ids)))
    )
    for user_id, code in rows.all():
        found[user_id].add(code)
    return {user_id: sorted(codes) for user_id, codes in found.items()}


async def labels_by_id(
    session: AsyncSession, course_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """The code and title of each course id."""
    if not course_ids:
        return {}
    rows = await session.execute(
        select(Course.id, Course.code, Course.title).where(Course.id.in_(course_ids))
    )
    return {course_id: (code, title) for course_id, code, title in rows.all()}
