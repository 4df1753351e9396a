"""Workspace API on the process backend: start or return, status, stop and restart with the
home kept, 409 while starting, quotas, the creation rate limit, courses, admins, audit rows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.config import Settings, WorkspaceProfile
from studyhall.core.db import Database
from studyhall.identity.models import Role, User
from studyhall.main import create_app
from studyhall.workspaces.models import Workspace
from tests.conftest import MakeUser
from tests.workspaces.conftest import API, ECHO_APP, with_workspaces

Headers = Callable[[User], dict[str, str]]


async def _actions(db: Database, workspace_id: str) -> list[str]:
    async with db.session(write=False) as session:
        rows = await session.scalars(
            select(AuditLog.action)
            .where(AuditLog.target_id == workspace_id)
            .order_by(AuditLog.created_at, AuditLog.id)
        )
        return list(rows)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _pid(db: Database, workspace_id: str) -> int:
    async with db.session(write=False) as session:
        row = await session.get(Workspace, uuid.UUID(workspace_id))
        assert row is not None and row.backend_id is not None
        return int(row.backend_id)


async def test_start_return_stop_and_restart_keeps_the_home(
    client: httpx.AsyncClient, student: User, auth: Headers, db: Database
) -> None:
    h = auth(student)
    first = await client.post(f"{API}/workspaces", json={}, headers=h)
    assert first.status_code == 201, first.text
    workspace = first.json()
    assert workspace["status"] == "running" and workspace["backend"] == "process"
    assert workspace["url"] == f"http://testserver/workspaces/{workspace['id']}/"
    assert "token" not in workspace and "endpoint" not in workspace
    pid = await _pid(db, workspace["id"])
    assert _alive(pid)

    again = await client.post(f"{API}/workspaces", json={}, headers=h)
    assert again.status_code == 200 and again.json()["id"] == workspace["id"]
    mine = await client.get(f"{API}/workspaces/me", headers=h)
    assert mine.status_code == 200 and mine.json()["status"] == "running"

    saved = await client.put(
        f"/workspaces/{workspace['id']}/files/notes.txt", content=b"kept", headers=h
    )
    assert saved.status_code == 201

    stopped = await client.delete(f"{API}/workspaces/me", headers=h)
    assert stopped.status_code == 204
    assert not _alive(pid)
    assert (await client.get(f"{API}/workspaces/me", headers=h)).json()["status"] == "stopped"
    refused = await client.get(f"/workspaces/{workspace['id']}/", headers=h)
    assert refused.status_code == 409 and refused.json()["code"] == "workspace_not_running"

    restarted = await client.post(f"{API}/workspaces", json={}, headers=h)
    assert restarted.status_code == 201 and restarted.json()["id"] == workspace["id"]
    kept = await client.get(f"/workspaces/{workspace['id']}/files/notes.txt", headers=h)
    assert kept.status_code == 200 and kept.content == b"kept"

    assert await _actions(db, workspace["id"]) == [
        "workspace.start",
        "workspace.stop",
        "workspace.start",
    ]


async def test_the_workspace_runs_capped_without_the_servers_environment(
    client: httpx.AsyncClient, student: User, auth: Headers, settings: Settings
) -> None:
    os.environ["STUDYHALL_SECRET_KEY_FOR_TEST"] = "must-not-leak"
    try:
        started = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
    finally:
        del os.environ["STUDYHALL_SECRET_KEY_FOR_TEST"]
    info = (await client.get(f"/workspaces/{started.json()['id']}/", headers=auth(student))).json()
    assert info["rlimit_as"] == settings.workspaces.memory_mb * 1024 * 1024
    assert "STUDYHALL_SECRET_KEY_FOR_TEST" not in info["environ"]
    assert "STUDYHALL_WORKSPACE_TOKEN" in info["environ"]


async def test_a_second_start_while_the_first_runs_is_409(
    client: httpx.AsyncClient, student: User, auth: Headers
) -> None:
    h = auth(student)
    answers = await asyncio.gather(
        client.post(f"{API}/workspaces", json={}, headers=h),
        client.post(f"{API}/workspaces", json={}, headers=h),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409], [a.text for a in answers]
    conflict = next(a for a in answers if a.status_code == 409)
    assert conflict.json()["code"] == "workspace_starting"
    # Stopping while it starts is refused too, and once started it stops.
    assert (await client.delete(f"{API}/workspaces/me", headers=h)).status_code == 204


@contextlib.asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built with these settings (on the same database)."""
    app = create_app(settings, run_worker=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.db.dispose()


async def test_quotas_per_user_and_in_total(
    settings: Settings, make_user: MakeUser, auth: Headers, teacher: User
) -> None:
    limited = with_workspaces(settings, max_running_per_user=1, max_running_total=2)
    async with client_for(limited) as client:
        first, second, third = [await make_user(Role.student) for _ in range(3)]
        course = await client.post(
            f"{API}/courses",
            json={"code": "WS101", "title": "Python", "is_published": True},
            headers=auth(teacher),
        )
        course_id = course.json()["id"]
        assert (
            await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(first))
        ).status_code == 201
        assert (
            await client.post(f"{API}/workspaces", json={}, headers=auth(first))
        ).status_code == 201
        per_user = await client.post(
            f"{API}/workspaces", json={"course_id": course_id}, headers=auth(first)
        )
        assert per_user.status_code == 409
        assert per_user.json()["code"] == "workspace_quota_exceeded"
        assert (
            await client.post(f"{API}/workspaces", json={}, headers=auth(second))
        ).status_code == 201
        full = await client.post(f"{API}/workspaces", json={}, headers=auth(third))
        assert full.status_code == 503 and full.headers["retry-after"]
        assert full.json()["code"] == "workspace_backend_unavailable"
        for user in (first, second):
            assert (
                await client.delete(f"{API}/workspaces/me", headers=auth(user))
            ).status_code == 204
        assert (
            await client.post(f"{API}/workspaces", json={}, headers=auth(third))
        ).status_code == 201
        assert (await client.delete(f"{API}/workspaces/me", headers=auth(third))).status_code == 204


async def test_creation_is_rate_limited_per_user(
    settings: Settings, student: User, admin: User, auth: Headers
) -> None:
    limits = settings.rate_limits.model_copy(update={"workspace_create_per_user": "2/hour"})
    async with client_for(settings.model_copy(update={"rate_limits": limits})) as client:
        h = auth(student)
        assert (await client.post(f"{API}/workspaces", json={}, headers=h)).status_code == 201
        assert (await client.post(f"{API}/workspaces", json={}, headers=h)).status_code == 200
        limited = await client.post(f"{API}/workspaces", json={}, headers=h)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        # Per user: someone else still starts theirs.
        assert (
            await client.post(f"{API}/workspaces", json={}, headers=auth(admin))
        ).status_code == 201
        for user in (student, admin):
            assert (
                await client.delete(f"{API}/workspaces/me", headers=auth(user))
            ).status_code == 204


async def test_course_workspaces_follow_course_access_and_the_chosen_profile(
    client: httpx.AsyncClient,
    student: User,
    teacher: User,
    make_user: MakeUser,
    auth: Headers,
    db: Database,
) -> None:
    course = await client.post(
        f"{API}/courses",
        json={"code": "WS102", "title": "Shell", "is_published": True},
        headers=auth(teacher),
    )
    course_id = course.json()["id"]
    outsider = await client.post(
        f"{API}/workspaces", json={"course_id": course_id}, headers=auth(student)
    )
    assert outsider.status_code == 404
    await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(student))

    profile_url = f"{API}/courses/{course_id}/workspace-profile"
    assert (await client.get(profile_url, headers=auth(teacher))).json() == {
        "profile": "default",
        "choices": ["default"],
    }
    unknown = await client.put(profile_url, json={"profile": "gpu"}, headers=auth(teacher))
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_workspace_profile"
    assert (
        await client.put(profile_url, json={"profile": "default"}, headers=auth(student))
    ).status_code == 403
    chosen = await client.put(profile_url, json={"profile": "default"}, headers=auth(teacher))
    assert chosen.status_code == 200

    started = await client.post(
        f"{API}/workspaces", json={"course_id": course_id}, headers=auth(student)
    )
    assert started.status_code == 201, started.text
    assert started.json()["scope"] == f"course:{course_id}"
    assert started.json()["course_id"] == course_id
    # The personal workspace is another one.
    assert (await client.get(f"{API}/workspaces/me", headers=auth(student))).status_code == 404
    mine = await client.get(
        f"{API}/workspaces/me", params={"course_id": course_id}, headers=auth(student)
    )
    assert mine.json()["id"] == started.json()["id"]


async def test_admins_list_and_stop_any_workspace(
    client: httpx.AsyncClient, student: User, admin: User, auth: Headers, db: Database
) -> None:
    started = (await client.post(f"{API}/workspaces", json={}, headers=auth(student))).json()
    assert (await client.get(f"{API}/admin/workspaces", headers=auth(student))).status_code == 403
    listed = await client.get(
        f"{API}/admin/workspaces", params={"status": "running"}, headers=auth(admin)
    )
    assert listed.status_code == 200
    assert [w["id"] for w in listed.json()["items"]] == [started["id"]]
    assert listed.json()["items"][0]["user_id"] == str(student.id)
    refused = await client.post(
        f"{API}/admin/workspaces/{started['id']}/stop", headers=auth(student)
    )
    assert refused.status_code == 403
    stopped = await client.post(f"{API}/admin/workspaces/{started['id']}/stop", headers=auth(admin))
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert await _actions(db, started["id"]) == ["workspace.start", "workspace.admin_stop"]
    unknown = await client.post(f"{API}/admin/workspaces/{uuid.uuid4()}/stop", headers=auth(admin))
    assert unknown.status_code == 404


def _processes_with(marker: str) -> list[int]:
    """Processes whose command line carries the marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


async def test_a_workspace_that_does_not_answer_in_time_or_exits_is_given_up(
    settings: Settings, student: User, auth: Headers, db: Database
) -> None:
    marker = f"never-serves-{uuid.uuid4().hex}"
    silent = with_workspaces(
        settings,
        process_command=[sys.executable, "-c", "import time; time.sleep(600)", marker],
        start_timeout_s=1.5,
    )
    async with client_for(silent) as client:
        h = auth(student)
        answer = await client.post(f"{API}/workspaces", json={}, headers=h)
        assert answer.status_code == 502, answer.text
        assert answer.json()["code"] == "workspace_start_failed"
        assert "did not answer within 2 s" in answer.json()["detail"]
        mine = (await client.get(f"{API}/workspaces/me", headers=h)).json()
        assert mine["status"] == "failed" and "did not answer" in mine["error"]
    # The process that never served was stopped, not left behind.
    assert _processes_with(marker) == []

    crashing = with_workspaces(
        settings, process_command=[sys.executable, "-c", "raise SystemExit(3)"]
    )
    async with client_for(crashing) as client:
        answer = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
        assert answer.status_code == 502
        assert answer.json()["detail"] == "The workspace exited with status 3 while starting"
    assert await _actions(db, mine["id"]) == ["workspace.start_failed", "workspace.start_failed"]


async def test_the_profile_a_course_chooses_is_what_its_students_start(
    settings: Settings, student: User, teacher: User, auth: Headers, db: Database
) -> None:
    marker = f"python-course-{uuid.uuid4().hex}"
    profiles = {
        "python": WorkspaceProfile(command=[sys.executable, str(ECHO_APP), "{port}", marker])
    }
    async with client_for(with_workspaces(settings, profiles=profiles)) as client:
        course = await client.post(
            f"{API}/courses",
            json={"code": "WS103", "title": "Data", "is_published": True},
            headers=auth(teacher),
        )
        course_id = course.json()["id"]
        await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(student))
        profile_url = f"{API}/courses/{course_id}/workspace-profile"
        assert (await client.get(profile_url, headers=auth(teacher))).json()["choices"] == [
            "default",
            "python",
        ]
        chosen = await client.put(profile_url, json={"profile": "python"}, headers=auth(teacher))
        assert chosen.status_code == 200 and chosen.json()["profile"] == "python"

        in_course = await client.post(
            f"{API}/workspaces", json={"course_id": course_id}, headers=auth(student)
        )
        assert in_course.status_code == 201, in_course.text
        assert in_course.json()["profile"] == "python"
        pid = await _pid(db, in_course.json()["id"])
        assert marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        # The student's own workspace keeps the operator's default command.
        personal = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
        assert personal.status_code == 201
        other = await _pid(db, personal.json()["id"])
        assert marker not in Path(f"/proc/{other}/cmdline").read_bytes().decode()
        for params in ({"course_id": course_id}, {}):
            stopped = await client.delete(
                f"{API}/workspaces/me", params=params, headers=auth(student)
            )
            assert stopped.status_code == 204
    async with db.session(write=False) as session:
        audited = await session.scalar(
            select(AuditLog.details).where(AuditLog.action == "workspace.course_profile")
        )
    assert audited == {"profile": "python"}
