"""Tests inside the chat: generated from the material or an existing quiz, one question at a
time, recorded as quiz attempts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from studyhall.assessments.models import Quiz
from studyhall.core.db import Database
from studyhall.tutor.text import collapse_spaces
from tests.tutor.conftest import API, Course, Headers, new_session
from tests.tutor.test_quiz_leaks import make_quiz


async def _start(
    client: httpx.AsyncClient, headers: dict[str, str], chat_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"{API}/chat/sessions/{chat_id}/quiz", json=body, headers=headers)


async def _answer(
    client: httpx.AsyncClient, headers: dict[str, str], chat_id: str, index: int, answer: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/chat/sessions/{chat_id}/answer",
        json={"answer": answer, "question_index": index},
        headers=headers,
    )


async def test_generated_test_is_grounded_deterministic_and_graded(
    client: httpx.AsyncClient, auth: Headers, course: Course, db: Database
) -> None:
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    started = await _start(client, me, chat_id, {"generate": {"questions": 3}})
    assert started.status_code == 200, started.text
    test = started.json()
    assert test["generated"] is True and test["quiz_id"] is None
    assert test["question_count"] >= 2
    first = test["question"]
    assert first["question_index"] == 0 and first["kind"] == "single" and len(first["options"]) == 4
    assert "_____" in first["prompt"] and "answer" not in first

    # The same material gives the same test.
    again = await _start(
        client, me, await new_session(client, me, course.id), {"generate": {"questions": 3}}
    )
    assert again.json()["question"] == first

    chunks = await client.get(
        f"{API}/documents/{(await _document_id(client, auth, course))}/chunks",
        headers=auth(course.teacher),
    )
    material = " ".join(collapse_spaces(c["text"]) for c in chunks.json()["items"])
    results = []
    index = 0
    question = first
    while question is not None:
        # Answer the first one wrong on purpose, the rest by reading the cited sentence.
        wrong = await _answer(client, me, chat_id, index + 1, 0)
        assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_question"
        response = await _answer(client, me, chat_id, index, 0)
        assert response.status_code == 200, response.text
        feedback = response.json()
        assert feedback["question_index"] == index
        assert feedback["source"]["document_title"] == "Biology for Schools"
        assert feedback["source"]["excerpt"] in material
        assert feedback["expected"] in question["options"]
        blanked = question["prompt"].removeprefix("Fill in the blank: “").removesuffix("”")
        assert blanked.replace("_____", feedback["expected"]) == feedback["source"]["excerpt"]
        results.append(feedback["correct"])
        question = feedback["next_question"]
        index += 1
    result = feedback["result"]
    assert result["max_score"] == test["question_count"]
    assert result["score"] == sum(results) and result["attempt_id"] is not None
    assert (await _answer(client, me, chat_id, index, 0)).status_code == 409

    # The result is a quiz attempt: the student reads it, analytics counts it.
    attempt = await client.get(f"{API}/attempts/{result['attempt_id']}", headers=me)
    assert attempt.status_code == 200, attempt.text
    assert attempt.json()["score"] == result["score"] and attempt.json()["status"] == "submitted"
    teacher = auth(course.teacher)
    analytics = (await client.get(f"{API}/courses/{course.id}/analytics", headers=teacher)).json()
    assert analytics["quiz_attempts"] == 1 and analytics["quizzes"] == 0
    # The student's answers ("0", ...) are not questions to the tutor.
    assert analytics["tutor_messages"] == 0 and analytics["top_questions"] == []
    # The practice test is none of the course's quizzes.
    practice_quiz = attempt.json()["quiz_id"]
    quizzes = await client.get(f"{API}/courses/{course.id}/quizzes", headers=teacher)
    assert quizzes.status_code == 200 and quizzes.json()["total"] == 0
    for who in (me, teacher):
        hidden = await client.get(f"{API}/quizzes/{practice_quiz}", headers=who)
        assert hidden.status_code == 404

    transcript = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()["messages"]
    assert all(m["finish_reason"] == "quiz" for m in transcript)
    assert transcript[0]["content"].startswith("Test: Practice test")
    assert "Test finished" in transcript[-1]["content"]

    # It belongs to the student: it goes with their account.
    assert (await client.delete(f"{API}/users/me", headers=me)).status_code == 204
    async with db.session(write=False) as session:
        assert await session.get(Quiz, uuid.UUID(practice_quiz)) is None


async def _document_id(client: httpx.AsyncClient, auth: Headers, course: Course) -> str:
    docs = await client.get(f"{API}/courses/{course.id}/documents", headers=auth(course.teacher))
    return str(docs.json()["items"][0]["id"])


async def test_existing_quiz_in_chat_is_recorded_as_an_attempt(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    quiz = await make_quiz(client, auth, course)
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    started = await _start(client, me, chat_id, {"quiz_id": quiz["id"]})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["quiz_id"] == quiz["id"] and body["question_count"] == 2 and not body["generated"]
    assert body["question"]["prompt"] == "What sugar do plants make in photosynthesis?"

    wrong = (await _answer(client, me, chat_id, 0, "fructose")).json()
    # The answer of a quiz not passed stays secret after a wrong answer.
    assert wrong["correct"] is False and wrong["expected"] is None and "glucose" not in str(wrong)
    right = (await _answer(client, me, chat_id, 1, "Oxygen")).json()
    assert right["correct"] is True and right["expected"] == "Oxygen"
    result = right["result"]
    assert (result["score"], result["max_score"], result["percent"], result["passed"]) == (
        1,
        2,
        50,
        True,
    )
    attempts = await client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=me)
    assert attempts.status_code == 200, attempts.text
    [attempt] = attempts.json()["items"]
    assert attempt["id"] == result["attempt_id"] and attempt["passed"] is True


async def test_quiz_of_another_course_or_none_in_progress(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    assert (await _answer(client, me, chat_id, 0, 1)).json()["code"] == "no_active_test"
    unknown = await _start(client, me, chat_id, {"quiz_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    library_chat = await new_session(client, me, None)
    quiz = await make_quiz(client, auth, course)
    assert (await _start(client, me, library_chat, {"quiz_id": quiz["id"]})).status_code == 404
    both = await _start(client, me, chat_id, {"quiz_id": quiz["id"], "generate": {"questions": 2}})
    assert both.status_code == 422
    no_topic = await _start(client, me, library_chat, {"generate": {"questions": 2}})
    assert no_topic.status_code == 422
