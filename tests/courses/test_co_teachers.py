"""Co-teachers: the owner (or an admin) adds assistants; assistants grade and see what the
owner sees; only the owner or an admin changes the course, manages assistants or deletes it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.courses.helpers import API, Headers, World


async def _add(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, email: str
) -> httpx.Response:
    return await client.post(
        f"{API}/courses/{course_id}/assistants", json={"email": email}, headers=headers
    )


async def test_owner_and_admin_manage_assistants(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    t, cid = auth(world.teacher), world.course_a["id"]
    assistant = await make_user("teacher")
    r = await _add(client, t, cid, assistant.email.upper())
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "assistant" and r.json()["user_id"] == str(assistant.id)

    listed = await client.get(f"{API}/courses/{cid}/teachers", headers=auth(assistant))
    assert listed.status_code == 200
    assert [(row["user_id"], row["role"]) for row in listed.json()] == [
        (str(world.teacher.id), "owner"),
        (str(assistant.id), "assistant"),
    ]
    # Already teaching (twice, or the owner) → 409; not a teacher account → 422.
    assert (await _add(client, t, cid, assistant.email)).json()["code"] == "already_teaching"
    assert (await _add(client, t, cid, world.teacher.email)).status_code == 409
    for email in (world.student.email, "nobody@example.org", world.admin.email):
        r = await _add(client, t, cid, email)
        assert r.status_code == 422 and r.json()["code"] == "not_a_teacher", email

    # Assistants do not manage assistants; students and other teachers do not see the list.
    third = await make_user("teacher")
    assert (await _add(client, auth(assistant), cid, third.email)).status_code == 403
    r = await client.delete(
        f"{API}/courses/{cid}/assistants/{assistant.id}", headers=auth(assistant)
    )
    assert r.status_code == 403
    for outsider in (world.student, world.other_teacher):
        r = await client.get(f"{API}/courses/{cid}/teachers", headers=auth(outsider))
        assert r.status_code == 403
    # Admins manage any course's assistants.
    admin = auth(world.admin)
    assert (await _add(client, admin, cid, third.email)).status_code == 201
    r = await client.delete(f"{API}/courses/{cid}/assistants/{third.id}", headers=admin)
    assert r.status_code == 204
    r = await client.delete(f"{API}/courses/{cid}/assistants/{third.id}", headers=t)
    assert r.status_code == 404 and r.json()["code"] == "assistant_not_found"
    r = await client.delete(f"{API}/courses/{cid}/assistants/{assistant.id}", headers=t)
    assert r.status_code == 204
    listed = await client.get(f"{API}/courses/{cid}/teachers", headers=t)
    assert [row["role"] for row in listed.json()] == ["owner"]
    actions = await client.get(
        f"{API}/admin/audit-logs", params={"action": "course.assistant_added"}, headers=admin
    )
    assert actions.json()["total"] == 2


async def test_assistants_grade_and_see_what_the_owner_sees_but_change_nothing(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    t, s = auth(world.teacher), auth(world.student)
    a_id, draft_id = world.course_a["id"], world.course_b["id"]
    assistant = await make_user("teacher")
    a = auth(assistant)
    quiz = await client.post(
        f"{API}/courses/{a_id}/quizzes",
        json={
            "title": "Q",
            "questions": [{"prompt": "2+2?", "kind": "short", "answer": ["4"], "points": 1}],
        },
        headers=t,
    )
    quiz_id = quiz.json()["id"]
    assignment = await client.post(
        f"{API}/courses/{a_id}/assignments", json={"title": "Essay"}, headers=t
    )
    assignment_id = assignment.json()["id"]
    attempt = await client.post(
        f"{API}/quizzes/{quiz_id}/attempts", json={"answers": ["5"]}, headers=s
    )
    assert attempt.status_code == 200
    submission = await client.post(
        f"{API}/assignments/{assignment_id}/submissions", json={"content": "Mine"}, headers=s
    )
    submission_id = submission.json()["id"]

    reads = [
        f"{API}/courses/{a_id}/students",
        f"{API}/courses/{a_id}/analytics",
        f"{API}/courses/{a_id}/gradebook",
        f"{API}/lessons/{world.lesson_a['id']}/video-analytics",
        f"{API}/quizzes/{quiz_id}/attempts",
        f"{API}/assignments/{assignment_id}/submissions",
        f"{API}/submissions/{submission_id}",
        f"{API}/courses/{a_id}/chat-sessions",
    ]
    grade = (f"{API}/submissions/{submission_id}/grade", {"score": 7, "feedback": "Good"})
    # Before being added: a stranger to the course.
    for url in reads:
        assert (await client.get(url, headers=a)).status_code in (403, 404), url
    assert (await client.put(grade[0], json=grade[1], headers=a)).status_code in (403, 404)
    assert (await client.get(f"{API}/courses/{draft_id}", headers=a)).status_code == 404

    assert (await _add(client, t, a_id, assistant.email)).status_code == 201
    assert (await _add(client, t, draft_id, assistant.email)).status_code == 201
    for url in reads:
        r = await client.get(url, headers=a)
        assert r.status_code == 200, (url, r.text)
    book = await client.get(f"{API}/courses/{a_id}/gradebook", headers=a)
    assert [row["student_id"] for row in book.json()["rows"]] == [str(world.student.id)]
    attempts = await client.get(f"{API}/quizzes/{quiz_id}/attempts", headers=a)
    assert attempts.json()["total"] == 1
    owner_view = await client.get(f"{API}/quizzes/{quiz_id}", headers=a)
    assert owner_view.json()["questions"][0]["answer"] == ["4"]
    r = await client.put(grade[0], json=grade[1], headers=a)
    assert r.status_code == 200 and r.json()["score"] == 7
    # The draft course they assist in is visible, in the catalog too, with its guide.
    assert (await client.get(f"{API}/courses/{draft_id}", headers=a)).status_code == 200
    catalog = await client.get(f"{API}/courses", params={"limit": 100}, headers=a)
    assert draft_id in {c["id"] for c in catalog.json()["items"]}
    mine = await client.get(f"{API}/teacher/students", params={"course_id": a_id}, headers=a)
    assert mine.json()["total"] == 1
    profile = await client.get(f"{API}/users/{world.student.id}", headers=a)
    assert profile.status_code == 200

    # Changing the course stays with its owner or an admin.
    writes = [
        ("PATCH", f"{API}/courses/{a_id}", {"title": "Mine now"}),
        ("DELETE", f"{API}/courses/{a_id}", None),
        ("POST", f"{API}/courses/{a_id}/lessons", {"title": "L"}),
        ("POST", f"{API}/courses/{a_id}/quizzes", {"title": "Q", "questions": []}),
        ("PATCH", f"{API}/quizzes/{quiz_id}", {"title": "Renamed"}),
        ("POST", f"{API}/courses/{a_id}/students", {"email": "new@example.org"}),
        ("POST", f"{API}/courses/{a_id}/join-code", None),
    ]
    for method, url, body in writes:
        r = await client.request(method, url, json=body, headers=a)
        assert r.status_code == 403, (method, url, r.text)
    assert (await client.get(f"{API}/courses/{a_id}", headers=t)).json()["title"] == "Course A"

    # Another course's objects stay out of reach (object-level checks, not roles).
    c_id = world.course_c["id"]
    assert (await client.get(f"{API}/courses/{c_id}/students", headers=a)).status_code == 403
    assert (await client.get(f"{API}/courses/{c_id}/teachers", headers=a)).status_code == 403
    lesson_c = f"{API}/lessons/{world.lesson_c['id']}/video-analytics"
    assert (await client.get(lesson_c, headers=a)).status_code == 403

    # Taken off the course: the access goes at once.
    r = await client.delete(f"{API}/courses/{draft_id}/assistants/{assistant.id}", headers=t)
    assert r.status_code == 204
    assert (await client.get(f"{API}/courses/{draft_id}", headers=a)).status_code == 404
    r = await client.delete(f"{API}/courses/{a_id}/assistants/{assistant.id}", headers=t)
    assert (await client.get(reads[0], headers=a)).status_code == 403
    assert (await client.get(f"{API}/submissions/{submission_id}", headers=a)).status_code == 404


async def test_a_deleted_teacher_assists_no_course(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    t, cid = auth(world.teacher), world.course_a["id"]
    assistant = await make_user("teacher")
    assert (await _add(client, t, cid, assistant.email)).status_code == 201
    r = await client.delete(f"{API}/admin/users/{assistant.id}", headers=auth(world.admin))
    assert r.status_code == 204
    listed = await client.get(f"{API}/courses/{cid}/teachers", headers=t)
    assert [row["role"] for row in listed.json()] == ["owner"]
