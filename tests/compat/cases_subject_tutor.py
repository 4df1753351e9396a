"""Document 000's example requests (subject-tutor), one case per endpoint."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from studyhall.identity.models import Role
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.compat.example_checks import Trial, case, fresh
from tests.conftest import TEST_PASSWORD

B = "/compat/subject-tutor"


def _code() -> str:
    return f"INF{uuid.uuid4().hex[:5].upper()}"


async def _subject(
    t: Trial, *, enrolled: dict[str, str] | None = None
) -> tuple[str, Any, dict[str, str]]:
    """A subject taught by a new professor (code, professor, professor's headers)."""
    _, admin = await t.user(Role.admin)
    professor, professor_headers = await t.user(Role.teacher)
    code = _code()
    r = await t.client.post(
        f"{B}/subjects",
        json={
            "subject_id": code,
            "name": "Algorithms",
            "description": "Course on algorithm design",
            "professor_id": professor.username,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    if enrolled is not None:
        r = await t.client.post(f"{B}/subjects/{code}/enroll", headers=enrolled)
        assert r.status_code == 200, r.text
    return code, professor, professor_headers


async def _session(t: Trial, headers: dict[str, str]) -> str:
    code, _, _ = await _subject(t, enrolled=headers)
    session_id = str(uuid.uuid4())
    r = await t.client.post(
        f"{B}/chat",
        json={"id": session_id, "asignatura": code, "content": "What is quicksort?"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return session_id


@case(f"POST {B}/register")
async def _register(t: Trial) -> httpx.Response:
    name = fresh("gabriel")
    return await t.send(
        json=t.body(username=name, email=fresh_email(name), password=STRONG_PASSWORD)
    )


@case(f"POST {B}/token")
async def _token(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    return await t.send(data={"username": user.username, "password": TEST_PASSWORD})


@case(f"GET {B}/users/me")
async def _me(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"PUT {B}/users/me")
async def _me_update(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers, json=t.body(email=fresh_email("gabriel.new")))


@case(f"GET {B}/users/{{}}")
async def _user(t: Trial) -> httpx.Response:
    student, headers = await t.user()
    _, _, professor = await _subject(t, enrolled=headers)
    return await t.send(student.username, headers=professor)


@case(f"GET {B}/subjects")
async def _subjects(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    _, professor, _ = await _subject(t)
    return await t.send(
        headers=headers, params={"professor_id": professor.username, "page": 1, "limit": 20}
    )


@case(f"POST {B}/subjects", nullable=("description",))
async def _subject_create(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    professor, _ = await t.user(Role.teacher)
    return await t.send(
        headers=admin, json=t.body(subject_id=_code(), professor_id=professor.username)
    )


@case(f"PUT {B}/subjects/{{}}")
async def _subject_update(t: Trial) -> httpx.Response:
    code, _, professor = await _subject(t)
    return await t.send(code, headers=professor)


@case(f"DELETE {B}/subjects/{{}}")
async def _subject_delete(t: Trial) -> httpx.Response:
    code, _, _ = await _subject(t)
    _, admin = await t.user(Role.admin)
    return await t.send(code, headers=admin)


@case(f"GET {B}/subjects/enrolled", nullable=("guide",))
async def _enrolled(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    await _subject(t, enrolled=headers)
    return await t.send(headers=headers)


@case(f"POST {B}/subjects/{{}}/enroll")
async def _enroll(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    code, _, _ = await _subject(t)
    return await t.send(code, headers=headers)


@case(f"POST {B}/chat")
async def _chat(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    code, _, _ = await _subject(t, enrolled=headers)
    return await t.send(headers=headers, json=t.body(id=str(uuid.uuid4()), asignatura=code))


@case(f"GET {B}/sessions")
async def _sessions(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    await _session(t, headers)
    return await t.send(headers=headers, params={"limit": 20, "skip": 0})


@case(f"GET {B}/sessions/{{}}")
async def _session_read(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(await _session(t, headers), headers=headers)


@case(f"DELETE {B}/sessions/{{}}")
async def _session_delete(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(await _session(t, headers), headers=headers)


@case(f"POST {B}/sessions/{{}}/resume_chat")
async def _resume(t: Trial) -> httpx.Response:
    # The document's answer is to the third question of a test already under way.
    _, headers = await t.user()
    code, _, professor = await _subject(t, enrolled=headers)
    found = await t.client.get("/api/v1/courses", params={"search": code}, headers=professor)
    course_id = found.json()["items"][0]["id"]
    question = {"kind": "single", "options": ["A", "B"], "answer": "A"}
    quiz = await t.client.post(
        f"/api/v1/courses/{course_id}/quizzes",
        json={
            "title": "Check",
            "questions": [
                {**question, "prompt": "First"},
                {**question, "prompt": "Second"},
                {
                    "prompt": "Which option?",
                    "kind": "single",
                    "options": ["The answer is option A", "The answer is option B"],
                    "answer": "The answer is option B",
                },
            ],
        },
        headers=professor,
    )
    assert quiz.status_code == 201, quiz.text
    chat = await t.client.post(
        "/api/v1/chat/sessions", json={"course_id": course_id}, headers=headers
    )
    session_id = chat.json()["id"]
    started = await t.client.post(
        f"/api/v1/chat/sessions/{session_id}/quiz",
        json={"quiz_id": quiz.json()["id"]},
        headers=headers,
    )
    assert started.status_code in (200, 201), started.text
    for index in (0, 1):
        r = await t.send(
            session_id, headers=headers, json={"answer": "A", "current_question_index": index}
        )
        assert r.status_code == 200, r.text
    r = await t.send(session_id, headers=headers)
    assert r.json()["correct"] is True, r.text
    return r


@case(f"GET {B}/professor/students")
async def _students(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    _, _, professor = await _subject(t, enrolled=headers)
    return await t.send(headers=professor, params={"limit": 20, "skip": 0})


@case(
    f"GET {B}/professor/subjects/{{}}/analytics",
    nullable=("average_test_score", "average_score", "last_activity"),
)
async def _analytics(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    code, _, professor = await _subject(t, enrolled=headers)
    return await t.send(code, headers=professor)


@case(f"GET {B}/admin/users")
async def _admin_users(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    await t.user()
    return await t.send(headers=admin, params={"role": "STUDENT", "limit": 50, "skip": 0})


@case(f"POST {B}/admin/users/{{}}/role")
async def _admin_role(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    student, _ = await t.user()
    return await t.send(student.username, headers=admin)


@case(f"GET {B}/health")
async def _health(t: Trial) -> httpx.Response:
    return await t.send()


@case(f"GET {B}/system/info")
async def _info(t: Trial) -> httpx.Response:
    return await t.send()


@case(f"GET {B}/metrics")
async def _metrics(t: Trial) -> httpx.Response:
    r = await t.send()
    assert "http_request" in r.text
    return r
