"""Business rules of courses, modules, lessons, enrollment and progress."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.core.clock import utcnow
from studyhall.core.errors import Forbidden, NotFound, Unprocessable
from studyhall.core.pagination import page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import repository
from studyhall.courses.errors import (
    AlreadyEnrolled,
    CourseCodeTaken,
    CourseNotFound,
    EnrollmentClosed,
    EnrollmentRequired,
    InvalidTeacher,
    JoinCodeRequired,
    LessonHasNoVideo,
    NotCourseOwner,
    NotEnrolled,
    PaymentRequired,
)
from studyhall.courses.models import (
    Course,
    Enrollment,
    Lesson,
    LessonProgress,
    Module,
    VideoWatchEvent,
    Visibility,
)
from studyhall.courses.schemas import (
    CourseCreate,
    CourseDetail,
    CourseProgressOut,
    CourseSummary,
    CourseUpdate,
    DropOffBucket,
    EnrolledCourse,
    EnrollmentOut,
    LessonCreate,
    LessonProgressRow,
    LessonSummary,
    LessonUpdate,
    ModuleCreate,
    ModuleOut,
    ModuleUpdate,
    ProgressUpdate,
    ProgressUpdateOut,
    StudentProgressRow,
    VideoAnalyticsOut,
    category_key,
)
from studyhall.identity import service as identity
from studyhall.identity.models import Role, User

# Watching this share of a video marks the lesson completed.
VIDEO_COMPLETION_RATIO = 0.9

# ---------------------------------------------------------------- hooks for dependent domains

# Domains that build on courses keep soft links to course and lesson ids, so they register
# their reactions here (from `studyhall.wiring`) instead of courses importing them: imports only
# go one way. Registering the same function again changes nothing (tests build many apps).


class CourseHook(Protocol):
    """A domain's clean-up when a course is deleted, run in the deleting unit of work."""

    def __call__(self, session: AsyncSession, *, course_id: uuid.UUID) -> Awaitable[None]: ...


class LessonHook(Protocol):
    """A domain's clean-up when a lesson is deleted, run in the deleting unit of work."""

    def __call__(self, session: AsyncSession, *, lesson_id: uuid.UUID) -> Awaitable[None]: ...


class LessonScores(Protocol):
    """Per-lesson scores of a student in a course: {lesson_id: percent}."""

    def __call__(
        self, session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
    ) -> Awaitable[dict[uuid.UUID, float]]: ...


_course_deleted_hooks: list[CourseHook] = []
_lesson_deleted_hooks: list[LessonHook] = []
_lesson_scores: list[LessonScores] = []


def on_course_deleted(hook: CourseHook) -> None:
    """Register clean-up that runs in the same unit of work when a course is deleted."""
    if hook not in _course_deleted_hooks:
        _course_deleted_hooks.append(hook)


def on_lesson_deleted(hook: LessonHook) -> None:
    """Register clean-up that runs in the same unit of work when a lesson is deleted."""
    if hook not in _lesson_deleted_hooks:
        _lesson_deleted_hooks.append(hook)


def lesson_scores_provider(provider: LessonScores) -> None:
    """Register where per-lesson quiz scores come from (quizzes live in assessments)."""
    if provider not in _lesson_scores:
        _lesson_scores.append(provider)


def course_deletion_hooks() -> tuple[CourseHook, ...]:
    """The registered reactions to a course's deletion, in the order they run."""
    return tuple(_course_deleted_hooks)


def lesson_deletion_hooks() -> tuple[LessonHook, ...]:
    """The registered reactions to a lesson's deletion, in the order they run."""
    return tuple(_lesson_deleted_hooks)


def lesson_scores_providers() -> tuple[LessonScores, ...]:
    """The registered sources of per-lesson scores."""
    return tuple(_lesson_scores)


# ---------------------------------------------------------------- access rules


def can_view(user: User, course: Course) -> bool:
    """Catalog visibility: published courses, a teacher's own drafts, everything for admins."""
    return user.role == Role.admin or course.is_published or course.teacher_id == user.id


def manages(user: User, course: Course) -> bool:
    """Whether the user may change the course: its teacher or an admin."""
    return user.role == Role.admin or course.teacher_id == user.id


async def teaches(session: AsyncSession, *, user: User, course: Course) -> bool:
    """Whether the user teaches the course: its owner, one of its assistants, or an admin.

    Assistants grade and see what teachers see (analytics, roster, gradebook, answers); changing
    the course stays with `manages` (owner or admin).
    """
    if manages(user, course):
        return True
    if user.role != Role.teacher:
        return False
    return await repository.is_assistant(session, course_id=course.id, user_id=user.id)


async def sees(session: AsyncSession, *, user: User, course: Course) -> bool:
    """Catalog visibility (`can_view`), plus the drafts of the courses the user assists in."""
    return can_view(user, course) or await teaches(session, user=user, course=course)


async def teaches_course(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> bool:
    """`teaches` for a course id (False when the course does not exist)."""
    course = await repository.get_course(session, course_id)
    return course is not None and await teaches(session, user=user, course=course)


async def reads(session: AsyncSession, *, user: User, course: Course) -> bool:
    """Whether the user may read the course's content (lessons, quizzes, assignments)."""
    if await teaches(session, user=user, course=course):
        return True
    if user.role != Role.student or not course.is_published:
        return False
    return await repository.is_enrolled(session, course_id=course.id, student_id=user.id)


async def student_course(
    session: AsyncSession, *, student: User, course_id: uuid.UUID
) -> tuple[Course | None, bool]:
    """For a student: the course if they see it (None otherwise) and whether they `reads` it,
    from one statement (a student teaches nothing, so enrollment alone decides)."""
    found = await repository.course_and_enrollment(
        session, course_id=course_id, student_id=student.id
    )
    if found is None or not can_view(student, found[0]):
        return None, False
    course, enrolled = found
    return course, enrolled and course.is_published


async def require_reader(session: AsyncSession, *, user: User, course: Course) -> None:
    """403 for a caller who sees the course but may not read its content.

    The one rule of every course resource (lessons, quizzes, documents, search): a course the
    caller cannot see is 404 (checked before this); a visible one they may not read is 403,
    `enrollment_required` for a student who is not enrolled.
    """
    if not await reads(session, user=user, course=course):
        if user.role == Role.student:
            raise EnrollmentRequired()
        raise NotCourseOwner("Only the course's teacher, its students or an admin may read this")


def require_manager(user: User, course: Course) -> None:
    """403 for a caller who sees the course but may not change it."""
    if not manages(user, course):
        raise NotCourseOwner()


async def visible_course(
    session: AsyncSession, *, user: User, course_id: uuid.UUID
) -> Course | None:
    """The course if it exists and the user may see it in the catalog, else None."""
    course = await repository.get_course(session, course_id)
    if course is None or not await sees(session, user=user, course=course):
        return None
    return course


async def find_course(session: AsyncSession, course_id: uuid.UUID) -> Course | None:
    """A course by id, or None."""
    return await repository.get_course(session, course_id)


async def get_course(session: AsyncSession, course_id: uuid.UUID) -> Course:
    """A course by id; CourseNotFound (404) when it does not exist."""
    course = await repository.get_course(session, course_id)
    if course is None:
        raise CourseNotFound()
    return course


async def find_course_by_code(session: AsyncSession, code: str) -> Course | None:
    """A course by its code (codes are stored upper-case), or None."""
    return await repository.get_course_by_code(session, code.strip().upper())


async def visible_course_by_code(session: AsyncSession, *, user: User, code: str) -> Course:
    """The course with this code if the caller may see it in the catalog (404 otherwise)."""
    course = await find_course_by_code(session, code)
    if course is None or not await sees(session, user=user, course=course):
        raise CourseNotFound()
    return course


async def managed_course_by_code(session: AsyncSession, *, user: User, code: str) -> Course:
    """The course with this code if the caller manages it: 404 unseen, 403 not its teacher."""
    course = await visible_course_by_code(session, user=user, code=code)
    if not manages(user, course):
        raise NotCourseOwner()
    return course


async def codes_by_id(
    session: AsyncSession, *, course_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The code of each course id (documents that name courses by code)."""
    labels = await repository.labels_by_id(session, list(set(course_ids)))
    return {course_id: code for course_id, (code, _) in labels.items()}


async def titles_by_id(
    session: AsyncSession, *, course_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The title of each course id (reports that name courses)."""
    labels = await repository.labels_by_id(session, list(set(course_ids)))
    return {course_id: title for course_id, (_, title) in labels.items()}


async def course_codes_by_user(
    session: AsyncSession, *, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each user's course codes (enrolled in or taught), for documents that list "subjects"."""
    return await repository.course_codes_by_user(session, user_ids)


async def can_read_course(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> bool:
    """Enrolled student of a published course, the owner teacher, or an admin."""
    course = await repository.get_course(session, course_id)
    return course is not None and await reads(session, user=user, course=course)


async def can_manage_course(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> bool:
    """The owner teacher or an admin."""
    course = await repository.get_course(session, course_id)
    return course is not None and manages(user, course)


async def is_enrolled(session: AsyncSession, *, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """Whether the user is enrolled in the course."""
    return await repository.is_enrolled(session, course_id=course_id, student_id=user_id)


async def lesson_in_course(
    session: AsyncSession, *, lesson_id: uuid.UUID, course_id: uuid.UUID
) -> bool:
    """Whether the lesson belongs to the course."""
    lesson = await repository.get_lesson(session, lesson_id)
    return lesson is not None and lesson.course_id == course_id


async def find_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> Lesson | None:
    """A lesson by id, or None."""
    return await repository.get_lesson(session, lesson_id)


async def course_lessons(session: AsyncSession, course_id: uuid.UUID) -> list[Lesson]:
    """A course's lessons with their content, in reading order (callers check access)."""
    return await repository.list_lessons(session, course_id)


async def enrollment_figures(
    session: AsyncSession, *, active_since: datetime, enrolled_since: datetime
) -> repository.EnrollmentFigures:
    """Students with course activity since `active_since`, enrollments since `enrolled_since`,
    and lessons completed out of all enrolled students' lessons (platform stats)."""
    return await repository.enrollment_figures(
        session, active_since=active_since, enrolled_since=enrolled_since
    )


async def enrolled_student_ids(
    session: AsyncSession, *, course_id: uuid.UUID
) -> list[uuid.UUID] | None:
    """Ids of a course's enrolled students; None when there is no such course."""
    if await repository.get_course(session, course_id) is None:
        return None
    return await repository.enrolled_student_ids(session, course_id)


async def enrolled_course_ids(session: AsyncSession, *, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the courses the user is enrolled in."""
    return await repository.enrolled_course_ids(session, user_id)


@dataclass(frozen=True)
class PublicProfile:
    """A user as a teacher of their course sees them, with the courses they are enrolled in."""

    user: User
    enrolled_course_ids: list[uuid.UUID]


async def public_profile(
    session: AsyncSession, *, viewer: User, user_id: uuid.UUID
) -> PublicProfile:
    """A user's public profile for an admin, themselves, or a teacher of a course the user is in.

    Anyone else gets the same 404 as for an unknown id, so a stranger cannot tell whether the
    account exists. It lives here, not in identity: who may see whom is a rule of enrollment,
    and identity, the base domain, imports no domain built on it.
    """
    user = await identity.admin_get_user(session, user_id=user_id)
    if viewer.role != Role.admin and viewer.id != user.id:
        allowed = viewer.role == Role.teacher and await teacher_can_see_student(
            session, teacher_id=viewer.id, student_id=user.id
        )
        if not allowed:
            raise NotFound("User not found")
    course_ids = await enrolled_course_ids(session, user_id=user.id)
    return PublicProfile(user=user, enrolled_course_ids=list(course_ids))


async def teacher_can_see_student(
    session: AsyncSession, *, teacher_id: uuid.UUID, student_id: uuid.UUID
) -> bool:
    """Whether the student is enrolled in one of the teacher's courses."""
    return await repository.teacher_has_student(
        session, teacher_id=teacher_id, student_id=student_id
    )


async def record_activity(
    session: AsyncSession, *, course_id: uuid.UUID, student_id: uuid.UUID
) -> None:
    """Mark the student active in the course now (quiz attempts, submissions, tutor use)."""
    await repository.touch_activity(
        session, course_id=course_id, student_id=student_id, at=utcnow()
    )


async def delete_user_data(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Remove a deleted user's enrollments, progress and watch events (personal data).

    Courses a deleted teacher owned stay, with their soft link, for an admin to reassign.
    """
    await session.execute(delete(VideoWatchEvent).where(VideoWatchEvent.student_id == user_id))
    await session.execute(delete(LessonProgress).where(LessonProgress.student_id == user_id))
    await session.execute(delete(Enrollment).where(Enrollment.student_id == user_id))
    await repository.delete_assistant_rows(session, user_id)


# ---------------------------------------------------------------- courses


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
    await record(
        session,
        action="course.created",
        actor_id=actor.id,
        target_type="course",
        target_id=course.id,
        details={"code": course.code, "teacher_id": str(teacher_id)},
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
        await record(
            session,
            action="course.owner_changed",
            actor_id=actor.id,
            target_type="course",
            target_id=course.id,
            details={"from": str(course.teacher_id), "to": str(new_teacher)},
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
    await record(
        session,
        action="course.join_code_rotated",
        actor_id=actor.id,
        target_type="course",
        target_id=course.id,
    )
    return course.join_code


async def delete_course(session: AsyncSession, *, actor: User, course: Course) -> None:
    """Delete a course with everything in it (dependent domains clean up through hooks)."""
    for hook in _course_deleted_hooks:
        await hook(session, course_id=course.id)
    await repository.delete_course(session, course.id)
    await record(
        session,
        action="course.deleted",
        actor_id=actor.id,
        target_type="course",
        target_id=course.id,
        details={"code": course.code},
    )


async def list_courses(
    session: AsyncSession,
    *,
    viewer: User,
    teacher_id: uuid.UUID | None,
    search: str | None,
    level: str | None,
    language: str | None,
    is_published: bool | None,
    limit: int,
    offset: int,
    category: str | None = None,
) -> Page[CourseSummary]:
    """The catalog as the viewer may see it."""
    rows, total = await repository.list_courses(
        session,
        viewer_id=viewer.id,
        role=viewer.role,
        teacher_id=teacher_id,
        search=search,
        level=level,
        category=category_key(category) if category else None,
        language=language,
        is_published=is_published,
        limit=limit,
        offset=offset,
    )
    return page_of(rows, total, window(limit, offset), lambda row: _summary(*row))


async def courses_by_category(session: AsyncSession) -> dict[str, int]:
    """How many courses each category holds (courses without one are not counted)."""
    return await repository.count_by_category(session)


async def taught_courses(
    session: AsyncSession, *, teacher: User, limit: int, offset: int
) -> Page[CourseSummary]:
    """The courses the user owns or assists in (a teacher's own list), newest first."""
    rows, total = await repository.list_courses(
        session,
        viewer_id=teacher.id,
        role=teacher.role,
        teacher_id=None,
        search=None,
        level=None,
        language=None,
        is_published=None,
        limit=limit,
        offset=offset,
        taught_by=teacher.id,
    )
    return page_of(rows, total, window(limit, offset), lambda row: _summary(*row))


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
    module_out = [
        ModuleOut(
            id=m.id,
            course_id=m.course_id,
            title=m.title,
            position=m.position,
            lessons=by_module[m.id],
        )
        for m in modules
    ]
    base = CourseSummary.model_validate(course).model_dump()
    base["student_count"] = student_count
    return CourseDetail(
        **base,
        guide=course.guide if for_manager else None,
        join_code=course.join_code if for_manager else None,
        lesson_count=len(summaries),
        modules=module_out,
        lessons=summaries,
    )


# ---------------------------------------------------------------- modules


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


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
        old, new = module.position, _clamp(data.position, 0, count - 1)
        if new < old:
            await repository.shift_modules(
                session, module.course_id, start=new, end=old - 1, delta=1
            )
        elif new > old:
            await repository.shift_modules(
                session, module.course_id, start=old + 1, end=new, delta=-1
            )
        module.position = new
    await session.flush()
    lessons = [
        LessonSummary.model_validate(lesson)
        for lesson in await repository.lesson_outline(session, module.course_id)
        if lesson.module_id == module.id
    ]
    return ModuleOut(
        id=module.id,
        course_id=module.course_id,
        title=module.title,
        position=module.position,
        lessons=lessons,
    )


async def delete_module(session: AsyncSession, *, module: Module) -> None:
    """Delete a module and its lessons; later modules move up."""
    await repository.lock_course(session, module.course_id)
    lesson_ids = [
        lesson.id
        for lesson in await repository.lesson_outline(session, module.course_id)
        if lesson.module_id == module.id
    ]
    for lesson_id in lesson_ids:
        for hook in _lesson_deleted_hooks:
            await hook(session, lesson_id=lesson_id)
    position = module.position
    await repository.delete_module(session, module.id)
    await repository.shift_modules(
        session, module.course_id, start=position + 1, end=None, delta=-1
    )


# ---------------------------------------------------------------- lessons


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
        old, new = lesson.position, _clamp(new_position, 0, count - 1)
        if new < old:
            await repository.shift_lessons(
                session,
                lesson.course_id,
                lesson.module_id,
                start=new,
                end=old - 1,
                delta=1,
                exclude=lesson.id,
            )
        elif new > old:
            await repository.shift_lessons(
                session,
                lesson.course_id,
                lesson.module_id,
                start=old + 1,
                end=new,
                delta=-1,
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
    for hook in _lesson_deleted_hooks:
        await hook(session, lesson_id=lesson.id)
    await repository.delete_lesson(session, lesson.id)
    await repository.shift_lessons(
        session, lesson.course_id, lesson.module_id, start=lesson.position + 1, end=None, delta=-1
    )


# ---------------------------------------------------------------- enrollment


def is_paid(course: Course) -> bool:
    """Whether joining the course goes through a checkout."""
    return course.price is not None and course.price > 0


def check_self_enrollment(course: Course, join_code: str | None, *, paying: bool = False) -> None:
    """Whether a student may join on their own: the course's visibility and price decide.

    `paying`: the student is starting a checkout, so the price is not in the way.
    """
    if course.visibility == Visibility.private:
        raise EnrollmentClosed()
    if course.visibility == Visibility.invite and (
        not join_code
        or course.join_code is None
        or not secrets.compare_digest(join_code.strip().upper(), course.join_code)
    ):
        raise JoinCodeRequired()
    if is_paid(course) and not paying:
        raise PaymentRequired()


async def enroll(
    session: AsyncSession, *, student: User, course: Course, join_code: str | None = None
) -> EnrollmentOut:
    """A student joins a published course on their own; 409 when already enrolled."""
    check_self_enrollment(course, join_code)
    return await add_enrollment(session, student=student, course=course)


async def add_enrollment(session: AsyncSession, *, student: User, course: Course) -> EnrollmentOut:
    """Enroll a student (the visibility rules are the caller's); 409 when already enrolled."""
    inserted = await repository.insert_enrollment(
        session, course_id=course.id, student_id=student.id, now=utcnow()
    )
    if not inserted:
        raise AlreadyEnrolled()
    enrollment = await repository.get_enrollment(
        session, course_id=course.id, student_id=student.id
    )
    assert enrollment is not None
    return EnrollmentOut.model_validate(enrollment)


async def unenroll(session: AsyncSession, *, student: User, course: Course) -> None:
    """Leave a course (progress is kept should the student come back)."""
    if not await repository.delete_enrollment(session, course_id=course.id, student_id=student.id):
        raise NotEnrolled()


def _percent(done: int, total: int) -> float:
    return round(100.0 * done / total, 1) if total else 0.0


async def list_enrolled(
    session: AsyncSession, *, student: User, limit: int, offset: int
) -> Page[EnrolledCourse]:
    """The student's courses with progress."""
    rows, total = await repository.list_enrolled_courses(
        session, student_id=student.id, limit=limit, offset=offset
    )
    items = [
        EnrolledCourse(
            **CourseSummary.model_validate(r.course).model_dump(exclude={"student_count"}),
            student_count=r.student_count,
            enrolled_at=r.enrolled_at,
            last_activity_at=r.last_activity_at,
            lessons_total=r.lessons_total,
            lessons_completed=r.lessons_completed,
            progress_percent=_percent(r.lessons_completed, r.lessons_total),
        )
        for r in rows
    ]
    return page_of(items, total, window(limit, offset))


def _student_row(r: repository.StudentRow) -> StudentProgressRow:
    return StudentProgressRow(
        student_id=r.student_id,
        email=r.email,
        username=r.username,
        full_name=r.full_name,
        course_id=r.course_id,
        course_code=r.course_code,
        course_title=r.course_title,
        enrolled_at=r.enrolled_at,
        last_activity_at=r.last_activity_at,
        lessons_total=r.lessons_total,
        lessons_completed=r.lessons_completed,
        progress_percent=_percent(r.lessons_completed, r.lessons_total),
    )


async def course_students(
    session: AsyncSession, *, course: Course, limit: int, offset: int
) -> Page[StudentProgressRow]:
    """The students of one course with their progress."""
    rows, total = await repository.list_students(
        session, course_ids_of_teacher=None, course_id=course.id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), _student_row)


async def all_students(session: AsyncSession, *, course: Course) -> list[StudentProgressRow]:
    """Every student of one course with their progress (for whole-course views: gradebook)."""
    rows, _ = await repository.list_students(
        session, course_ids_of_teacher=None, course_id=course.id, limit=None, offset=0
    )
    return [_student_row(r) for r in rows]


async def teacher_students(
    session: AsyncSession,
    *,
    teacher: User,
    course_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Page[StudentProgressRow]:
    """Students across the teacher's courses (admins: across all courses)."""
    if course_id is not None:
        course = await repository.get_course(session, course_id)
        if course is None or not await teaches(session, user=teacher, course=course):
            raise CourseNotFound()
    owner = None if teacher.role == Role.admin else teacher.id
    rows, total = await repository.list_students(
        session, course_ids_of_teacher=owner, course_id=course_id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), _student_row)


# ---------------------------------------------------------------- progress


async def update_progress(
    session: AsyncSession, *, student: User, lesson: Lesson, data: ProgressUpdate
) -> ProgressUpdateOut:
    """Record a lesson report: completion and/or a video watch event; course % follows."""
    now = utcnow()
    row = await repository.ensure_progress(
        session, lesson_id=lesson.id, course_id=lesson.course_id, student_id=student.id, now=now
    )
    if data.completed is True and not row.completed:
        row.completed, row.completed_at = True, now
    elif data.completed is False:
        row.completed, row.completed_at = False, None
    if data.video_position_s is not None or data.video_watched_s is not None:
        if lesson.video_url is None:
            raise LessonHasNoVideo()
        duration = lesson.duration_s or 0

        def within(seconds: float) -> float:
            # A player can report past the end (or a client can make figures up): a lesson's
            # figures never exceed its length, so analytics averages stay meaningful.
            return min(seconds, float(duration)) if duration > 0 else seconds

        if data.video_position_s is not None:
            row.video_position_s = within(data.video_position_s)
        if data.video_watched_s is not None:
            # Cumulative counter from the player: a retried or reordered report never lowers it.
            row.video_watched_s = max(row.video_watched_s, within(data.video_watched_s))
        reached_end = duration > 0 and row.video_position_s >= VIDEO_COMPLETION_RATIO * duration
        if reached_end and not row.completed and data.completed is not False:
            row.completed, row.completed_at = True, now
        await repository.add_watch_event(
            session,
            VideoWatchEvent(
                lesson_id=lesson.id,
                course_id=lesson.course_id,
                student_id=student.id,
                position_s=row.video_position_s,
                watched_s=row.video_watched_s,
                created_at=now,
            ),
        )
    row.updated_at = now
    await repository.touch_activity(
        session, course_id=lesson.course_id, student_id=student.id, at=now
    )
    await session.flush()
    done = await repository.completed_lessons(
        session, course_id=lesson.course_id, student_id=student.id
    )
    total = await repository.count_lessons(session, lesson.course_id)
    return ProgressUpdateOut(
        lesson_id=row.lesson_id,
        course_id=row.course_id,
        completed=row.completed,
        completed_at=row.completed_at,
        video_position_s=row.video_position_s,
        video_watched_s=row.video_watched_s,
        updated_at=row.updated_at,
        course_progress_percent=_percent(done, total),
    )


async def course_progress(
    session: AsyncSession, *, student: User, course: Course
) -> CourseProgressOut:
    """The student's per-lesson progress in a course, derived from the progress rows."""
    rows = await repository.course_progress_rows(
        session, course_id=course.id, student_id=student.id
    )
    best: dict[uuid.UUID, float] = {}
    for provider in _lesson_scores:
        for lesson_id, percent in (
            await provider(session, course_id=course.id, student_id=student.id)
        ).items():
            best[lesson_id] = max(percent, best.get(lesson_id, percent))
    lessons = [
        LessonProgressRow(
            lesson_id=lesson.id,
            module_id=lesson.module_id,
            title=lesson.title,
            position=lesson.position,
            completed=bool(progress and progress.completed),
            completed_at=progress.completed_at if progress else None,
            video_position_s=progress.video_position_s if progress else 0.0,
            video_watched_s=progress.video_watched_s if progress else 0.0,
            updated_at=progress.updated_at if progress else None,
            best_quiz_percent=best.get(lesson.id),
        )
        for lesson, progress in rows
    ]
    done = sum(1 for row in lessons if row.completed)
    return CourseProgressOut(
        course_id=course.id,
        lessons_total=len(lessons),
        lessons_completed=done,
        progress_percent=_percent(done, len(lessons)),
        lessons=lessons,
    )


async def video_analytics(session: AsyncSession, *, lesson: Lesson) -> VideoAnalyticsOut:
    """Views, viewers, completion, watch time and drop-off of a lesson's video."""
    figures = await repository.video_figures(session, lesson.id)
    duration = float(lesson.duration_s or 0) or figures.furthest_position_s
    histogram = await repository.drop_off_histogram(session, lesson.id, duration_s=duration or 1.0)
    viewers = figures.unique_viewers
    return VideoAnalyticsOut(
        lesson_id=lesson.id,
        duration_s=duration or None,
        views=figures.views,
        unique_viewers=viewers,
        watch_events=figures.watch_events,
        completions=figures.completions,
        completion_rate=round(figures.completions / viewers, 4) if viewers else 0.0,
        average_watch_time_s=round(figures.average_watch_time_s, 2),
        drop_off=[
            DropOffBucket(from_percent=i * 10, to_percent=(i + 1) * 10, viewers=histogram.get(i, 0))
            for i in range(10)
        ],
    )
