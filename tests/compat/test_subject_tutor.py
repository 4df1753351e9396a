"""Subject-tutor dialect (document 000): each endpoint with the document's own example request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest

from studyhall.config import Settings
from studyhall.identity.models import Role, User
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.conftest import TEST_PASSWORD, MakeUser

BASE = "/compat/subject-tutor"


def _code() -> str:
    return f"INF{uuid.uuid4().hex[:5].upper()}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _register(client: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    name = f"gabriel{uuid.uuid4().hex[:8]}"
    body = {
        "username": name,
        "email": fresh_email(name),
        "password": STRONG_PASSWORD,
        "full_name": "Gabriel Francisco",
        "role": "STUDENT",
        **changes,
    }
    return await client.post(f"{BASE}/register", json=body)


async def _subject(
    client: httpx.AsyncClient, admin_headers: dict[str, str], professor: User, code: str
) -> dict[str, Any]:
    r = await client.post(
        f"{BASE}/subjects",
        json={
            "subject_id": code,
            "name": "Algorithms",
            "description": "Course on algorithm design and analysis",
            "professor_id": professor.username,
        },
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_register_then_token_with_the_documented_claims(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    r = await _register(client)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["role"] == "STUDENT" and body["subjects"] == []
    assert body["full_name"] == "Gabriel Francisco"
    assert set(body) == {"username", "email", "full_name", "role", "subjects"}
    r = await client.post(
        f"{BASE}/token", data={"username": body["username"], "password": STRONG_PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["role"] == "STUDENT" and claims["subjects"] == []
    assert claims["username"] == body["username"] and isinstance(claims["exp"], int)


async def test_register_errors(client: httpx.AsyncClient) -> None:
    first = (await _register(client)).json()
    r = await _register(client, username=first["username"])
    assert r.status_code == 400 and r.json() == {"detail": "Username or email already registered"}
    r = await client.post(f"{BASE}/register", json={"username": "x"})
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} >= {
        ("body", "email"),
        ("body", "password"),
    }


@pytest.mark.parametrize("role", ["PROFESSOR", "ADMIN"])
async def test_register_never_grants_a_role_above_student(
    client: httpx.AsyncClient, role: str
) -> None:
    r = await _register(client, role=role)
    assert r.status_code == 403 and set(r.json()) == {"detail"}


async def test_token_errors(client: httpx.AsyncClient, student: User) -> None:
    r = await client.post(
        f"{BASE}/token", data={"username": student.username, "password": "wrong-password"}
    )
    assert r.status_code == 401 and r.json() == {"detail": "Incorrect username or password"}
    r = await client.post(f"{BASE}/token", data={"username": student.username})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


async def test_me_read_and_update(
    client: httpx.AsyncClient, student: User, auth: Any, make_user: MakeUser
) -> None:
    r = await client.get(f"{BASE}/users/me", headers=auth(student))
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == student.username and body["role"] == "STUDENT"
    assert isinstance(body["subjects"], list)
    assert set(body["preferences"]) == {"theme", "notifications"}
    new_email = fresh_email("gabriel.new")
    r = await client.put(
        f"{BASE}/users/me",
        json={
            "full_name": "Gabriel Francisco García",
            "email": new_email,
            "preferences": {"theme": "light", "notifications": False},
        },
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] == new_email and body["full_name"] == "Gabriel Francisco García"
    assert body["preferences"] == {"theme": "light", "notifications": False}
    other = await make_user(Role.student)
    r = await client.put(f"{BASE}/users/me", json={"email": other.email}, headers=auth(student))
    assert r.status_code == 400 and r.json() == {"detail": "Email already in use"}
    r = await client.put(f"{BASE}/users/me", json={"role": "ADMIN"}, headers=auth(student))
    assert r.status_code == 422
    r = await client.get(f"{BASE}/users/me")
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}


async def test_subjects_lifecycle_and_enrollment(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    admin = await make_user(Role.admin)
    professor = await make_user(Role.teacher)
    student = await make_user(Role.student)
    code = _code()
    created = await _subject(client, auth(admin), professor, code)
    assert created["_id"] == code and created["professor_id"] == professor.username
    assert created["name"] == "Algorithms" and created["created_at"].endswith("Z")
    again = await client.post(
        f"{BASE}/subjects", json={"subject_id": code, "name": "Again"}, headers=auth(admin)
    )
    assert again.status_code == 400 and again.json() == {"detail": "Subject already exists"}
    r = await client.post(
        f"{BASE}/subjects", json={"subject_id": _code(), "name": "X"}, headers=auth(professor)
    )
    assert r.status_code == 403

    listed = await client.get(
        f"{BASE}/subjects",
        params={"professor_id": professor.username, "page": 1, "limit": 20},
        headers=auth(student),
    )
    assert listed.status_code == 200
    assert [s["_id"] for s in listed.json()] == [code]
    assert listed.json()[0]["student_count"] == 0

    r = await client.post(f"{BASE}/subjects/{code}/enroll", headers=auth(student))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "message": f"Successfully enrolled in {code}",
        "subject": {"_id": code, "name": "Algorithms", "professor_id": professor.username},
    }
    r = await client.post(f"{BASE}/subjects/{code}/enroll", headers=auth(student))
    assert r.status_code == 403 and r.json() == {"detail": "Student already enrolled"}
    r = await client.post(f"{BASE}/subjects/NOPE999/enroll", headers=auth(student))
    assert r.status_code == 404
    r = await client.post(f"{BASE}/subjects/{code}/enroll", headers=auth(professor))
    assert r.status_code == 403

    enrolled = await client.get(f"{BASE}/subjects/enrolled", headers=auth(student))
    assert enrolled.status_code == 200
    assert [s["_id"] for s in enrolled.json()] == [code]
    assert set(enrolled.json()[0]) == {"_id", "name", "description", "professor_id", "guide"}
    me = await client.get(f"{BASE}/users/me", headers=auth(student))
    assert me.json()["subjects"] == [code]

    r = await client.put(
        f"{BASE}/subjects/{code}",
        json={
            "name": "Algorithms and Data Structures",
            "description": "Updated course description",
            "guide": "# Teaching Guide\n...",
        },
        headers=auth(professor),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "_id": code,
        "name": "Algorithms and Data Structures",
        "description": "Updated course description",
        "professor_id": professor.username,
        "guide": "# Teaching Guide\n...",
    }
    other_professor = await make_user(Role.teacher)
    r = await client.put(
        f"{BASE}/subjects/{code}", json={"name": "Hijack"}, headers=auth(other_professor)
    )
    assert r.status_code == 403
    r = await client.put(f"{BASE}/subjects/NOPE999", json={"name": "X"}, headers=auth(admin))
    assert r.status_code == 404 and r.json() == {"detail": "Course not found"}

    r = await client.delete(f"{BASE}/subjects/{code}", headers=auth(other_professor))
    assert r.status_code == 403
    r = await client.delete(f"{BASE}/subjects/{code}", headers=auth(admin))
    assert r.status_code == 204 and r.content == b""
    r = await client.delete(f"{BASE}/subjects/{code}", headers=auth(admin))
    assert r.status_code == 404


async def test_professor_students_analytics_and_user_profiles(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    admin = await make_user(Role.admin)
    professor = await make_user(Role.teacher)
    other_professor = await make_user(Role.teacher)
    student = await make_user(Role.student)
    stranger = await make_user(Role.student)
    code = _code()
    await _subject(client, auth(admin), professor, code)
    await client.post(f"{BASE}/subjects/{code}/enroll", headers=auth(student))

    r = await client.get(f"{BASE}/professor/students", headers=auth(professor))
    assert r.status_code == 200
    assert r.json() == [
        {
            "username": student.username,
            "full_name": student.full_name,
            "email": student.email,
            "enrolled_subjects": [code],
        }
    ]
    r = await client.get(f"{BASE}/professor/students", headers=auth(other_professor))
    assert r.json() == []
    r = await client.get(f"{BASE}/professor/students", headers=auth(student))
    assert r.status_code == 403

    r = await client.get(f"{BASE}/professor/subjects/{code}/analytics", headers=auth(professor))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject_id"] == code and body["name"] == "Algorithms"
    assert body["total_students"] == 1 and isinstance(body["active_students"], int)
    assert body["student_progress"][0]["username"] == student.username
    assert body["student_progress"][0]["test_count"] == 0
    r = await client.get(
        f"{BASE}/professor/subjects/{code}/analytics", headers=auth(other_professor)
    )
    assert r.status_code == 403

    r = await client.get(f"{BASE}/users/{student.username}", headers=auth(professor))
    assert r.status_code == 200
    assert r.json() == {
        "username": student.username,
        "email": student.email,
        "full_name": student.full_name,
        "role": "STUDENT",
        "subjects": [code],
    }
    # BOLA: a professor sees only students of their own subjects.
    r = await client.get(f"{BASE}/users/{stranger.username}", headers=auth(professor))
    assert r.status_code == 404
    r = await client.get(f"{BASE}/users/{student.username}", headers=auth(other_professor))
    assert r.status_code == 404
    r = await client.get(f"{BASE}/users/{student.username}", headers=auth(stranger))
    assert r.status_code == 403


async def test_admin_users_and_role_change(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    admin = await make_user(Role.admin)
    student = await make_user(Role.student)
    r = await client.get(
        f"{BASE}/admin/users",
        params={"role": "STUDENT", "limit": 50, "skip": 0},
        headers=auth(admin),
    )
    assert r.status_code == 200
    row = next(u for u in r.json() if u["username"] == student.username)
    assert set(row) == {"username", "email", "full_name", "role", "subjects", "created_at"}
    assert {u["role"] for u in r.json()} == {"STUDENT"}
    r = await client.post(
        f"{BASE}/admin/users/{student.username}/role",
        json={"role": "PROFESSOR"},
        headers=auth(admin),
    )
    assert r.status_code == 200
    assert r.json() == {
        "username": student.username,
        "role": "PROFESSOR",
        "message": "User role updated",
    }
    r = await client.post(
        f"{BASE}/admin/users/{student.username}/role", json={"role": "KING"}, headers=auth(admin)
    )
    assert r.status_code == 400 and r.json() == {"detail": "Invalid role"}
    r = await client.post(
        f"{BASE}/admin/users/nobody-{uuid.uuid4().hex[:6]}/role",
        json={"role": "STUDENT"},
        headers=auth(admin),
    )
    assert r.status_code == 404
    r = await client.get(f"{BASE}/admin/users", headers=auth(student))
    assert r.status_code in (401, 403)  # the role change revoked the student's token


async def test_system_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{BASE}/health")).json() == {"status": "ok"}
    info = (await client.get(f"{BASE}/system/info")).json()
    assert set(info) == {"version", "llm_provider", "llm_model", "status"}
    r = await client.get(f"{BASE}/metrics")
    assert r.status_code == 200 and "http_request" in r.text


async def test_one_identity_across_dialects_and_the_canonical_api(
    client: httpx.AsyncClient,
) -> None:
    # Register in subject-tutor, log in through ApraNova, use that token here and canonically.
    registered = (await _register(client)).json()
    login = await client.post(
        "/compat/apranova/api/users/login/",
        json={"email": registered["email"], "password": STRONG_PASSWORD},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access"]
    me = await client.get(f"{BASE}/users/me", headers=_bearer(token))
    assert me.status_code == 200 and me.json()["username"] == registered["username"]
    canonical = await client.get("/api/v1/users/me", headers=_bearer(token))
    assert canonical.status_code == 200
    tutor_token = (
        await client.post(
            f"{BASE}/token",
            data={"username": registered["username"], "password": STRONG_PASSWORD},
        )
    ).json()["access_token"]
    profile = await client.get("/compat/apranova/api/users/profile/", headers=_bearer(tutor_token))
    assert profile.status_code == 200 and profile.json()["email"] == registered["email"]


async def test_the_canonical_login_password_works_here(
    client: httpx.AsyncClient, student: User
) -> None:
    r = await client.post(
        f"{BASE}/token", data={"username": student.email, "password": TEST_PASSWORD}
    )
    assert r.status_code == 200


async def _enrolled_student_in_subject(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> tuple[User, User, str, dict[str, Any]]:
    admin = await make_user(Role.admin)
    professor = await make_user(Role.teacher)
    student = await make_user(Role.student)
    code = _code()
    subject = await _subject(client, auth(admin), professor, code)
    r = await client.post(f"{BASE}/subjects/{code}/enroll", headers=auth(student))
    assert r.status_code == 200
    return student, professor, code, subject


async def test_chat_creates_the_session_and_the_session_routes_show_it(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student, _, code, _ = await _enrolled_student_in_subject(client, make_user, auth)
    session_id = str(uuid.uuid4())
    r = await client.post(
        f"{BASE}/chat",
        json={
            "id": session_id,
            "asignatura": code,
            "content": "What is the time complexity of quicksort?",
            "messages": [
                {"role": "user", "content": "Previous message..."},
                {"role": "assistant", "content": "Previous response..."},
            ],
        },
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["session_id"] == session_id and body["asignatura"] == code
    assert isinstance(body["response"], str) and body["response"]
    r = await client.post(
        f"{BASE}/chat",
        json={"id": session_id, "asignatura": code, "content": "And mergesort?"},
        headers=auth(student),
    )
    assert r.status_code == 200

    listed = await client.get(
        f"{BASE}/sessions", params={"subject": code, "limit": 20, "skip": 0}, headers=auth(student)
    )
    assert listed.status_code == 200
    [row] = listed.json()
    assert row["_id"] == session_id and row["subject"] == code
    assert row["message_count"] == 4 and row["title"]
    assert row["created_at"].endswith("Z") and row["last_active"].endswith("Z")

    detail = await client.get(f"{BASE}/sessions/{session_id}", headers=auth(student))
    assert detail.status_code == 200
    body = detail.json()
    assert body["_id"] == session_id and body["user_id"] == student.username
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant"]
    assert body["messages"][0]["content"] == "What is the time complexity of quicksort?"

    # BOLA: another student neither sees, continues nor deletes the session.
    other = await make_user(Role.student)
    assert (
        await client.get(f"{BASE}/sessions/{session_id}", headers=auth(other))
    ).status_code == 404
    assert (await client.get(f"{BASE}/sessions", headers=auth(other))).json() == []
    r = await client.delete(f"{BASE}/sessions/{session_id}", headers=auth(other))
    assert r.status_code == 404
    r = await client.post(
        f"{BASE}/chat",
        json={"id": session_id, "asignatura": code, "content": "Hijack"},
        headers=auth(other),
    )
    assert r.status_code in (403, 404)

    r = await client.delete(f"{BASE}/sessions/{session_id}", headers=auth(student))
    assert r.status_code == 204
    assert (
        await client.get(f"{BASE}/sessions/{session_id}", headers=auth(student))
    ).status_code == 404
    assert (await client.get(f"{BASE}/sessions/not-a-uuid", headers=auth(student))).json() == {
        "detail": "Session not found"
    }


async def test_chat_errors(client: httpx.AsyncClient, make_user: MakeUser, auth: Any) -> None:
    _, _, code, _ = await _enrolled_student_in_subject(client, make_user, auth)
    outsider = await make_user(Role.student)
    r = await client.post(
        f"{BASE}/chat",
        json={"id": str(uuid.uuid4()), "asignatura": code, "content": "Hello?"},
        headers=auth(outsider),
    )
    assert r.status_code == 403 and set(r.json()) == {"detail"}
    r = await client.post(
        f"{BASE}/chat", json={"asignatura": code, "content": "No id"}, headers=auth(outsider)
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "id"]
    r = await client.post(f"{BASE}/chat", json={"id": str(uuid.uuid4())})
    assert r.status_code == 401


async def test_resume_chat_answers_the_sessions_test(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student, professor, code, _ = await _enrolled_student_in_subject(client, make_user, auth)
    course = (
        await client.get("/api/v1/courses", params={"search": code}, headers=auth(professor))
    ).json()["items"][0]
    quiz = await client.post(
        f"/api/v1/courses/{course['id']}/quizzes",
        json={
            "title": "Check",
            "questions": [
                {
                    "prompt": "2 + 2 = ?",
                    "kind": "single",
                    "options": ["3", "4", "5"],
                    "answer": "4",
                },
                {"prompt": "The sky is blue", "kind": "true_false", "answer": True},
            ],
        },
        headers=auth(professor),
    )
    assert quiz.status_code == 201, quiz.text
    chat = await client.post(
        "/api/v1/chat/sessions", json={"course_id": course["id"]}, headers=auth(student)
    )
    session_id = chat.json()["id"]
    r = await client.post(
        f"/api/v1/chat/sessions/{session_id}/quiz",
        json={"quiz_id": quiz.json()["id"]},
        headers=auth(student),
    )
    assert r.status_code in (200, 201), r.text
    r = await client.post(
        f"{BASE}/sessions/{session_id}/resume_chat",
        json={"answer": "The answer is option B", "current_question_index": 5},
        headers=auth(student),
    )
    assert r.status_code == 400 and set(r.json()) == {"detail"}
    r = await client.post(
        f"{BASE}/sessions/{session_id}/resume_chat",
        json={"answer": "4", "current_question_index": 0},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    assert r.json()["correct"] is True and r.json()["next_question"] is not None
    r = await client.post(
        f"{BASE}/sessions/{session_id}/resume_chat",
        json={"answer": True, "current_question_index": 1},
        headers=auth(student),
    )
    assert r.status_code == 200 and r.json()["result"]["passed"] is True
    other = await make_user(Role.student)
    r = await client.post(
        f"{BASE}/sessions/{session_id}/resume_chat",
        json={"answer": "4", "current_question_index": 0},
        headers=auth(other),
    )
    assert r.status_code == 404
