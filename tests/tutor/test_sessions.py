"""Chat sessions: who may create them, lists, details, renames, deletes, and BOLA."""

from __future__ import annotations

import httpx

from studyhall.identity.models import Role, User
from tests.conftest import MakeUser
from tests.tutor.conftest import API, Course, Headers, create_course, new_session


async def test_student_creates_sessions_only_in_enrolled_courses(
    client: httpx.AsyncClient, auth: Headers, course: Course, make_user: MakeUser
) -> None:
    outsider = await make_user(Role.student)
    response = await client.post(
        f"{API}/chat/sessions", json={"course_id": course.id}, headers=auth(outsider)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "enrollment_required"

    response = await client.post(
        f"{API}/chat/sessions",
        json={"course_id": course.id, "title": "Plants"},
        headers=auth(course.student),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["course_id"] == course.id and body["title"] == "Plants"
    assert body["message_count"] == 0 and body["created_at"].endswith("Z")

    library = await client.post(f"{API}/chat/sessions", json={}, headers=auth(outsider))
    assert library.status_code == 201 and library.json()["course_id"] is None


async def test_unknown_or_hidden_course_is_404_and_extra_fields_are_refused(
    client: httpx.AsyncClient, auth: Headers, student: User, teacher: User
) -> None:
    response = await client.post(
        f"{API}/chat/sessions",
        json={"course_id": "00000000-0000-7000-8000-000000000000"},
        headers=auth(student),
    )
    assert response.status_code == 404
    draft = await client.post(
        f"{API}/courses",
        json={"code": "DRAFT1", "title": "Draft", "is_published": False},
        headers=auth(teacher),
    )
    response = await client.post(
        f"{API}/chat/sessions", json={"course_id": draft.json()["id"]}, headers=auth(student)
    )
    assert response.status_code == 404
    response = await client.post(
        f"{API}/chat/sessions", json={"user_id": str(teacher.id)}, headers=auth(student)
    )
    assert response.status_code == 422


async def test_list_filters_counts_detail_rename_delete(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    me = auth(course.student)
    in_course = await new_session(client, me, course.id)
    in_library = await new_session(client, me, None)
    listed = (await client.get(f"{API}/chat/sessions", headers=me)).json()
    assert listed["total"] == 2 and {s["id"] for s in listed["items"]} == {in_course, in_library}
    only_course = (
        await client.get(f"{API}/chat/sessions", params={"course_id": course.id}, headers=me)
    ).json()
    assert [s["id"] for s in only_course["items"]] == [in_course]
    only_library = (
        await client.get(f"{API}/chat/sessions", params={"library": "true"}, headers=me)
    ).json()
    assert [s["id"] for s in only_library["items"]] == [in_library]

    renamed = await client.patch(
        f"{API}/chat/sessions/{in_course}", json={"title": "Cells"}, headers=me
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Cells"
    found = (await client.get(f"{API}/chat/sessions", params={"search": "cel"}, headers=me)).json()
    assert [s["id"] for s in found["items"]] == [in_course]

    detail = await client.get(f"{API}/chat/sessions/{in_course}", headers=me)
    assert detail.status_code == 200 and detail.json()["messages"] == []

    assert (await client.delete(f"{API}/chat/sessions/{in_course}", headers=me)).status_code == 204
    assert (await client.get(f"{API}/chat/sessions/{in_course}", headers=me)).status_code == 404


async def test_another_users_session_is_404_everywhere(
    client: httpx.AsyncClient, auth: Headers, course: Course, other_student: User, admin: User
) -> None:
    mine = await new_session(client, auth(course.student), course.id)
    for intruder in (other_student, course.teacher, admin):
        headers = auth(intruder)
        assert (await client.get(f"{API}/chat/sessions/{mine}", headers=headers)).status_code == 404
        assert (
            await client.patch(f"{API}/chat/sessions/{mine}", json={"title": "x"}, headers=headers)
        ).status_code == 404
        assert (
            await client.post(
                f"{API}/chat/sessions/{mine}/messages", json={"content": "hi"}, headers=headers
            )
        ).status_code == 404
        assert (
            await client.post(
                f"{API}/chat", json={"session_id": mine, "content": "hi"}, headers=headers
            )
        ).status_code == 404
        assert (
            await client.post(
                f"{API}/chat/sessions/{mine}/quiz",
                json={"generate": {"questions": 1}},
                headers=headers,
            )
        ).status_code == 404
        assert (
            await client.post(
                f"{API}/chat/sessions/{mine}/answer",
                json={"answer": 0, "question_index": 0},
                headers=headers,
            )
        ).status_code == 404
        assert (
            await client.delete(f"{API}/chat/sessions/{mine}", headers=headers)
        ).status_code == 404
    listed = (await client.get(f"{API}/chat/sessions", headers=auth(other_student))).json()
    assert listed["total"] == 0
    assert (
        await client.get(f"{API}/chat/sessions/{mine}", headers=auth(course.student))
    ).status_code == 200


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/chat/sessions")).status_code == 401
    response = await client.post(f"{API}/chat", json={"content": "hi"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


async def test_teacher_reads_transcripts_of_own_course_only(
    client: httpx.AsyncClient, auth: Headers, course: Course, make_user: MakeUser
) -> None:
    chat_id = await new_session(client, auth(course.student), course.id)
    sent = await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": "What does chlorophyll absorb?"},
        headers=auth(course.student),
    )
    assert sent.status_code == 200, sent.text
    own = auth(course.teacher)
    listed = await client.get(f"{API}/courses/{course.id}/chat-sessions", headers=own)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [chat_id] and items[0]["user_id"] == str(course.student.id)
    transcript = await client.get(f"{API}/courses/{course.id}/chat-sessions/{chat_id}", headers=own)
    assert [m["role"] for m in transcript.json()["messages"]] == ["user", "assistant"]

    other_teacher = await make_user(Role.teacher)
    other_course = await create_course(client, auth, other_teacher)
    for url in (
        f"{API}/courses/{course.id}/chat-sessions",
        f"{API}/courses/{course.id}/chat-sessions/{chat_id}",
    ):
        assert (await client.get(url, headers=auth(other_teacher))).status_code == 404
        assert (await client.get(url, headers=auth(course.student))).status_code == 404
    wrong = await client.get(
        f"{API}/courses/{other_course}/chat-sessions/{chat_id}", headers=auth(other_teacher)
    )
    assert wrong.status_code == 404
