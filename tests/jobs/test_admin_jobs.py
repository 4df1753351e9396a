"""Admin routes over jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.jobs.models import JobStatus
from studyhall.jobs.service import enqueue

Auth = Callable[[User], dict[str, str]]


async def test_admin_lists_gets_and_retries_failed_jobs(
    client: httpx.AsyncClient, db: Database, admin: User, auth: Auth
) -> None:
    async with db.session() as session:
        job = await enqueue(session, kind="test.anything", payload={"secret": "mail body"})
        job.status = JobStatus.failed
        job.error = "boom"
        job.attempts = 5
    headers = auth(admin)
    listing = await client.get("/api/v1/admin/jobs?status=failed", headers=headers)
    assert listing.status_code == 200
    body = listing.json()
    assert body["total"] == 1 and body["limit"] == 20 and body["offset"] == 0
    item = body["items"][0]
    assert item["status"] == "failed" and item["error"] == "boom"
    assert "payload" not in item and "mail body" not in listing.text
    assert item["created_at"].endswith("Z")

    detail = await client.get(f"/api/v1/admin/jobs/{job.id}", headers=headers)
    assert detail.status_code == 200 and detail.json()["id"] == str(job.id)

    retried = await client.post(f"/api/v1/admin/jobs/{job.id}/retry", headers=headers)
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued" and retried.json()["attempts"] == 0
    again = await client.post(f"/api/v1/admin/jobs/{job.id}/retry", headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "job_not_failed"


async def test_dispatch_makes_the_oldest_waiting_job_due_now(
    client: httpx.AsyncClient, db: Database, admin: User, auth: Auth
) -> None:
    kind = "test.dispatched"
    dispatch = f"/api/v1/admin/jobs/dispatch?kind={kind}"
    r = await client.post(dispatch, headers=auth(admin))
    assert r.status_code == 404 and r.json()["code"] == "no_queued_job"
    async with db.session() as session:
        # Two waiting jobs, both in a retry's backoff (an hour away); the first is older.
        later = utcnow() + timedelta(hours=1)
        first = await enqueue(session, kind=kind, payload={"n": 1}, run_after=later)
        second = await enqueue(session, kind=kind, payload={"n": 2}, run_after=later)
        second.created_at = first.created_at + timedelta(seconds=1)
        other = await enqueue(session, kind="test.other", payload={}, run_after=later)
        other.created_at = first.created_at - timedelta(seconds=1)
    r = await client.post(dispatch, headers=auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == str(first.id) and r.json()["status"] == "queued"
    due = datetime.fromisoformat(r.json()["run_after"])
    assert due < later
    # The second still waits for its backoff's end; without a kind, the oldest of all goes.
    waiting = (await client.get(f"/api/v1/admin/jobs/{second.id}", headers=auth(admin))).json()
    assert abs((datetime.fromisoformat(waiting["run_after"]) - later).total_seconds()) < 1
    r = await client.post("/api/v1/admin/jobs/dispatch", headers=auth(admin))
    assert r.json()["id"] == str(other.id)


async def test_unknown_job_is_404(client: httpx.AsyncClient, admin: User, auth: Auth) -> None:
    response = await client.get(
        "/api/v1/admin/jobs/00000000-0000-7000-8000-000000000000", headers=auth(admin)
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_job_routes_need_an_admin(
    client: httpx.AsyncClient, student: User, teacher: User, auth: Auth
) -> None:
    paths = [
        ("GET", "/api/v1/admin/jobs"),
        ("GET", "/api/v1/admin/jobs/00000000-0000-7000-8000-000000000000"),
        ("POST", "/api/v1/admin/jobs/00000000-0000-7000-8000-000000000000/retry"),
        ("POST", "/api/v1/admin/jobs/dispatch"),
    ]
    for method, path in paths:
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        for user in (student, teacher):
            assert (await client.request(method, path, headers=auth(user))).status_code == 403


async def test_list_limits_are_validated(
    client: httpx.AsyncClient, admin: User, auth: Auth
) -> None:
    response = await client.get("/api/v1/admin/jobs?limit=101", headers=auth(admin))
    assert response.status_code == 422
