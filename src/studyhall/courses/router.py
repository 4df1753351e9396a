"""HTTP routes of the courses domain."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from studyhall.billing import payments
from studyhall.billing import service as billing
from studyhall.billing.schemas import CourseBudgetIn, CourseBudgetOut
from studyhall.core.db import SessionDep
from studyhall.core.errors import PayloadTooLarge, UnsupportedMediaType
from studyhall.core.idempotency import IdempotencyDep
from studyhall.core.idempotent_routes import idempotent
from studyhall.core.openapi import OPTIONAL_CREDENTIALS, DocumentedRoute, error_response, errors
from studyhall.core.pagination import PageParams
from studyhall.core.schemas import Page
from studyhall.courses import checkout, roster, service, teachers
from studyhall.courses.dependencies import (
    CatalogCourse,
    CatalogViewer,
    CourseById,
    EnrolledCourse,
    OwnedCourse,
    OwnedLesson,
    OwnedModule,
    ReadableLesson,
    StudentCourse,
    StudentLesson,
    TaughtCourse,
    TaughtLesson,
)
from studyhall.courses.models import Course
from studyhall.courses.schemas import (
    AssistantAdd,
    CourseCheckoutOut,
    CourseCreate,
    CourseDetail,
    CourseProgressOut,
    CourseSummary,
    CourseTeacherOut,
    CourseUpdate,
    EnrollIn,
    EnrollmentOut,
    JoinCodeOut,
    LessonCreate,
    LessonOut,
    LessonUpdate,
    ModuleCreate,
    ModuleOut,
    ModuleUpdate,
    ProgressUpdate,
    ProgressUpdateOut,
    RosterAdd,
    RosterImportOut,
    RosterRowOut,
    StudentProgressRow,
    VideoAnalyticsOut,
)
from studyhall.courses.schemas import (
    EnrolledCourse as EnrolledCourseOut,
)
from studyhall.identity.dependencies import (
    AdminUser,
    CurrentUser,
    SettingsDep,
    StudentUser,
    TeacherOrAdmin,
)
from studyhall.identity.models import User

router = APIRouter(tags=["courses"], route_class=DocumentedRoute)


ROSTER_MAX_BYTES = 1024 * 1024


def catalog_filters(
    teacher_id: uuid.UUID | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    level: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[
        str | None, Query(max_length=64, description="Courses of this category (any case)")
    ] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    is_published: bool | None = None,
) -> service.CourseFilter:
    """The catalog's filters, shared by the signed-in list and the public catalog."""
    return service.CourseFilter(teacher_id, search, level, category, language, is_published)


CatalogQuery = Annotated[service.CourseFilter, Depends(catalog_filters)]


@router.get("/courses")
async def list_courses(
    session: SessionDep, user: CurrentUser, page: PageParams, query: CatalogQuery
) -> Page[CourseSummary]:
    """Published courses, plus a teacher's own drafts (admins see every course)."""
    return await service.catalog_page(session, viewer=user, filters=query, page=page)


@router.get("/catalog/courses", openapi_extra=OPTIONAL_CREDENTIALS)
async def public_catalog(
    session: SessionDep, viewer: CatalogViewer, page: PageParams, query: CatalogQuery
) -> Page[CourseSummary]:
    """The public catalog, no sign-in needed: published courses that are not private. A caller
    who sends credentials gets what `GET /courses` shows them (a bad token is still 401)."""
    return await service.catalog_page(session, viewer=viewer, filters=query, page=page)


@router.post("/courses", status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_course(
    session: SessionDep, user: TeacherOrAdmin, body: CourseCreate
) -> CourseDetail:
    """Create a course; the calling teacher becomes its owner. 409 when the code is taken."""
    return await service.create_course(session, actor=user, data=body)


@router.get("/courses/enrolled")
async def enrolled_courses(
    session: SessionDep, user: StudentUser, page: PageParams
) -> Page[EnrolledCourseOut]:
    """My courses with progress_percent, enrolled_at and last_activity_at."""
    return await service.list_enrolled(session, student=user, limit=page.limit, offset=page.offset)


async def _course_detail(session: SessionDep, viewer: User | None, course: Course) -> CourseDetail:
    manager = viewer is not None and await service.teaches(session, user=viewer, course=course)
    return await service.course_detail(session, course=course, for_manager=manager)


@router.get("/courses/{course_id}")
async def get_course(session: SessionDep, user: CurrentUser, course: CourseById) -> CourseDetail:
    """A course with its modules, lessons (ordered) and student_count; its teachers (owner,
    assistants, admins) also get the guide and the join code."""
    return await _course_detail(session, user, course)


@router.get("/catalog/courses/{course_id}", openapi_extra=OPTIONAL_CREDENTIALS)
async def public_course(
    session: SessionDep, viewer: CatalogViewer, course: CatalogCourse
) -> CourseDetail:
    """A course of the public catalog with its modules and lessons, no sign-in needed (404 for
    a draft or a private course); with credentials, as `GET /courses/{course_id}`."""
    return await _course_detail(session, viewer, course)


@router.patch("/courses/{course_id}", responses=errors(409))
async def update_course(
    session: SessionDep, user: CurrentUser, course: OwnedCourse, body: CourseUpdate
) -> CourseDetail:
    """Update a course (owner teacher or admin; only admins may change teacher_id)."""
    return await service.update_course(session, actor=user, course=course, data=body)


@router.delete("/courses/{course_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_course(session: SessionDep, user: CurrentUser, course: OwnedCourse) -> None:
    """Delete a course and everything in it."""
    await service.delete_course(session, actor=user, course=course)


@router.post(
    "/courses/{course_id}/enroll",
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(403, 409),
        402: error_response(402, "The course has a price (`payment_required`)"),
    },
)
async def enroll(
    session: SessionDep, user: StudentUser, course: StudentCourse, body: EnrollIn | None = None
) -> EnrollmentOut:
    """Enroll in a published course: public ones freely, invite ones with `join_code`.

    A private course answers 403 `enrollment_closed` (its teacher adds students), a course with a
    price 402 `payment_required` (its seat is bought through `POST /courses/{id}/checkout`), and
    409 when already enrolled.
    """
    return await service.enroll(
        session, student=user, course=course, join_code=body.join_code if body else None
    )


@router.post(
    "/courses/{course_id}/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseCheckoutOut,
    responses={
        **errors(403),
        409: error_response(
            409,
            "Already enrolled (`already_enrolled`), or Idempotency-Key reused with another body",
        ),
        422: error_response(422, "The course has no price (`course_is_free`)"),
        502: error_response(502, "The payment provider failed (`payment_provider_error`)"),
        503: error_response(503, "Payments are not configured (`payments_not_configured`)"),
    },
)
@idempotent(
    "POST /courses/{course_id}/checkout",
    status_code=status.HTTP_201_CREATED,
    caller="user",
    request=lambda course, body: {"course_id": course.id, "body": body},
)
async def start_checkout(
    session: SessionDep,
    user: StudentUser,
    course: StudentCourse,
    settings: SettingsDep,
    idem: IdempotencyDep,
    body: EnrollIn | None = None,
) -> CourseCheckoutOut:
    """Start paying for a seat in a course with a price → `{client_secret, publishable_key}`.

    The same rules as enrolling apply (403 `enrollment_closed` for a private course, the join code
    of an invite course); the student is enrolled when the provider's signed webhook reports the
    payment succeeded, exactly once, and a full refund ends the enrollment. While the student's
    last payment for the seat is unpaid and not canceled, a new checkout returns that payment
    again (a second click or tab never charges twice).
    """
    amount = await checkout.seat_price(
        session, student=user, course=course, join_code=body.join_code if body else None
    )
    # The provider gets the same key, so a retry never opens a second payment there either.
    result = await payments.start_course_checkout(
        session,
        user_id=user.id,
        course_id=course.id,
        course_code=course.code,
        amount=amount,
        settings=settings.billing,
        idempotency_key=idem.key,
    )
    return CourseCheckoutOut.model_validate(result)


@router.get("/courses/{course_id}/token-budget")
async def get_token_budget(session: SessionDep, course: TaughtCourse) -> CourseBudgetOut:
    """The course's total token budget, what its tutor answers have spent and hold, and what
    remains (owner teacher, assistants, admin)."""
    return CourseBudgetOut.model_validate(
        await billing.get_course_budget(session, course_id=course.id), from_attributes=True
    )


@router.put("/courses/{course_id}/token-budget", responses=errors(403, 404))
async def set_token_budget(
    session: SessionDep, admin: AdminUser, course: TaughtCourse, body: CourseBudgetIn
) -> CourseBudgetOut:
    """Set the course's total token budget (null removes it; admins only, like the daily cap:
    the budget is what the platform grants the course, so its teachers see it but cannot raise
    it); audited.

    Once spent (with what answers in progress hold), the tutor refuses the course's questions
    with 402 `course_budget_exhausted`, whoever asks and whatever their wallet holds.
    """
    view = await billing.set_course_budget(
        session, course_id=course.id, token_budget=body.token_budget, actor_id=admin.id
    )
    return CourseBudgetOut.model_validate(view, from_attributes=True)


@router.post("/courses/{course_id}/join-code", responses=errors(403, 404))
async def rotate_join_code(
    session: SessionDep, user: CurrentUser, course: OwnedCourse
) -> JoinCodeOut:
    """A new join code for the course (owner teacher or admin); the old one stops working."""
    code = await service.rotate_join_code(session, actor=user, course=course)
    return JoinCodeOut(course_id=course.id, join_code=code)


@router.delete("/courses/{course_id}/enroll", status_code=status.HTTP_204_NO_CONTENT)
async def unenroll(session: SessionDep, user: StudentUser, course: StudentCourse) -> None:
    """Leave a course (404 when not enrolled)."""
    await service.unenroll(session, student=user, course=course)


@router.post(
    "/courses/{course_id}/students",
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404),
)
async def add_student(
    session: SessionDep,
    user: CurrentUser,
    course: OwnedCourse,
    settings: SettingsDep,
    body: RosterAdd,
) -> RosterRowOut:
    """Enroll a student by email (owner teacher, admin), whatever the course's visibility.

    An address without an account gets an invited student account and a mail to choose a
    password (`created`); `already_enrolled` and `invalid` (not a student account, not an
    address) change nothing.
    """
    return await roster.add_student(
        session, settings=settings, actor=user, course=course, entry=body
    )


@router.post(
    "/courses/{course_id}/students/import",
    responses=errors(403, 404, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "email,full_name\nada@example.org,Ada Lovelace\n",
                }
            },
        }
    },
)
async def import_students(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    course: OwnedCourse,
    settings: SettingsDep,
) -> RosterImportOut:
    """Enroll a roster from a CSV file (`email`, `full_name` columns; header optional).

    Each line gets a report row: `created` (invited account), `enrolled`, `already_enrolled` or
    `invalid` with the reason. At most 5,000 lines and 1 MiB.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("text/csv", "text/plain", "application/csv"):
        raise UnsupportedMediaType("Send the roster as text/csv")
    body = await request.body()
    if len(body) > ROSTER_MAX_BYTES:
        raise PayloadTooLarge("A roster file is at most 1 MiB")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("latin-1")  # older spreadsheet exports
    return await roster.import_roster(
        session, settings=settings, actor=user, course=course, text=text
    )


@router.delete(
    "/courses/{course_id}/students/{student_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(403, 404),
)
async def remove_student(
    session: SessionDep, user: CurrentUser, course: OwnedCourse, student_id: uuid.UUID
) -> None:
    """Take a student out of the course (owner teacher, admin); their progress is kept."""
    await roster.remove_student(session, actor=user, course=course, student_id=student_id)


@router.get("/courses/{course_id}/students")
async def course_students(
    session: SessionDep, course: TaughtCourse, page: PageParams
) -> Page[StudentProgressRow]:
    """Enrolled students with their progress (the course's teachers, admin)."""
    return await service.course_students(
        session, course=course, limit=page.limit, offset=page.offset
    )


@router.get("/courses/{course_id}/teachers")
async def course_teachers(session: SessionDep, course: TaughtCourse) -> list[CourseTeacherOut]:
    """The course's owner and its assistants (the course's teachers, admin)."""
    return await teachers.list_teachers(session, course=course)


@router.post(
    "/courses/{course_id}/assistants",
    status_code=status.HTTP_201_CREATED,
    responses=errors(409),
)
async def add_assistant(
    session: SessionDep, user: CurrentUser, course: OwnedCourse, body: AssistantAdd
) -> CourseTeacherOut:
    """Add a teacher account as an assistant (owner teacher, admin).

    Assistants grade, see the analytics, the students, the gradebook and the quiz answers; only
    the owner or an admin changes the course, manages assistants or deletes it. 422
    `not_a_teacher` when no active teacher account has the address; 409 `already_teaching`.
    """
    return await teachers.add_assistant(session, actor=user, course=course, email=body.email)


@router.delete(
    "/courses/{course_id}/assistants/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404),
)
async def remove_assistant(
    session: SessionDep, user: CurrentUser, course: OwnedCourse, user_id: uuid.UUID
) -> None:
    """Take an assistant off the course (owner teacher, admin); 404 when not an assistant."""
    await teachers.remove_assistant(session, actor=user, course=course, user_id=user_id)


@router.get("/courses/{course_id}/progress")
async def course_progress(
    session: SessionDep, user: StudentUser, course: EnrolledCourse
) -> CourseProgressOut:
    """My per-lesson progress in a course I am enrolled in."""
    return await service.course_progress(session, student=user, course=course)


@router.post("/courses/{course_id}/modules", status_code=status.HTTP_201_CREATED)
async def create_module(session: SessionDep, course: OwnedCourse, body: ModuleCreate) -> ModuleOut:
    """Add a module; a position inserts it there and shifts the modules after it."""
    return await service.create_module(session, course=course, data=body)


@router.patch("/modules/{module_id}")
async def update_module(session: SessionDep, module: OwnedModule, body: ModuleUpdate) -> ModuleOut:
    """Rename or move a module; positions stay dense (0..n-1)."""
    return await service.update_module(session, module=module, data=body)


@router.delete("/modules/{module_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_module(session: SessionDep, module: OwnedModule) -> None:
    """Delete a module with its lessons; later modules move up."""
    await service.delete_module(session, module=module)


@router.post("/courses/{course_id}/lessons", status_code=status.HTTP_201_CREATED)
async def create_lesson(session: SessionDep, course: OwnedCourse, body: LessonCreate) -> LessonOut:
    """Add a lesson to the course (optionally in a module, at a position)."""
    lesson = await service.create_lesson(session, course=course, data=body)
    return LessonOut.model_validate(lesson)


@router.get("/lessons/{lesson_id}")
async def get_lesson(lesson: ReadableLesson) -> LessonOut:
    """A lesson with its content (enrolled students, the owner teacher, admins)."""
    return LessonOut.model_validate(lesson)


@router.patch("/lessons/{lesson_id}")
async def update_lesson(session: SessionDep, lesson: OwnedLesson, body: LessonUpdate) -> LessonOut:
    """Edit or move a lesson."""
    updated = await service.update_lesson(session, lesson=lesson, data=body)
    return LessonOut.model_validate(updated)


@router.delete("/lessons/{lesson_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lesson(session: SessionDep, lesson: OwnedLesson) -> None:
    """Delete a lesson; later lessons move up."""
    await service.delete_lesson(session, lesson=lesson)


@router.put("/lessons/{lesson_id}/progress")
async def update_progress(
    session: SessionDep, user: StudentUser, lesson: StudentLesson, body: ProgressUpdate
) -> ProgressUpdateOut:
    """Report progress on a lesson. Video reports are stored as watch events; reaching 90% of
    the video's duration completes the lesson. Returns my lesson state and course progress %."""
    return await service.update_progress(session, student=user, lesson=lesson, data=body)


@router.get("/lessons/{lesson_id}/video-analytics")
async def video_analytics(session: SessionDep, lesson: TaughtLesson) -> VideoAnalyticsOut:
    """Views, unique viewers, completion rate, average watch time and drop-off points."""
    return await service.video_analytics(session, lesson=lesson)


@router.get("/teacher/students", responses=errors(404))
async def teacher_students(
    session: SessionDep,
    user: TeacherOrAdmin,
    page: PageParams,
    course_id: uuid.UUID | None = None,
) -> Page[StudentProgressRow]:
    """Students across my courses, one row per (student, course); filter by course_id."""
    return await service.teacher_students(
        session, teacher=user, course_id=course_id, limit=page.limit, offset=page.offset
    )
