"""GET /admin/stats."""

from __future__ import annotations

from fastapi import APIRouter

from studyhall.analytics.platform import PlatformStats, platform_stats
from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute
from studyhall.identity.dependencies import AdminUser, SettingsDep

router = APIRouter(prefix="/admin", tags=["admin"], route_class=DocumentedRoute)


@router.get("/stats")
async def admin_stats(
    session: SessionDep, settings: SettingsDep, _admin: AdminUser
) -> PlatformStats:
    """Users by role, active users (7 d), courses, enrollments, documents, chunks, jobs by status,
    chat sessions and messages, tokens used (today, 30 d) and revenue."""
    return await platform_stats(session, settings=settings)
