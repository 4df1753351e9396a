"""E-learning gateway dialect (document 003): the five `/content/admin/stats*` routes.

Figures come from the domains' own aggregate services (the same sources as StudyHall's
`GET /admin/stats`), so they are admin-only like their canonical twin. Where StudyHall holds no
data for a figure the answer says so instead of inventing one (`courses_by_category` counts
categorised courses only). Revenue per course is what paid courses' seats brought in;
token packages belong to no course, so they count in the totals only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter

from studyhall.analytics.service import course_stats
from studyhall.billing import service as billing
from studyhall.compat.elearning import errors
from studyhall.core.clock import utcnow
from studyhall.core.db import SessionDep
from studyhall.courses import service as courses
from studyhall.identity import service as identity
from studyhall.identity.dependencies import AdminUser
from studyhall.identity.models import Role
from studyhall.video import service as videos

router = APIRouter(prefix="/api/v1/content/admin/stats")

_ADMIN_ONLY = errors(401, 403)
WEEK = timedelta(days=7)
# "Active students" without a window in the document: course activity in the last 30 days.
ACTIVE_WINDOW = timedelta(days=30)


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


async def _students(session: SessionDep) -> int:
    return (await identity.count_users_by_role(session)).get(str(Role.student), 0)


async def _net_revenue(session: SessionDep, since: datetime | None) -> tuple[float, str | None]:
    """Net payments (gross less refunds) in major units of the most used currency, and it.

    The document has one money figure; StudyHall keeps each currency apart and never adds
    amounts of different currencies.
    """
    money = await billing.revenue(session, since=since)
    main = _main_currency(money)
    return (main.net / 100, main.currency) if main else (0.0, None)


def _main_currency(money: billing.Revenue) -> billing.CurrencyRevenue | None:
    paid = [c for c in money.currencies if c.payments]
    return max(paid, key=lambda c: (c.payments, c.currency)) if paid else None


async def _revenue_by_course(session: SessionDep) -> list[dict[str, Any]]:
    """Each paid course's net seat revenue in the main currency (`enrollments`: seats paid)."""
    money = await billing.revenue(session)
    main = _main_currency(money)
    lines = [c for c in money.by_course if main and c.currency == main.currency]
    titles = await courses.titles_by_id(session, course_ids=[c.course_id for c in lines])
    return [
        {
            "course_id": str(c.course_id),
            "course_name": titles.get(c.course_id),
            "revenue": c.net / 100,
            "enrollments": c.payments,
        }
        for c in sorted(lines, key=lambda c: -c.net)
    ]


@router.get("", responses=_ADMIN_ONLY, summary="Platform figures (admins)")
async def overview(admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    now = utcnow()
    learning = await course_stats(session)
    activity = await courses.enrollment_figures(
        session, active_since=_day_start(now), enrolled_since=now - WEEK
    )
    revenue, currency = await _net_revenue(session, None)
    return {
        "total_courses": learning.courses,
        "total_students": await _students(session),
        "total_videos": (await videos.totals(session)).videos,
        "total_revenue": revenue,
        "currency": currency,
        "active_students_today": activity.active_students,
        "new_enrollments_this_week": activity.new_enrollments,
    }


@router.get("/courses", responses=_ADMIN_ONLY, summary="Course figures (admins)")
async def course_figures(admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    learning = await course_stats(session)
    return {
        "total_courses": learning.courses,
        "published_courses": learning.published_courses,
        "draft_courses": learning.courses - learning.published_courses,
        # Courses without a category are in the totals only.
        "courses_by_category": await courses.courses_by_category(session),
    }


@router.get("/students", responses=_ADMIN_ONLY, summary="Student figures (admins)")
async def student_figures(admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    now = utcnow()
    activity = await courses.enrollment_figures(
        session, active_since=now - ACTIVE_WINDOW, enrolled_since=now - WEEK
    )
    rate = 100 * activity.lessons_done / activity.lessons_to_do if activity.lessons_to_do else 0.0
    return {
        "total_students": await _students(session),
        "active_students": activity.active_students,
        "new_students_this_month": await identity.count_new_users(
            session, role=Role.student, since=_month_start(now)
        ),
        "completion_rate": round(rate, 1),
    }


@router.get("/videos", responses=_ADMIN_ONLY, summary="Video figures (admins)")
async def video_figures(admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    totals = await videos.totals(session)
    most = totals.most_watched
    return {
        "total_videos": totals.videos,
        "total_watch_time": f"{round(totals.watched_s / 3600)} hours",
        "most_watched_video": (
            {"id": str(most[0]), "title": most[1], "views": most[2]} if most else None
        ),
    }


@router.get("/revenue", responses=_ADMIN_ONLY, summary="Revenue (admins)")
async def revenue_figures(admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    total, currency = await _net_revenue(session, None)
    monthly, _ = await _net_revenue(session, _month_start(utcnow()))
    return {
        "total_revenue": total,
        "monthly_revenue": monthly,
        "currency": currency,
        "revenue_by_course": await _revenue_by_course(session),
    }
