"""GET /admin/stats against figures computed by hand on a small data set."""

from __future__ import annotations

from datetime import timedelta

import httpx

from studyhall.billing import service as billing
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.jobs.models import JobStatus
from studyhall.jobs.service import enqueue
from tests.courses.helpers import API, Headers, World


async def test_admin_stats_match_the_data(
    client: httpx.AsyncClient, db: Database, world: World, auth: Headers, make_user: object
) -> None:
    # world: 2 teachers, 2 students, 1 admin; 3 courses (2 published); 1 enrollment.
    async with db.session() as session:
        world.student.last_active_at = utcnow() - timedelta(days=1)
        world.other_student.last_active_at = utcnow() - timedelta(days=8)
        session.add_all([world.student, world.other_student])
        failed = await enqueue(session, kind="test.noop", payload={})
        failed.status = JobStatus.failed
        await enqueue(session, kind="test.noop", payload={})
        reservation = await billing.reserve(
            session, user_id=world.student.id, amount=300, purpose="tutor"
        )
        await billing.finalize(session, reservation_id=reservation.id, actual=120)

    response = await client.get(f"{API}/admin/stats", headers=auth(world.admin))
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["users_by_role"] == {"teacher": 2, "student": 2, "admin": 1}
    assert stats["active_users_7d"] == 1
    assert stats["courses"] == 3
    assert stats["published_courses"] == 2
    assert stats["enrollments"] == 1
    assert stats["documents"] == 0 and stats["chunks"] == 0
    assert stats["jobs_by_status"] == {"queued": 1, "running": 0, "succeeded": 0, "failed": 1}
    assert stats["chat_sessions"] == 0 and stats["chat_messages"] == 0
    assert stats["tokens_used"] == {"today": 120, "last_30_days": 120}
    assert stats["revenue"] == []


async def test_admin_stats_need_an_admin(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    assert (await client.get(f"{API}/admin/stats")).status_code == 401
    for user in (world.student, world.teacher):
        assert (await client.get(f"{API}/admin/stats", headers=auth(user))).status_code == 403
