"""The audit entries of what teachers and admins do to a course."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record_on
from studyhall.courses.models import Course
from studyhall.identity.models import User


async def audit_course(
    session: AsyncSession,
    actor: User,
    course: Course,
    action: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record `action` (`course.…`) by `actor` on the course, in the caller's unit of work.

    Positional: every call reads as one sentence (who, on what, did what, with which details).
    """
    await record_on(session, actor, "course", course, action, details)
