"""Quizzes: creation, what students may see, scoring of every kind, attempt and time limits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from studyhall.assessments import service
from studyhall.core.clock import clock
from studyhall.core.db import Database
from tests.courses.helpers import API, Headers, World, create_course, enroll

QUESTIONS: list[dict[str, Any]] = [
    {
        "prompt": "Which organism is a producer?",
        "kind": "single",
        "options": ["Fox", "Oak tree", "Hawk"],
        "answer": 1,
        "explanation": "Plants make their own food by photosynthesis.",
        "points": 2,
    },
    {
        "prompt": "Which of these are decomposers?",
        "kind": "multiple",
        "options": ["Fungi", "Bacteria", "Deer", "Earthworms"],
        "answer": ["Fungi", "Bacteria", "Earthworms"],
        "explanation": "Decomposers break down dead matter.",
        "points": 3,
    },
    {
        "prompt": "Energy cycles through an ecosystem like matter does.",
        "kind": "true_false",
        "answer": False,
        "explanation": "Energy flows one way; matter cycles.",
    },
    {
        "prompt": "Name the process plants use to make sugar from light.",
        "kind": "short",
        "answer": ["photosynthesis"],
        "explanation": "Light energy becomes chemical energy.",
        "points": 2,
    },
]
ALL_CORRECT: list[Any] = ["Oak tree", [0, 1, 3], False, "photosynthesis"]


async def make_quiz(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"title": "Ecology basics", "pass_percent": 60, "questions": QUESTIONS, **fields}
    r = await client.post(f"{API}/courses/{course_id}/quizzes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def submit(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    quiz_id: str,
    answers: list[Any],
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"{API}/quizzes/{quiz_id}/attempts", json={"answers": answers, **extra}, headers=headers
    )


async def test_create_quiz_normalises_answers_and_checks_roles(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    cid = world.course_a["id"]
    quiz = await make_quiz(client, auth(world.teacher), cid, lesson_id=world.lesson_a["id"])
    assert quiz["question_count"] == 4 and quiz["max_score"] == 8
    assert [q["answer"] for q in quiz["questions"]] == [1, [0, 1, 3], False, ["photosynthesis"]]
    assert quiz["questions"][0]["explanation"].startswith("Plants")
    assert quiz["lesson_id"] == world.lesson_a["id"]

    body = {"title": "Q", "questions": QUESTIONS}
    for user, status in (
        (world.student, 403),
        (world.other_teacher, 403),
        (world.admin, 201),
    ):
        r = await client.post(f"{API}/courses/{cid}/quizzes", json=body, headers=auth(user))
        assert r.status_code == status
    assert (await client.post(f"{API}/courses/{cid}/quizzes", json=body)).status_code == 401
    r = await client.post(
        f"{API}/courses/{world.course_b['id']}/quizzes",
        json=body,
        headers=auth(world.other_teacher),
    )
    assert r.status_code == 404

    bad_questions = [
        {"prompt": "p", "kind": "single", "options": ["a", "b"], "answer": 2},
        {"prompt": "p", "kind": "single", "options": ["a", "b"], "answer": "c"},
        {"prompt": "p", "kind": "single", "options": ["a"], "answer": 0},
        {"prompt": "p", "kind": "single", "options": ["a", "a"], "answer": 0},
        {"prompt": "p", "kind": "multiple", "answer": [0]},
        {"prompt": "p", "kind": "multiple", "options": ["a", "b"], "answer": []},
        {"prompt": "p", "kind": "true_false", "answer": "maybe"},
        {"prompt": "p", "kind": "short", "answer": "  "},
        {"prompt": "p", "kind": "essay", "answer": "x"},
        {"prompt": "p", "kind": "short", "answer": "x", "points": 0},
    ]
    for question in bad_questions:
        r = await client.post(
            f"{API}/courses/{cid}/quizzes",
            json={"title": "bad", "questions": [question]},
            headers=auth(world.teacher),
        )
        assert r.status_code == 422, question
    r = await client.post(
        f"{API}/courses/{cid}/quizzes",
        json={"title": "bad", "questions": QUESTIONS, "lesson_id": world.lesson_c["id"]},
        headers=auth(world.teacher),
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_lesson"


async def test_students_never_receive_answers(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"])
    r = await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.student))
    assert r.status_code == 200
    body = r.json()
    assert body["questions_hidden"] is False and len(body["questions"]) == 4
    for question in body["questions"]:
        assert set(question) == {"id", "position", "prompt", "kind", "options", "points"}
    text = r.text
    assert "photosynthesis" not in text and "Plants make" not in text and '"answer"' not in text
    listing = await client.get(
        f"{API}/courses/{world.course_a['id']}/quizzes", headers=auth(world.student)
    )
    assert listing.status_code == 200 and listing.json()["total"] == 1
    assert '"answer"' not in listing.text

    owner = await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.teacher))
    assert owner.json()["questions"][3]["answer"] == ["photosynthesis"]
    admin = await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.admin))
    assert admin.json()["questions"][0]["explanation"].startswith("Plants")

    for user, status in ((world.other_student, 403), (world.other_teacher, 403)):
        assert (
            await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(user))
        ).status_code == status
        r = await client.get(f"{API}/courses/{world.course_a['id']}/quizzes", headers=auth(user))
        assert r.status_code == status
    assert (await client.get(f"{API}/quizzes/{quiz['id']}")).status_code == 401

    # Course B is unpublished: its quizzes do not exist for a student of course A.
    draft_quiz = await make_quiz(client, auth(world.teacher), world.course_b["id"])
    for path in (
        f"/quizzes/{draft_quiz['id']}",
        f"/quizzes/{draft_quiz['id']}/attempts",
        f"/courses/{world.course_b['id']}/quizzes",
    ):
        assert (await client.get(API + path, headers=auth(world.student))).status_code == 404
    r = await submit(client, auth(world.student), draft_quiz["id"], ALL_CORRECT)
    assert r.status_code == 404


async def test_scoring_of_every_kind(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"])
    s = auth(world.student)

    r = await submit(client, s, quiz["id"], ALL_CORRECT, time_spent_s=42)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["score"], result["max_score"], result["percent"], result["passed"]) == (
        8,
        8,
        100,
        True,
    )
    assert result["time_spent_s"] == 42 and result["attempts_remaining"] is None
    assert [x["correct"] for x in result["results"]] == [True] * 4
    assert [x["expected"] for x in result["results"]] == [
        "Oak tree",
        ["Fungi", "Bacteria", "Earthworms"],
        False,
        "photosynthesis",
    ]
    assert result["results"][2]["explanation"] == "Energy flows one way; matter cycles."

    # Every accepted spelling: option text in another case, true/false as text, accents and spaces.
    lenient = [" oak TREE", ["Earthworms", "Fungi", "Bacteria"], "false", "  PHOTOSYNTHÉSIS  "]
    result = (await submit(client, s, quiz["id"], lenient)).json()
    assert [x["correct"] for x in result["results"]] == [True] * 4

    wrong = [0, [0, 1], True, "respiration"]  # a partial multiple answer is wrong
    result = (await submit(client, s, quiz["id"], wrong)).json()
    assert [x["correct"] for x in result["results"]] == [False] * 4
    assert result["score"] == 0 and result["passed"] is False
    assert [x["points_awarded"] for x in result["results"]] == [0, 0, 0, 0]

    # Unanswered (null) counts as wrong; below the pass mark (60%): 5/8 = 62.5% passes, 3/8 fails.
    result = (await submit(client, s, quiz["id"], ["Oak tree", [0, 1, 3], None, None])).json()
    assert result["score"] == 5 and result["percent"] == 62.5 and result["passed"] is True
    result = (await submit(client, s, quiz["id"], [None, [0, 1, 3], None, None])).json()
    assert result["percent"] == 37.5 and result["passed"] is False
    # Not passed, attempts unlimited: only the questions answered correctly are explained.
    assert result["results"][0]["expected"] is None and result["results"][0]["explanation"] is None
    assert result["results"][1]["expected"] == ["Fungi", "Bacteria", "Earthworms"]

    r = await submit(client, s, quiz["id"], [*ALL_CORRECT, "extra"])
    assert r.status_code == 422 and r.json()["code"] == "answers_mismatch"
    r = await submit(client, s, quiz["id"], [{"x": 1}, None, None, None])
    assert r.status_code == 422
    for user in (world.teacher, world.admin, world.other_student):
        assert (await submit(client, auth(user), quiz["id"], ALL_CORRECT)).status_code == 403


async def test_mismatched_answers_are_refused_without_using_a_try(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"], max_attempts=1)
    s = auth(world.student)
    for answers, where in [
        (ALL_CORRECT[:2], "2 answers were sent"),  # too few
        ([*ALL_CORRECT, None], "5 answers were sent"),  # too many
        ([7, *ALL_CORRECT[1:]], "Answer 1"),  # option index out of range
        ([ALL_CORRECT[0], ["no such option"], *ALL_CORRECT[2:]], "Answer 2"),
        ([*ALL_CORRECT[:2], "maybe", ALL_CORRECT[3]], "Answer 3"),  # not true/false
        ([*ALL_CORRECT[:3], {"text": "x"}], None),  # refused by the request schema itself
    ]:
        r = await submit(client, s, quiz["id"], answers)
        assert r.status_code == 422, (answers, r.text)
        if where is not None:
            assert r.json()["code"] == "answers_mismatch" and where in r.json()["detail"]
    # None of those used the single try: the well-formed submission is scored.
    r = await submit(client, s, quiz["id"], ALL_CORRECT)
    assert r.status_code == 200 and r.json()["passed"] is True
    assert r.json()["attempts_used"] == 1


async def test_attempt_limit(client: httpx.AsyncClient, world: World, auth: Headers) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"], max_attempts=2)
    s = auth(world.student)
    first = (await submit(client, s, quiz["id"], [0, None, None, None])).json()
    assert first["attempts_used"] == 1 and first["attempts_remaining"] == 1
    assert first["results"][0]["expected"] is None  # failed with an attempt left: nothing revealed
    last = (await submit(client, s, quiz["id"], [0, None, None, None])).json()
    assert last["attempts_remaining"] == 0
    assert last["results"][0]["expected"] == "Oak tree"  # no attempt left: everything explained
    r = await submit(client, s, quiz["id"], ALL_CORRECT)
    assert r.status_code == 409 and r.json()["code"] == "max_attempts_reached"
    r = await client.post(f"{API}/quizzes/{quiz['id']}/attempts/start", headers=s)
    assert r.status_code == 409


async def test_time_limit_is_measured_by_the_server(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    # Start an hour in the past so moving the clock forward never runs ahead of real time.
    clock.advance(-timedelta(hours=1))
    quiz = await make_quiz(
        client, auth(world.teacher), world.course_a["id"], time_limit_s=60, max_attempts=3
    )
    qid = quiz["id"]

    hidden = (await client.get(f"{API}/quizzes/{qid}", headers=auth(world.student))).json()
    assert hidden["questions_hidden"] is True and hidden["questions"] == []
    r = await submit(client, auth(world.student), qid, ALL_CORRECT)
    assert r.status_code == 422 and r.json()["code"] == "attempt_not_started"

    r = await client.post(f"{API}/quizzes/{qid}/attempts/start", headers=auth(world.student))
    assert r.status_code == 201, r.text
    started = r.json()
    assert len(started["questions"]) == 4 and "answer" not in started["questions"][0]
    assert started["attempts_used"] == 1 and started["attempts_remaining"] == 2
    start_at = datetime.fromisoformat(started["started_at"])
    assert datetime.fromisoformat(started["deadline_at"]) - start_at == timedelta(seconds=60)
    again = await client.post(f"{API}/quizzes/{qid}/attempts/start", headers=auth(world.student))
    assert again.status_code == 200 and again.json()["id"] == started["id"]
    shown = (await client.get(f"{API}/quizzes/{qid}", headers=auth(world.student))).json()
    assert shown["questions_hidden"] is False and len(shown["questions"]) == 4

    clock.advance(timedelta(seconds=30))
    # The client claims 1 second: recorded, not believed.
    r = await submit(client, auth(world.student), qid, ALL_CORRECT, time_spent_s=1)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == started["id"]
    assert r.json()["time_spent_s"] == 1 and 30 <= r.json()["elapsed_s"] < 35

    second = (
        await client.post(f"{API}/quizzes/{qid}/attempts/start", headers=auth(world.student))
    ).json()
    clock.advance(timedelta(seconds=66))  # past the deadline and the 5 s grace
    r = await submit(client, auth(world.student), qid, ALL_CORRECT, attempt_id=second["id"])
    assert r.status_code == 422 and r.json()["code"] == "time_limit_exceeded"
    attempts = (
        await client.get(f"{API}/quizzes/{qid}/attempts", headers=auth(world.student))
    ).json()
    assert {a["id"]: a["status"] for a in attempts["items"]} == {
        started["id"]: "submitted",
        second["id"]: "expired",
    }
    # The expired attempt was spent: one left.
    r = await client.post(f"{API}/quizzes/{qid}/attempts/start", headers=auth(world.student))
    assert r.status_code == 201 and r.json()["attempts_remaining"] == 0
    clock.advance(timedelta(seconds=64))  # within the grace period
    r = await submit(client, auth(world.student), qid, ALL_CORRECT)
    assert r.status_code == 200
    r = await client.post(f"{API}/quizzes/{qid}/attempts/start", headers=auth(world.student))
    assert r.status_code == 409


async def test_attempt_listing_and_detail_permissions(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"])
    classmate = await make_user("student")
    await enroll(client, auth(classmate), world.course_a["id"])
    mine = (await submit(client, auth(world.student), quiz["id"], [0, None, None, None])).json()
    theirs = (await submit(client, auth(classmate), quiz["id"], ALL_CORRECT)).json()

    own = (
        await client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=auth(world.student))
    ).json()
    assert [a["id"] for a in own["items"]] == [mine["id"]]
    # A student cannot widen the filter to somebody else.
    r = await client.get(
        f"{API}/quizzes/{quiz['id']}/attempts",
        params={"student_id": str(classmate.id)},
        headers=auth(world.student),
    )
    assert [a["id"] for a in r.json()["items"]] == [mine["id"]]
    every = (
        await client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=auth(world.teacher))
    ).json()
    assert {a["id"] for a in every["items"]} == {mine["id"], theirs["id"]}
    r = await client.get(
        f"{API}/quizzes/{quiz['id']}/attempts",
        params={"student_id": str(classmate.id)},
        headers=auth(world.admin),
    )
    assert [a["id"] for a in r.json()["items"]] == [theirs["id"]]
    for user, status in ((world.other_student, 403), (world.other_teacher, 403)):
        r = await client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=auth(user))
        assert r.status_code == status

    detail = await client.get(f"{API}/attempts/{mine['id']}", headers=auth(world.student))
    assert detail.status_code == 200
    assert detail.json()["results"][0]["expected"] is None  # failed: not revealed to the student
    owner = await client.get(f"{API}/attempts/{mine['id']}", headers=auth(world.teacher))
    assert owner.json()["results"][0]["expected"] == "Oak tree"
    assert owner.json()["answers"] == [0, None, None, None]
    for user in (classmate, world.other_student, world.other_teacher):
        r = await client.get(f"{API}/attempts/{mine['id']}", headers=auth(user))
        assert r.status_code == 404
    assert (await client.get(f"{API}/attempts/{mine['id']}")).status_code == 401


async def test_quiz_update_and_delete(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"])
    new_questions = [{"prompt": "2 + 2?", "kind": "short", "answer": "4", "points": 5}]
    r = await client.patch(
        f"{API}/quizzes/{quiz['id']}",
        json={"title": "Renamed", "questions": new_questions, "max_attempts": 3},
        headers=auth(world.teacher),
    )
    assert r.status_code == 200
    assert r.json()["question_count"] == 1 and r.json()["max_score"] == 5
    assert r.json()["max_attempts"] == 3
    for user, status in ((world.student, 403), (world.other_teacher, 403)):
        r = await client.patch(
            f"{API}/quizzes/{quiz['id']}", json={"title": "x"}, headers=auth(user)
        )
        assert r.status_code == status
        assert (
            await client.delete(f"{API}/quizzes/{quiz['id']}", headers=auth(user))
        ).status_code == status
    assert (
        await client.delete(f"{API}/quizzes/{quiz['id']}", headers=auth(world.admin))
    ).status_code == 204
    assert (
        await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.teacher))
    ).status_code == 404


async def test_services_for_the_tutor(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    passed = await make_quiz(client, auth(world.teacher), world.course_a["id"], title="Passed")
    pending = await make_quiz(client, auth(world.teacher), world.course_a["id"], title="Pending")
    await submit(client, auth(world.student), passed["id"], ALL_CORRECT)
    course_id = uuid.UUID(world.course_a["id"])
    async with db.session() as session:
        keys = await service.answer_keys_for_student(
            session, course_id=course_id, student_id=world.student.id
        )
        assert {k.quiz_title for k in keys} == {"Pending"}
        assert [k.answers for k in keys] == [
            ["Oak tree"],
            ["Fungi", "Bacteria", "Earthworms"],
            ["false"],
            ["photosynthesis"],
        ]
        everything = await service.answer_keys_for_student(
            session, course_id=course_id, student_id=world.other_student.id
        )
        assert len(everything) == 8

        result = await service.record_external_attempt(
            session,
            quiz_id=uuid.UUID(pending["id"]),
            student_id=world.student.id,
            answers=ALL_CORRECT,
            time_spent_s=12,
        )
        assert result.passed and result.score == 8
    r = await client.get(f"{API}/quizzes/{pending['id']}/attempts", headers=auth(world.teacher))
    assert [a["source"] for a in r.json()["items"]] == ["tutor"]
    async with db.session() as session:
        assert (
            await service.answer_keys_for_student(
                session, course_id=course_id, student_id=world.student.id
            )
            == []
        )


async def test_unpublished_course_content_is_hidden_after_enrollment(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    # Unpublishing a course closes it to its enrolled students too.
    course = await create_course(client, auth(world.teacher))
    await enroll(client, auth(world.student), course["id"])
    quiz = await make_quiz(client, auth(world.teacher), course["id"])
    assert (
        await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.student))
    ).status_code == 200
    await client.patch(
        f"{API}/courses/{course['id']}", json={"is_published": False}, headers=auth(world.teacher)
    )
    assert (
        await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.student))
    ).status_code == 404


async def test_deleting_lessons_and_courses_cleans_up(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    from sqlalchemy import func, select

    from studyhall.assessments.models import Assignment, Quiz, QuizAttempt

    t = auth(world.teacher)
    quiz = await make_quiz(client, t, world.course_a["id"], lesson_id=world.lesson_a["id"])
    await submit(client, auth(world.student), quiz["id"], ALL_CORRECT)
    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/assignments", json={"title": "a"}, headers=t
    )
    assert r.status_code == 201
    assert (
        await client.delete(f"{API}/lessons/{world.lesson_a['id']}", headers=t)
    ).status_code == 204
    assert (await client.get(f"{API}/quizzes/{quiz['id']}", headers=t)).json()["lesson_id"] is None

    assert (
        await client.delete(f"{API}/courses/{world.course_a['id']}", headers=t)
    ).status_code == 204
    async with db.session(write=False) as session:
        for model in (Quiz, QuizAttempt, Assignment):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
