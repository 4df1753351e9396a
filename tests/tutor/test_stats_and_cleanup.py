"""Tutor figures for analytics, and what deleting a user or a course removes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from studyhall.core.clock import utcnow
from studyhall.identity.models import User
from studyhall.tutor.service import tutor_stats_for_course, tutor_totals
from tests.tutor.conftest import API, Course, Headers, new_session


async def _figures(app: Any, course_id: str, since: Any = None) -> dict[str, Any]:
    async with app.state.db.session(write=False) as session:
        stats = await tutor_stats_for_course(session, course_id=uuid.UUID(course_id), since=since)
        totals = await tutor_totals(session, since=since)
    return {**stats.model_dump(mode="json"), "totals": totals.model_dump()}


async def test_course_figures(
    client: httpx.AsyncClient, app: Any, auth: Headers, course: Course, other_student: User
) -> None:
    await client.post(f"{API}/courses/{course.id}/enroll", headers=auth(other_student))
    questions = [
        (course.student, "What is photosynthesis?"),
        (course.student, "How does chlorophyll absorb light?"),
        (other_student, "What is photosynthesis?"),
        (other_student, "Who won the football world cup in 1998?"),
    ]
    for user, content in questions:
        response = await client.post(
            f"{API}/chat", json={"course_id": course.id, "content": content}, headers=auth(user)
        )
        assert response.status_code == 200, response.text
    await client.post(
        f"{API}/chat", json={"content": "Library question"}, headers=auth(course.student)
    )

    figures = await _figures(app, course.id)
    assert figures["questions"] == 4 and figures["answers"] == 4 and figures["messages"] == 8
    assert figures["active_users"] == 2
    assert figures["ungrounded_answers"] == 1
    assert figures["top_questions"][0] == {"topic": "What is photosynthesis?", "count": 2}
    assert figures["top_topics"][0] == {"topic": "photosynthesis", "count": 2}
    assert figures["messages_by_user"] == {str(course.student.id): 2, str(other_student.id): 2}
    assert figures["tokens_charged"] > 0
    assert figures["totals"] == {"sessions": 5, "messages": 10}
    later = await _figures(app, course.id, since=utcnow() + timedelta(minutes=1))
    assert later["messages"] == 0 and later["totals"] == {"sessions": 0, "messages": 0}


async def test_deleting_the_account_removes_its_chats(
    client: httpx.AsyncClient, app: Any, auth: Headers, course: Course
) -> None:
    chat_id = await new_session(client, auth(course.student), course.id)
    await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": "What is glucose?"},
        headers=auth(course.student),
    )
    deleted = await client.request(
        "DELETE",
        f"{API}/users/me",
        headers=auth(course.student),
        json={"password": "Correct-Horse-Battery-42"},
    )
    assert deleted.status_code in (200, 204), deleted.text
    assert (await _figures(app, course.id))["totals"] == {"sessions": 0, "messages": 0}


async def test_deleting_the_course_removes_its_chats_and_prompts(
    client: httpx.AsyncClient, app: Any, auth: Headers, course: Course, admin: User
) -> None:
    await new_session(client, auth(course.student), course.id)
    library = await new_session(client, auth(course.student), None)
    prompt = await client.post(
        f"{API}/admin/system-prompts",
        json={"course_id": course.id, "name": "c", "content": "c"},
        headers=auth(admin),
    )
    assert (
        await client.delete(f"{API}/courses/{course.id}", headers=auth(course.teacher))
    ).status_code == 204
    sessions = (await client.get(f"{API}/chat/sessions", headers=auth(course.student))).json()
    assert [s["id"] for s in sessions["items"]] == [library]
    gone = await client.get(
        f"{API}/admin/system-prompts/{prompt.json()['id']}", headers=auth(admin)
    )
    assert gone.status_code == 404
