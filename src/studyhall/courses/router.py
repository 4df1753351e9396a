"""HTTP routes of the courses domain."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.schemas import Page, Pagination, pagination
from studyhall.courses import service
from studyhall.courses.dependencies import (
    CourseById,
    EnrolledCourse,
    OwnedCourse,
    OwnedLesson,
    OwnedModule,
    ReadableLesson,
    StudentCourse,
    StudentLesson,
)
from studyhall.courses.schemas import (
    CourseCreate,
    CourseDetail,
    CourseProgressOut,
    CourseSummary,
    CourseUpdate,
    EnrollmentOut,
    LessonCreate,
    LessonOut,
    LessonUpdate,
    ModuleCreate,
    ModuleOut,
    ModuleUpdate,
    ProgressUpdate,
    ProgressUpdateOut,
    StudentProgressRow,
    VideoAnalyticsOut,
)
from studyhall.courses.schemas import (
    EnrolledCourse as EnrolledCourseOut,
)
from studyhall.identity.dependencies import CurrentUser, StudentUser, TeacherOrAdmin

router = APIRouter(tags=["courses"], route_class=DocumentedRoute)

PageParams = Annotated[Pagination, Depends(pagination)]


@router.get("/courses")
async def list_courses(
    session: SessionDep,
    user: CurrentUser,
    page: PageParams,
    teacher_id: uuid.UUID | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    level: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    is_published: bool | None = None,
) -> Page[CourseSummary]:
    """Published courses, plus a teacher's own drafts (admins see every course)."""
    return await service.list_courses(
        session,
        viewer=user,
        teacher_id=teacher_id,
        search=search,
        level=level,
        language=language,
        is_published=is_published,
        limit=page.limit,
        offset=page.offset,
    )


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


@router.get("/courses/{course_id}")
async def get_course(session: SessionDep, user: CurrentUser, course: CourseById) -> CourseDetail:
    """A course with its modules, lessons (ordered) and student_count."""
    return await service.course_detail(
        session, course=course, include_guide=service.manages(user, course)
    )


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
    "/courses/{course_id}/enroll", status_code=status.HTTP_201_CREATED, responses=errors(409)
)
async def enroll(session: SessionDep, user: StudentUser, course: StudentCourse) -> EnrollmentOut:
    """Enroll in a published course (409 when already enrolled)."""
    return await service.enroll(session, student=user, course=course)


@router.delete("/courses/{course_id}/enroll", status_code=status.HTTP_204_NO_CONTENT)
async def unenroll(session: SessionDep, user: StudentUser, course: StudentCourse) -> None:
    """Leave a course (404 when not enrolled)."""
    await service.unenroll(session, student=user, course=course)


@router.get("/courses/{course_id}/students")
async def course_students(
    session: SessionDep, course: OwnedCourse, page: PageParams
) -> Page[StudentProgressRow]:
    """Enrolled students with their progress (owner teacher, admin)."""
    return await service.course_students(
        session, course=course, limit=page.limit, offset=page.offset
    )


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
async def video_analytics(session: SessionDep, lesson: OwnedLesson) -> VideoAnalyticsOut:
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
