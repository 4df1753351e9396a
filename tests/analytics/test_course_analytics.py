"""Course analytics against hand-computed figures, its statement count, and platform stats."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import httpx

from studyhall.analytics.service import course_stats
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.tutor import service as tutor_service
from studyhall.tutor.models import Message, MessageRole
from tests.courses.helpers import (
    API,
    Headers,
    World,
    add_lesson,
    count_statements,
    create_course,
    enroll,
)

Q1 = [
    {"prompt": "a?", "kind": "true_false", "answer": True},
    {"prompt": "b?", "kind": "true_false", "answer": False},
]
Q2 = [{"prompt": "c?", "kind": "short", "answer": "yes"}]


async def _quiz(
    client: httpx.AsyncClient, headers: dict[str, str], cid: str, questions: Any
) -> str:
    r = await client.post(
        f"{API}/courses/{cid}/quizzes", json={"title": "q", "questions": questions}, headers=headers
    )
    assert r.status_code == 201
    return str(r.json()["id"])


async def _chat(db: Database, course_id: str, user: Any, questions: list[str]) -> None:
    """A chat session with the user's questions, each followed by an answer."""
    async with db.session() as session:
        chat = tutor_service.new_session(user, course_id=uuid.UUID(course_id), title=None)
        session.add(chat)
        await session.flush()
        for question in questions:
            for role, content in ((MessageRole.user, question), (MessageRole.assistant, "Answer")):
                session.add(
                    Message(
                        session_id=chat.id,
                        user_id=user.id,
                        course_id=chat.course_id,
                        role=role,
                        content=content,
                    )
                )


async def test_course_analytics_figures(
    client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database
) -> None:
    clock.advance(-timedelta(days=10))  # day 0 is ten days ago; the test ends about now
    teacher = await make_user("teacher")
    t = auth(teacher)
    course = await create_course(client, t)
    cid = course["id"]
    lessons = [await add_lesson(client, t, cid, title=f"L{i}") for i in range(4)]
    q1 = await _quiz(client, t, cid, Q1)
    q2 = await _quiz(client, t, cid, Q2)
    other_course = await create_course(client, t)
    s1, s2, s3, gone, elsewhere = [await make_user("student") for _ in range(5)]
    for user in (s1, s2, s3, gone):
        await enroll(client, auth(user), cid)
    await enroll(client, auth(elsewhere), other_course["id"])

    async def complete(user: Any, index: int) -> None:
        r = await client.put(
            f"{API}/lessons/{lessons[index]['id']}/progress",
            json={"completed": True},
            headers=auth(user),
        )
        assert r.status_code == 200

    async def attempt(user: Any, quiz_id: str, answers: list[Any]) -> None:
        r = await client.post(
            f"{API}/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=auth(user)
        )
        assert r.status_code == 200

    # Day 0: s1 finishes every lesson, scores 100% then 0%; `gone` does things, then leaves.
    for i in range(4):
        await complete(s1, i)
    await attempt(s1, q1, [True, False])
    await attempt(s1, q2, ["no"])
    await complete(gone, 0)
    await attempt(gone, q1, [True, False])
    r = await client.delete(f"{API}/courses/{cid}/enroll", headers=auth(gone))
    assert r.status_code == 204
    # Day 6: s2 does two lessons and scores 50%.
    clock.advance(timedelta(days=6))
    await complete(s2, 0)
    await complete(s2, 1)
    await attempt(s2, q1, [True, True])
    # Day 10 (now, less a minute): s1 comes back; s3 never did anything after enrolling.
    clock.advance(timedelta(days=4) - timedelta(minutes=1))
    await complete(s1, 0)
    # Tutor conversations (stored as the tutor stores them): s1 asks twice, s2 once.
    await _chat(db, cid, s1, ["What is a food web?", "What is a food web?"])
    await _chat(db, cid, s2, ["Why do leaves fall?"])

    r = await client.get(f"{API}/courses/{cid}/analytics", headers=auth(teacher))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["total_students"] == 3
    assert data["active_students"] == 2  # s1 (today) and s2 (4 days ago); s3 enrolled 10 days ago
    assert data["active_window_days"] == 7
    assert (data["lessons"], data["quizzes"]) == (4, 2)
    assert data["completion_rate"] == round(1 / 3, 4)
    assert data["average_progress_percent"] == 50.0  # (4 + 2 + 0) / 3 of 4 lessons
    assert data["quiz_attempts"] == 3  # the student who left is not counted
    assert data["average_quiz_score"] == 50.0  # (100 + 0 + 50) / 3
    assert data["tutor_messages"] == 3  # questions asked; the tutor's answers are not counted
    assert data["top_questions"][0] == {"question": "What is a food web?", "count": 2}
    assert data["top_questions"][1]["count"] == 1
    rows = {row["student_id"]: row for row in data["students"]["items"]}
    assert data["students"]["total"] == 3
    expected = {
        str(s1.id): (4, 100.0, 2, 50.0),
        str(s2.id): (2, 50.0, 1, 50.0),
        str(s3.id): (0, 0.0, 0, None),
    }
    assert {
        k: (v["lessons_completed"], v["progress_percent"], v["quiz_attempts"], v["average_score"])
        for k, v in rows.items()
    } == expected
    assert {k: v["tutor_messages"] for k, v in rows.items()} == {
        str(s1.id): 2,
        str(s2.id): 1,
        str(s3.id): 0,
    }
    assert rows[str(s1.id)]["last_activity_at"] > rows[str(s2.id)]["last_activity_at"]
    assert rows[str(s3.id)]["last_activity_at"] == rows[str(s3.id)]["enrolled_at"]

    page = (
        await client.get(
            f"{API}/courses/{cid}/analytics",
            params={"limit": 1, "offset": 1},
            headers=auth(teacher),
        )
    ).json()
    assert len(page["students"]["items"]) == 1 and page["students"]["offset"] == 1


async def test_course_analytics_permissions(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    a, b = world.course_a["id"], world.course_b["id"]
    for user, course_id, status in (
        (world.teacher, a, 200),
        (world.admin, b, 200),
        (world.other_teacher, a, 403),
        (world.other_teacher, b, 404),
        (world.student, a, 403),
        (world.other_student, b, 404),
    ):
        r = await client.get(f"{API}/courses/{course_id}/analytics", headers=auth(user))
        assert r.status_code == status, (user.role, course_id)
    assert (await client.get(f"{API}/courses/{a}/analytics")).status_code == 401


async def _analytics_statements(
    client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database, size: int
) -> int:
    teacher = await make_user("teacher")
    t = auth(teacher)
    course = await create_course(client, t)
    lessons = [await add_lesson(client, t, course["id"]) for _ in range(size)]
    quiz = await _quiz(client, t, course["id"], Q1)
    for i in range(size):
        student = await make_user("student")
        await enroll(client, auth(student), course["id"])
        await client.put(
            f"{API}/lessons/{lessons[i]['id']}/progress",
            json={"completed": True},
            headers=auth(student),
        )
        await client.post(
            f"{API}/quizzes/{quiz}/attempts", json={"answers": [True, True]}, headers=auth(student)
        )
        await _chat(db, course["id"], student, [f"Question {i}?"])
    with count_statements(db) as statements:
        r = await client.get(f"{API}/courses/{course['id']}/analytics", headers=t)
    assert r.status_code == 200 and r.json()["students"]["total"] == size
    with count_statements(db) as detail_statements:
        r = await client.get(f"{API}/courses/{course['id']}", headers=t)
    assert r.status_code == 200
    return len(statements) * 1000 + len(detail_statements)


async def test_statement_counts_do_not_grow_with_data(
    client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database
) -> None:
    """Analytics and course detail send the same statements for 2 and for 20 students/lessons."""
    small = await _analytics_statements(client, make_user, auth, db, 2)
    large = await _analytics_statements(client, make_user, auth, db, 20)
    assert small == large, (small, large)
    # user, course, 6 analytics queries, 4 of the tutor's figures (+ BEGIN on SQLite)
    assert small // 1000 <= 13, f"analytics {small // 1000}, course detail {small % 1000}"


async def test_course_stats_for_admin_stats(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    await _quiz(client, auth(world.teacher), world.course_a["id"], Q1)
    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/assignments",
        json={"title": "x"},
        headers=auth(world.teacher),
    )
    await client.post(
        f"{API}/assignments/{r.json()['id']}/submissions",
        json={"content": "y"},
        headers=auth(world.student),
    )
    async with db.session(write=False) as session:
        stats = await course_stats(session)
    assert asdict(stats) == {
        "courses": 3,
        "published_courses": 2,
        "enrollments": 1,
        "lessons": 3,
        "quizzes": 1,
        "quiz_attempts": 0,
        "assignments": 1,
        "submissions": 1,
    }
