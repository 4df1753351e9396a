"""Who may join a course: visibility, join codes, prices, and rosters managed by teachers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from studyhall.config import Settings, SMTPSettings
from studyhall.core.db import Database
from studyhall.jobs.worker import Worker
from tests.courses.helpers import API, Headers, World, create_course
from tests.peers.smtp import SMTPPeer

NEW_PASSWORD = "Violet-Tangerine-Lamp-77"


@pytest.fixture
async def smtp() -> AsyncIterator[SMTPPeer]:
    peer = SMTPPeer()
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SMTPPeer) -> Settings:
    return settings.model_copy(
        update={"smtp": SMTPSettings(host="127.0.0.1", port=smtp.port, starttls=False, timeout_s=5)}
    )


@pytest.fixture
def worker(app: Any, db: Database, settings: Settings) -> Worker:
    return Worker(db, settings, app.state.storage, name="roster-test", concurrency=1)


async def _enroll(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/courses/{course_id}/enroll", json=body or None, headers=headers
    )


async def _catalog(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    r = await client.get(f"{API}/courses", params={"limit": 100}, headers=headers)
    return {c["id"] for c in r.json()["items"]}


async def test_visibility_decides_who_may_join(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    t, s = auth(world.teacher), auth(world.other_student)
    invite = await create_course(client, t, visibility="invite")
    private = await create_course(client, t, visibility="private")
    public = await create_course(client, t)
    assert public["visibility"] == "public" and public["join_code"] is None

    code = invite["join_code"]
    assert invite["visibility"] == "invite" and len(code) == 8
    # Students see the course but never its code.
    seen = (await client.get(f"{API}/courses/{invite['id']}", headers=s)).json()
    assert seen["join_code"] is None and seen["guide"] is None

    r = await _enroll(client, s, invite["id"])
    assert r.status_code == 403 and r.json()["code"] == "join_code_required"
    r = await _enroll(client, s, invite["id"], join_code="WRONG123")
    assert r.status_code == 403 and r.json()["code"] == "join_code_required"
    assert (await _enroll(client, s, invite["id"], join_code=code.lower())).status_code == 201

    # Rotating the code: the old one stops working, students already in stay.
    rotated = await client.post(f"{API}/courses/{invite['id']}/join-code", headers=t)
    assert rotated.status_code == 200 and rotated.json()["join_code"] != code
    late = auth(await make_user("student"))
    r = await _enroll(client, late, invite["id"], join_code=code)
    assert r.status_code == 403
    r = await _enroll(client, late, invite["id"], join_code=rotated.json()["join_code"])
    assert r.status_code == 201
    for who in (s, auth(world.other_teacher)):
        r = await client.post(f"{API}/courses/{invite['id']}/join-code", headers=who)
        assert r.status_code == 403

    # Private: not in a student's catalog, no self-enrollment; in it once the teacher adds them.
    assert private["id"] not in await _catalog(client, s)
    r = await _enroll(client, s, private["id"])
    assert r.status_code == 403 and r.json()["code"] == "enrollment_closed"
    added = await client.post(
        f"{API}/courses/{private['id']}/students",
        json={"email": world.other_student.email},
        headers=t,
    )
    assert added.status_code == 201 and added.json()["status"] == "enrolled"
    assert private["id"] in await _catalog(client, s)

    # A course with a price is not joined for free.
    paid = await create_course(client, t, price="49.00")
    r = await _enroll(client, s, paid["id"])
    assert r.status_code == 402 and r.json()["code"] == "payment_required"


async def test_teacher_adds_and_removes_students_and_invites_new_ones(
    client: httpx.AsyncClient,
    world: World,
    auth: Headers,
    worker: Worker,
    smtp: SMTPPeer,
) -> None:
    t = auth(world.teacher)
    cid = world.course_a["id"]
    r = await client.post(
        f"{API}/courses/{cid}/students",
        json={"email": "New.Pupil@Example.org", "full_name": "New Pupil"},
        headers=t,
    )
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["status"] == "created" and row["email"] == "new.pupil@example.org"

    # The invited student chooses a password through the mailed link, then signs in.
    await worker.run_until_idle()
    mail = smtp.last_to("new.pupil@example.org")
    assert mail.subject == "You have been invited to StudyHall"
    assert "http://testserver/reset-password?token=" in mail.text
    reset = await client.post(
        f"{API}/auth/password/reset", json={"token": mail.token(), "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    login = await client.post(
        f"{API}/auth/login", json={"email": "new.pupil@example.org", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200, login.text
    me = {"Authorization": f"Bearer {login.json()['access_token']}"}
    enrolled = (await client.get(f"{API}/courses/enrolled", headers=me)).json()["items"]
    assert [c["id"] for c in enrolled] == [cid]
    assert (await client.get(f"{API}/users/me", headers=me)).json()["is_verified"] is True

    again = await client.post(
        f"{API}/courses/{cid}/students", json={"email": world.student.email}, headers=t
    )
    assert again.json()["status"] == "already_enrolled"
    teacher_row = await client.post(
        f"{API}/courses/{cid}/students", json={"email": world.other_teacher.email}, headers=t
    )
    assert teacher_row.json()["status"] == "invalid"

    # Removing: the student leaves; a second removal is 404; others may not remove anyone.
    path = f"{API}/courses/{cid}/students/{row['user_id']}"
    for who in (auth(world.other_teacher), auth(world.student)):
        assert (await client.delete(path, headers=who)).status_code in (403, 404)
    assert (await client.delete(path, headers=t)).status_code == 204
    assert (await client.delete(path, headers=t)).status_code == 404
    assert (await client.get(f"{API}/courses/enrolled", headers=me)).json()["items"] == []


async def test_roster_csv_import_reports_every_line(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t = auth(world.teacher)
    cid = world.course_c["id"]  # the other teacher's course
    csv_text = (
        "Full name;E-mail\n"
        f"Student One;{world.student.email}\n"
        "Ana Pérez;ana.perez@example.org\n"
        "Nobody;not-an-email\n"
        "\n"
        "Ana again;ANA.PEREZ@example.org\n"
        f"A teacher;{world.teacher.email}\n"
    )
    url = f"{API}/courses/{cid}/students/import"
    refused = await client.post(
        url, content=csv_text.encode(), headers={**t, "Content-Type": "text/csv"}
    )
    assert refused.status_code == 403  # not this teacher's course
    owner = auth(world.other_teacher)
    response = await client.post(
        url, content=csv_text.encode(), headers={**owner, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(r["line"], r["status"]) for r in report["rows"]] == [
        (2, "enrolled"),
        (3, "created"),
        (4, "invalid"),
        (6, "invalid"),
        (7, "invalid"),
    ]
    assert (report["created"], report["enrolled"], report["invalid"]) == (1, 1, 3)
    assert report["rows"][3]["detail"] == "Listed twice in this file"
    # Importing again changes nothing and says so.
    again = await client.post(
        url, content=csv_text.encode(), headers={**owner, "Content-Type": "text/csv"}
    )
    assert again.json()["already_enrolled"] == 2 and again.json()["created"] == 0
    wrong_type = await client.post(url, json={"email": "x@example.org"}, headers=owner)
    assert wrong_type.status_code == 415


async def test_an_admin_manages_any_courses_roster(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    # The issue: "only the owner teacher or an admin adds students"; the admin owns no course.
    private = await create_course(client, auth(world.other_teacher), visibility="private")
    cid, admin = private["id"], auth(world.admin)
    added = await client.post(
        f"{API}/courses/{cid}/students", json={"email": world.student.email}, headers=admin
    )
    assert added.status_code == 201 and added.json()["status"] == "enrolled", added.text
    imported = await client.post(
        f"{API}/courses/{cid}/students/import",
        content=f"email,full_name\n{world.other_student.email},Other\n{world.student.email},S\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    assert [r["status"] for r in imported.json()["rows"]] == ["enrolled", "already_enrolled"]
    roster = await client.get(f"{API}/courses/{cid}/students", headers=admin)
    assert {r["student_id"] for r in roster.json()["items"]} == {
        str(world.student.id),
        str(world.other_student.id),
    }
    removed = await client.delete(f"{API}/courses/{cid}/students/{world.student.id}", headers=admin)
    assert removed.status_code == 204
    still = await client.get(f"{API}/courses/{cid}/students", headers=auth(world.other_teacher))
    assert [r["student_id"] for r in still.json()["items"]] == [str(world.other_student.id)]
