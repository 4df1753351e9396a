"""Quizzes bound to a lesson: the lesson lists them, the quiz list filters by lesson, and the
student's progress per lesson carries the best score at that lesson's quizzes."""

from __future__ import annotations

import httpx

from tests.assessments.test_quizzes import ALL_CORRECT, make_quiz, submit
from tests.courses.helpers import API, Headers, World, add_lesson


async def test_a_lesson_lists_its_quizzes_and_the_list_filters_by_lesson(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t, cid = auth(world.teacher), world.course_a["id"]
    other_lesson = await add_lesson(client, t, cid, title="A2")
    bound = await make_quiz(client, t, cid, title="On A1", lesson_id=world.lesson_a["id"])
    await make_quiz(client, t, cid, title="On A2", lesson_id=other_lesson["id"])
    await make_quiz(client, t, cid, title="Course-wide")

    for headers in (t, auth(world.student), auth(world.admin)):
        r = await client.get(f"{API}/lessons/{world.lesson_a['id']}/quizzes", headers=headers)
        assert r.status_code == 200, r.text
        assert [q["title"] for q in r.json()["items"]] == ["On A1"] and r.json()["total"] == 1
        assert "questions" not in r.json()["items"][0]

    r = await client.get(
        f"{API}/courses/{cid}/quizzes", params={"lesson_id": world.lesson_a["id"]}, headers=t
    )
    assert [q["id"] for q in r.json()["items"]] == [bound["id"]]
    everything = await client.get(f"{API}/courses/{cid}/quizzes", headers=t)
    assert everything.json()["total"] == 3
    # A lesson of another course filters to nothing (never another course's quizzes).
    r = await client.get(
        f"{API}/courses/{cid}/quizzes", params={"lesson_id": world.lesson_c["id"]}, headers=t
    )
    assert r.json()["total"] == 0
    bad = await client.get(f"{API}/courses/{cid}/quizzes?lesson_id=nope", headers=t)
    assert bad.status_code == 422

    # Object-level checks: not enrolled → 403, unseen draft lesson → 404, anonymous → 401.
    url = f"{API}/lessons/{world.lesson_a['id']}/quizzes"
    assert (await client.get(url, headers=auth(world.other_student))).status_code == 403
    assert (await client.get(url, headers=auth(world.other_teacher))).status_code == 403
    assert (await client.get(url)).status_code == 401
    draft = f"{API}/lessons/{world.lesson_b['id']}/quizzes"
    assert (await client.get(draft, headers=auth(world.other_teacher))).status_code == 404
    assert (await client.get(draft, headers=auth(world.student))).status_code == 404


async def test_progress_per_lesson_carries_the_best_quiz_score(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t, s, cid = auth(world.teacher), auth(world.student), world.course_a["id"]
    other_lesson = await add_lesson(client, t, cid, title="A2")
    first = await make_quiz(client, t, cid, title="First", lesson_id=world.lesson_a["id"])
    second = await make_quiz(client, t, cid, title="Second", lesson_id=world.lesson_a["id"])
    unbound = await make_quiz(client, t, cid, title="Course-wide")

    def progress_by_lesson(body: dict[str, object]) -> dict[str, object]:
        lessons = body["lessons"]
        assert isinstance(lessons, list)
        return {row["lesson_id"]: row["best_quiz_percent"] for row in lessons}

    before = await client.get(f"{API}/courses/{cid}/progress", headers=s)
    assert progress_by_lesson(before.json()) == {
        world.lesson_a["id"]: None,
        other_lesson["id"]: None,
    }

    half = ["Oak tree", [0], True, "respiration"]  # 2 of 8 points
    assert (await submit(client, s, first["id"], half)).json()["percent"] == 25.0
    assert (await submit(client, s, second["id"], ALL_CORRECT)).status_code == 200
    assert (await submit(client, s, first["id"], half)).status_code == 200
    assert (await submit(client, s, unbound["id"], ALL_CORRECT)).status_code == 200
    # Another student's attempts never show in this student's progress.
    other = auth(world.other_student)
    assert (await client.post(f"{API}/courses/{cid}/enroll", headers=other)).status_code == 201
    assert (await submit(client, other, first["id"], ALL_CORRECT)).status_code == 200

    after = await client.get(f"{API}/courses/{cid}/progress", headers=s)
    assert progress_by_lesson(after.json()) == {
        world.lesson_a["id"]: 100.0,
        other_lesson["id"]: None,
    }
    await client.delete(f"{API}/quizzes/{second['id']}", headers=t)
    again = await client.get(f"{API}/courses/{cid}/progress", headers=s)
    assert progress_by_lesson(again.json())[world.lesson_a["id"]] == 25.0
