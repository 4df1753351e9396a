"""Assignments, submissions (JSON and files), versions, late flags and grading."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.assessments.service import MAX_SUBMISSION_FILE_BYTES
from studyhall.audit.models import AuditLog
from studyhall.core.clock import clock, utcnow
from studyhall.core.db import Database
from tests.courses.helpers import API, Headers, World, enroll

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def make_assignment(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"title": "Food web essay", "description": "Draw a food web.", "max_score": 20, **fields}
    r = await client.post(f"{API}/courses/{course_id}/assignments", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_assignment_crud_and_permissions(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    cid = world.course_a["id"]
    due = (utcnow() + timedelta(days=7)).isoformat()
    assignment = await make_assignment(client, auth(world.teacher), cid, due_at=due)
    assert assignment["max_score"] == 20 and assignment["due_at"].endswith("Z")
    assert assignment["submissions_count"] == 0 and assignment["graded_count"] == 0
    aid = assignment["id"]
    body = {"title": "x"}
    for user, status in ((world.student, 403), (world.other_teacher, 403), (world.admin, 201)):
        r = await client.post(f"{API}/courses/{cid}/assignments", json=body, headers=auth(user))
        assert r.status_code == status
    assert (await client.post(f"{API}/courses/{cid}/assignments", json=body)).status_code == 401

    for user, status in (
        (world.student, 200),
        (world.teacher, 200),
        (world.admin, 200),
        (world.other_student, 403),
        (world.other_teacher, 403),
    ):
        assert (
            await client.get(f"{API}/assignments/{aid}", headers=auth(user))
        ).status_code == status
        r = await client.get(f"{API}/courses/{cid}/assignments", headers=auth(user))
        assert r.status_code == status
    listing = (
        await client.get(f"{API}/courses/{cid}/assignments", headers=auth(world.student))
    ).json()
    assert listing["total"] == 2 and listing["items"][0]["id"] == aid  # due soonest first

    draft = await make_assignment(client, auth(world.teacher), world.course_b["id"])
    for path in (f"/assignments/{draft['id']}", f"/assignments/{draft['id']}/submissions"):
        assert (await client.get(API + path, headers=auth(world.student))).status_code == 404
    r = await client.post(
        f"{API}/assignments/{draft['id']}/submissions",
        json={"content": "x"},
        headers=auth(world.student),
    )
    assert r.status_code == 404

    for user, status in ((world.student, 403), (world.other_teacher, 403), (world.teacher, 200)):
        r = await client.patch(
            f"{API}/assignments/{aid}", json={"max_score": 30}, headers=auth(user)
        )
        assert r.status_code == status
    assert (await client.get(f"{API}/assignments/{aid}", headers=auth(world.student))).json()[
        "max_score"
    ] == 30
    assert (
        await client.delete(f"{API}/assignments/{aid}", headers=auth(world.other_teacher))
    ).status_code == 403
    assert (
        await client.delete(f"{API}/assignments/{aid}", headers=auth(world.teacher))
    ).status_code == 204
    assert (
        await client.get(f"{API}/assignments/{aid}", headers=auth(world.teacher))
    ).status_code == 404


async def test_submissions_versions_late_flag_and_counts(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    clock.advance(-timedelta(days=2))  # start in the past so the clock can move forward
    due = utcnow() + timedelta(days=1)
    assignment = await make_assignment(
        client, auth(world.teacher), world.course_a["id"], due_at=due.isoformat()
    )
    aid = assignment["id"]
    classmate = await make_user("student")
    await enroll(client, auth(classmate), world.course_a["id"])

    r = await client.post(
        f"{API}/assignments/{aid}/submissions",
        json={"content": "First draft"},
        headers=auth(world.student),
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["version"] == 1 and first["is_current"] and first["late"] is False
    assert first["file_name"] is None

    clock.advance(timedelta(days=1, hours=1))  # past the due date
    r = await client.post(
        f"{API}/assignments/{aid}/submissions",
        data={"content": "Final version"},
        files={"file": ("essay.pdf", PDF, "application/pdf")},
        headers=auth(world.student),
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["version"] == 2 and second["is_current"] and second["late"] is True
    assert (second["file_name"], second["file_type"], second["file_size"]) == (
        "essay.pdf",
        "application/pdf",
        len(PDF),
    )
    await client.post(
        f"{API}/assignments/{aid}/submissions", json={"content": "Mine"}, headers=auth(classmate)
    )

    own = (
        await client.get(f"{API}/assignments/{aid}/submissions", headers=auth(world.student))
    ).json()
    assert [(s["version"], s["is_current"]) for s in own["items"]] == [(2, True), (1, False)]
    assert own["assignment"]["submissions_count"] == 1  # a student's counts are their own
    owner = (
        await client.get(f"{API}/assignments/{aid}/submissions", headers=auth(world.teacher))
    ).json()
    assert owner["total"] == 2 and all(s["is_current"] for s in owner["items"])
    assert (
        owner["assignment"]["submissions_count"] == 2 and owner["assignment"]["graded_count"] == 0
    )
    history = (
        await client.get(
            f"{API}/assignments/{aid}/submissions",
            params={"history": "true", "student_id": str(world.student.id)},
            headers=auth(world.teacher),
        )
    ).json()
    assert history["total"] == 2

    # The file is served to its student and the teacher only.
    file_url = f"{API}/submissions/{second['id']}/file"
    r = await client.get(file_url, headers=auth(world.teacher))
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert (await client.get(file_url, headers=auth(world.student))).status_code == 200
    for user in (classmate, world.other_teacher, world.other_student):
        assert (await client.get(file_url, headers=auth(user))).status_code == 404
        r = await client.get(f"{API}/submissions/{second['id']}", headers=auth(user))
        assert r.status_code == 404
    r = await client.get(f"{API}/submissions/{first['id']}/file", headers=auth(world.student))
    assert r.status_code == 404

    # Who may submit.
    for user, status in ((world.teacher, 403), (world.admin, 403), (world.other_student, 403)):
        r = await client.post(
            f"{API}/assignments/{aid}/submissions", json={"content": "x"}, headers=auth(user)
        )
        assert r.status_code == status
    r = await client.post(f"{API}/assignments/{aid}/submissions", json={"content": "x"})
    assert r.status_code == 401


async def test_submission_file_checks(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    assignment = await make_assignment(client, auth(world.teacher), world.course_a["id"])
    url = f"{API}/assignments/{assignment['id']}/submissions"
    s = auth(world.student)

    async def upload(name: str, data: bytes, content: str = "") -> httpx.Response:
        return await client.post(
            url,
            data={"content": content},
            files={"file": (name, data, "application/octet-stream")},
            headers=s,
        )

    cases = [
        ("photo.jpg", PNG, "image/png"),  # the content decides, not the name
        ("scan.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image/jpeg"),
        (
            "essay.docx",
            _docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("écologie.md", "# Notes\n\nÉcologie".encode(), "text/markdown"),
        ("notes.txt", b"plain text", "text/plain"),
    ]
    for name, data, media in cases:
        r = await upload(name, data)
        assert r.status_code == 201, (name, r.text)
        assert r.json()["file_type"] == media
        assert r.json()["file_name"] == name
        download = await client.get(f"{API}/submissions/{r.json()['id']}/file", headers=s)
        assert download.status_code == 200 and download.content == data

    bad = [
        ("archive.zip", _zip_without_docx()),
        ("program.exe", b"MZ\x90\x00\x03" + b"\x00" * 60),
        ("binary.txt", b"\x00\x01\x02 not text"),
    ]
    for name, data in bad:
        r = await upload(name, data)
        assert r.status_code == 415 and r.json()["code"] == "unsupported_file_type", name
    r = await upload("big.pdf", b"%PDF-" + b"0" * MAX_SUBMISSION_FILE_BYTES)
    assert r.status_code == 413
    r = await client.post(url, json={"content": "   "}, headers=s)
    assert r.status_code == 422 and r.json()["code"] == "empty_submission"
    r = await client.post(url, json={"content": "x", "score": 100}, headers=s)
    assert r.status_code == 422  # no mass assignment of a score
    r = await client.post(url, content=b"content=x", headers={**s, "content-type": "text/csv"})
    assert r.status_code == 415


def _zip_without_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


async def test_grading(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    assignment = await make_assignment(client, auth(world.teacher), world.course_a["id"])
    submission = (
        await client.post(
            f"{API}/assignments/{assignment['id']}/submissions",
            json={"content": "My work"},
            headers=auth(world.student),
        )
    ).json()
    url = f"{API}/submissions/{submission['id']}/grade"
    grade = {"score": 17.5, "feedback": "Good food web; label the decomposers."}
    for user, status in (
        (world.other_teacher, 404),  # cannot even see another teacher's student's work
        (world.other_student, 404),
        (world.student, 403),  # may see it, may not grade it
    ):
        assert (await client.put(url, json=grade, headers=auth(user))).status_code == status
    assert (await client.put(url, json=grade)).status_code == 401
    r = await client.put(
        url, json={"score": 20.5, "feedback": "too much"}, headers=auth(world.teacher)
    )
    assert r.status_code == 422 and r.json()["code"] == "score_above_max"
    r = await client.put(url, json={"score": -1}, headers=auth(world.teacher))
    assert r.status_code == 422

    r = await client.put(url, json=grade, headers=auth(world.teacher))
    assert r.status_code == 200, r.text
    graded = r.json()
    assert graded["score"] == 17.5 and graded["feedback"].startswith("Good")
    assert graded["graded_by"] == str(world.teacher.id) and graded["graded_at"] is not None
    r = await client.put(url, json={"score": 19, "feedback": "Regraded"}, headers=auth(world.admin))
    assert r.status_code == 200

    mine = (
        await client.get(f"{API}/submissions/{submission['id']}", headers=auth(world.student))
    ).json()
    assert mine["score"] == 19 and mine["feedback"] == "Regraded"
    counts = (
        await client.get(f"{API}/assignments/{assignment['id']}", headers=auth(world.teacher))
    ).json()
    assert counts["submissions_count"] == 1 and counts["graded_count"] == 1
    # max_score cannot drop below a grade already given.
    r = await client.patch(
        f"{API}/assignments/{assignment['id']}", json={"max_score": 10}, headers=auth(world.teacher)
    )
    assert r.status_code == 422

    async with db.session() as session:
        logs = list(
            await session.scalars(
                select(AuditLog).where(AuditLog.action == "grade.set").order_by(AuditLog.created_at)
            )
        )
    assert [
        (log.actor_id, log.details["score"], log.details["previous_score"]) for log in logs
    ] == [
        (world.teacher.id, 17.5, None),
        (world.admin.id, 19, 17.5),
    ]
    assert logs[0].target_type == "submission" and logs[0].target_id == submission["id"]
    assert logs[0].details["student_id"] == str(world.student.id)


async def test_deleting_an_account_removes_its_learning_data(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    from sqlalchemy import func

    from studyhall.assessments.models import QuizAttempt, Submission
    from studyhall.courses.models import Enrollment, LessonProgress

    s = auth(world.student)
    assignment = await make_assignment(client, auth(world.teacher), world.course_a["id"])
    r = await client.post(
        f"{API}/assignments/{assignment['id']}/submissions", json={"content": "mine"}, headers=s
    )
    assert r.status_code == 201
    quiz = await client.post(
        f"{API}/courses/{world.course_a['id']}/quizzes",
        json={"title": "q", "questions": [{"prompt": "p", "kind": "true_false", "answer": True}]},
        headers=auth(world.teacher),
    )
    await client.post(
        f"{API}/quizzes/{quiz.json()['id']}/attempts", json={"answers": [True]}, headers=s
    )
    await client.put(
        f"{API}/lessons/{world.lesson_a['id']}/progress", json={"video_position_s": 3}, headers=s
    )
    assert (await client.delete(f"{API}/users/me", headers=s)).status_code == 204
    async with db.session(write=False) as session:
        for model in (Enrollment, LessonProgress, QuizAttempt, Submission):
            n = await session.scalar(
                select(func.count()).select_from(model).where(model.student_id == world.student.id)  # type: ignore[attr-defined]
            )
            assert n == 0, model
    r = await client.get(f"{API}/courses/{world.course_a['id']}", headers=auth(world.teacher))
    assert r.json()["student_count"] == 0
