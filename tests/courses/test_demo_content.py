"""The demo course seeded by `studyhall demo`."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.core.db import Database
from studyhall.demo_content import DEMO_CODE, seed_demo_course
from tests.courses.helpers import API, Headers


async def test_seed_demo_course_is_complete_and_idempotent(
    client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database
) -> None:
    teacher = await make_user("teacher")
    students = [await make_user("student") for _ in range(3)]
    for _ in range(2):
        async with db.session() as session:
            await seed_demo_course(
                session, teacher_id=teacher.id, student_ids=[s.id for s in students]
            )

    courses = (await client.get(f"{API}/courses", headers=auth(students[2]))).json()
    assert [c["code"] for c in courses["items"]] == [DEMO_CODE]
    course = (
        await client.get(f"{API}/courses/{courses['items'][0]['id']}", headers=auth(teacher))
    ).json()
    assert course["teacher_id"] == str(teacher.id) and course["student_count"] == 3
    assert len(course["modules"]) == 3 and len(course["lessons"]) == 6
    assert course["guide"].startswith("# Teaching guide")

    quizzes = (
        await client.get(f"{API}/courses/{course['id']}/quizzes", headers=auth(teacher))
    ).json()
    assert quizzes["total"] == 1
    quiz = (
        await client.get(f"{API}/quizzes/{quizzes['items'][0]['id']}", headers=auth(teacher))
    ).json()
    assert {q["kind"] for q in quiz["questions"]} == {"single", "multiple", "true_false", "short"}
    attempts = (
        await client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=auth(teacher))
    ).json()
    assert sorted(a["percent"] for a in attempts["items"]) == [50.0, 100.0]
    assignments = (
        await client.get(f"{API}/courses/{course['id']}/assignments", headers=auth(teacher))
    ).json()
    assert assignments["total"] == 1

    progress = [
        (await client.get(f"{API}/courses/enrolled", headers=auth(s))).json()["items"][0][
            "progress_percent"
        ]
        for s in students
    ]
    assert progress == [66.7, 16.7, 0.0]
    lesson = await client.get(
        f"{API}/lessons/{course['lessons'][0]['id']}", headers=auth(students[0])
    )
    assert lesson.status_code == 200 and "ecology" in lesson.json()["content"].lower()
