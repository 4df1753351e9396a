"""Platform statistics for admins: figures gathered from each domain's own service."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.analytics.service import course_stats
from studyhall.billing import service as billing
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.courses import service as courses
from studyhall.identity import service as identity
from studyhall.jobs import service as jobs
from studyhall.knowledge import service as knowledge
from studyhall.tutor import service as tutor

ACTIVE_WINDOW = timedelta(days=7)
# The learning figures (analytics' own) that /admin/stats shows, under their own names.
_LEARNING_FIGURES = ("courses", "published_courses", "enrollments", "quiz_attempts", "submissions")


class TokensUsed(BaseModel):
    today: int
    last_30_days: int


# Billing's figures of a currency, under the API's name.
class RevenueLine(billing.CurrencyMoney):
    pass


class CourseRevenueLine(BaseModel):
    """Seats sold in one paid course (minor units of `currency`)."""

    course_id: uuid.UUID
    course_code: str | None  # None once the course is deleted
    currency: str
    gross: int
    refunded: int
    net: int
    payments: int


class MonthRevenueLine(billing.MonthRevenue):
    """One UTC month (`YYYY-MM`, by the payment's success): course seats and token packages."""


class PlatformStats(BaseModel):
    users_by_role: dict[str, int]
    active_users_7d: int
    courses: int
    published_courses: int
    enrollments: int
    quiz_attempts: int
    submissions: int
    documents: int
    chunks: int
    jobs_by_status: dict[str, int]
    chat_sessions: int
    chat_messages: int
    tokens_used: TokensUsed
    revenue: list[RevenueLine]
    revenue_by_course: list[CourseRevenueLine]
    revenue_by_month: list[MonthRevenueLine]


async def platform_stats(session: AsyncSession, *, settings: Settings) -> PlatformStats:
    """Every figure of GET /admin/stats, each computed by aggregate queries in its domain."""
    now = utcnow()
    day_start, _ = billing.day_window(now, settings.billing)
    learning = await course_stats(session)
    docs = await knowledge.knowledge_stats(session)
    chats = await tutor.tutor_totals(session, since=None)
    today = await billing.usage_stats(session, since=day_start)
    month = await billing.usage_stats(session, since=now - timedelta(days=30))
    money = await billing.revenue(session)
    codes = await courses.codes_by_id(session, course_ids=[c.course_id for c in money.by_course])
    return PlatformStats(
        users_by_role=await identity.count_users_by_role(session),
        active_users_7d=await identity.count_active_users(session, since=now - ACTIVE_WINDOW),
        **{name: getattr(learning, name) for name in _LEARNING_FIGURES},
        documents=docs.documents,
        chunks=docs.chunks,
        jobs_by_status=await jobs.count_by_status(session),
        chat_sessions=chats.sessions,
        chat_messages=chats.messages,
        tokens_used=TokensUsed(today=today.tokens_used, last_30_days=month.tokens_used),
        revenue=[RevenueLine.model_validate(c, from_attributes=True) for c in money.currencies],
        revenue_by_course=[
            CourseRevenueLine(**asdict(c), net=c.net, course_code=codes.get(c.course_id))
            for c in money.by_course
        ],
        revenue_by_month=[
            MonthRevenueLine.model_validate(m, from_attributes=True) for m in money.by_month
        ],
    )
