"""Submitted files follow their rows: deleting a user, a course or an assignment removes the
files by a job once the deletion commits, and a deletion that rolls back keeps them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import service as assessments
from studyhall.assessments.models import Assignment, Submission
from studyhall.core.db import Database
from studyhall.courses import service as courses
from studyhall.courses.models import Course
from studyhall.identity import service as identity
from studyhall.identity.models import User
from studyhall.jobs.models import Job, JobStatus
from studyhall.jobs.worker import Worker
from tests.assessments.test_assignments import PDF, make_assignment
from tests.courses.helpers import API, Headers, World


class RequestFailed(Exception):
    """Something after the deletion failed, so its unit of work rolls back."""


async def _submit_file(client: httpx.AsyncClient, headers: dict[str, str], aid: str) -> str:
    r = await client.post(
        f"{API}/assignments/{aid}/submissions",
        data={"content": "with a file"},
        files={"file": ("essay.pdf", PDF, "application/pdf")},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _stored_path(db: Database, app: Any, submission_id: str) -> Path:
    async with db.session(write=False) as session:
        submission = await session.get(Submission, uuid.UUID(submission_id))
        assert submission is not None and submission.file_key is not None
        path: Path = app.state.storage.local_path(submission.file_key)
    assert path.read_bytes() == PDF
    return path


async def _run_jobs(app: Any) -> None:
    await Worker(app.state.db, app.state.settings, app.state.storage, name="files").run_until_idle()


async def _file_jobs(db: Database) -> list[Job]:
    async with db.session(write=False) as session:
        rows = await session.scalars(select(Job).where(Job.kind == assessments.DELETE_FILES))
        return list(rows)


# Each case: (delete through the API, delete in a unit of work that then fails).
Deletion = Callable[[httpx.AsyncClient, AsyncSession, World, Headers, str], Awaitable[None]]


async def _user_by_api(
    c: httpx.AsyncClient, _s: AsyncSession, w: World, a: Headers, _: str
) -> None:
    assert (await c.delete(f"{API}/users/me", headers=a(w.student))).status_code == 204


async def _user_in_session(
    _c: httpx.AsyncClient, s: AsyncSession, w: World, _a: Headers, _: str
) -> None:
    user = await s.get(User, w.student.id)
    assert user is not None
    await identity.delete_me(s, user=user)


async def _course_by_api(
    c: httpx.AsyncClient, _s: AsyncSession, w: World, a: Headers, _: str
) -> None:
    url = f"{API}/courses/{w.course_a['id']}"
    assert (await c.delete(url, headers=a(w.teacher))).status_code == 204


async def _course_in_session(
    _c: httpx.AsyncClient, s: AsyncSession, w: World, _a: Headers, _: str
) -> None:
    course = await s.get(Course, uuid.UUID(w.course_a["id"]))
    teacher = await s.get(User, w.teacher.id)
    assert course is not None and teacher is not None
    await courses.delete_course(s, actor=teacher, course=course)


async def _assignment_by_api(
    c: httpx.AsyncClient, _s: AsyncSession, w: World, a: Headers, aid: str
) -> None:
    assert (await c.delete(f"{API}/assignments/{aid}", headers=a(w.teacher))).status_code == 204


async def _assignment_in_session(
    _c: httpx.AsyncClient, s: AsyncSession, _w: World, _a: Headers, aid: str
) -> None:
    assignment = await s.get(Assignment, uuid.UUID(aid))
    assert assignment is not None
    await assessments.delete_assignment(s, assignment=assignment)


CASES = {
    "user": (_user_by_api, _user_in_session),
    "course": (_course_by_api, _course_in_session),
    "assignment": (_assignment_by_api, _assignment_in_session),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_files_are_removed_by_a_job_after_the_deletion_commits(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database, app: Any, case: str
) -> None:
    assignment = await make_assignment(client, auth(world.teacher), world.course_a["id"])
    first = await _stored_path(
        db, app, await _submit_file(client, auth(world.student), assignment["id"])
    )
    second = await _stored_path(
        db, app, await _submit_file(client, auth(world.student), assignment["id"])
    )
    by_api, _ = CASES[case]
    async with db.session(write=False) as session:
        await by_api(client, session, world, auth, assignment["id"])

    # The rows are gone at once; the files wait for the job the deletion committed.
    async with db.session(write=False) as session:
        left = await session.scalar(select(func.count()).select_from(Submission))
    assert left == 0
    assert first.exists() and second.exists()
    jobs = await _file_jobs(db)
    assert len(jobs) == 1 and jobs[0].status == JobStatus.queued

    await _run_jobs(app)
    assert not first.exists() and not second.exists()
    jobs = await _file_jobs(db)
    assert jobs[0].status == JobStatus.succeeded
    assert jobs[0].result == {"deleted": 2}


@pytest.mark.parametrize("case", list(CASES))
async def test_files_stay_when_the_deletion_rolls_back(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database, app: Any, case: str
) -> None:
    assignment = await make_assignment(client, auth(world.teacher), world.course_a["id"])
    submission_id = await _submit_file(client, auth(world.student), assignment["id"])
    path = await _stored_path(db, app, submission_id)
    _, in_session = CASES[case]

    with pytest.raises(RequestFailed):
        async with db.session() as session:
            await in_session(client, session, world, auth, assignment["id"])
            raise RequestFailed

    assert await _file_jobs(db) == []
    await _run_jobs(app)
    assert path.read_bytes() == PDF
    r = await client.get(f"{API}/submissions/{submission_id}/file", headers=auth(world.student))
    assert r.status_code == 200 and r.content == PDF
