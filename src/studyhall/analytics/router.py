"""HTTP routes of course analytics (platform statistics are served by GET /admin/stats)."""

from __future__ import annotations

from fastapi import APIRouter

from studyhall.analytics import service
from studyhall.analytics.schemas import CourseAnalytics
from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute
from studyhall.core.pagination import PageParams
from studyhall.courses.dependencies import TaughtCourse

router = APIRouter(tags=["analytics"], route_class=DocumentedRoute)


@router.get("/courses/{course_id}/analytics")
async def course_analytics(
    session: SessionDep,
    course: TaughtCourse,
    page: PageParams,
) -> CourseAnalytics:
    """Total and active (last 7 days) students, completion rate, average quiz score, per-student
    rows (paged with ?limit/?offset) and the questions students ask the tutor most."""
    return await service.course_analytics(
        session, course=course, limit=page.limit, offset=page.offset
    )
