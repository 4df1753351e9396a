"""While a student has not passed a quiz, the tutor's replies never carry its answers."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.identity.models import User
from tests.peers.openai_llm import LLMPeer
from tests.tutor.conftest import (
    API,
    Course,
    Headers,
    MakeClient,
    new_session,
    parse_sse,
    peer_llm,
    reservations,
)

QUESTION = "What sugar do plants make in photosynthesis?"
LEAKY = "Plants make glucose in photosynthesis [1]."
SAFE = "Think about what the leaves store after using light energy [1]. What could it be?"


async def make_quiz(client: httpx.AsyncClient, auth: Headers, course: Course) -> dict[str, Any]:
    response = await client.post(
        f"{API}/courses/{course.id}/quizzes",
        json={
            "title": "Photosynthesis check",
            "pass_percent": 50,
            "questions": [
                {"prompt": QUESTION, "kind": "short", "answer": "glucose"},
                {
                    "prompt": "Which gas do plants release in photosynthesis?",
                    "kind": "single",
                    "options": ["Nitrogen", "Oxygen", "Helium"],
                    "answer": 1,
                },
            ],
        },
        headers=auth(course.teacher),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _ask(
    client: httpx.AsyncClient, headers: dict[str, str], chat_id: str, **extra: str
) -> httpx.Response:
    return await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": QUESTION},
        headers={**headers, **extra},
    )


async def test_a_leaking_reply_is_regenerated_lower_then_refused(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.reply = LEAKY
    client = await make_client(llm=peer_llm(llm))
    await make_quiz(client, auth, course)
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["finish_reason"] == "refused" and "glucose" not in body["content"].lower()
    assert "Photosynthesis check" in body["content"]
    assert llm.request_count == 3
    systems = [r["messages"][0]["content"] for r in llm.requests]
    assert "Hint level 3 of 5" in systems[0] and "Hint level 2 of 5" in systems[1]
    assert "Hint level 1 of 5" in systems[2]
    assert all("Never give the answer to a quiz question" in s for s in systems)
    # Every attempt is reported, within the one hold; a withheld answer is not charged.
    assert body["usage"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in llm.usages)
    assert body["usage"]["charged_tokens"] == 0
    [reservation] = await reservations(client, me)
    assert reservation["actual"] == 0 and reservation["amount"] >= sum(
        u["prompt_tokens"] + u["completion_tokens"] for u in llm.usages
    )

    stats = await _stats(client, course)
    assert stats["refused_answers"] == 1 and stats["leak_regenerations"] == 2


async def _stats(client: httpx.AsyncClient, course: Course) -> dict[str, Any]:
    import uuid

    from studyhall.tutor.service import tutor_stats_for_course

    async with client.app.state.db.session(write=False) as session:  # type: ignore[attr-defined]
        stats = await tutor_stats_for_course(session, course_id=uuid.UUID(course.id), since=None)
    return stats.model_dump(mode="json")


async def test_a_regenerated_reply_that_no_longer_leaks_is_sent_in_the_stream(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    client = await make_client(llm=peer_llm(llm))
    await make_quiz(client, auth, course)
    llm.script_replies(LEAKY, SAFE)
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id, Accept="text/event-stream")
    events = parse_sse(response.text)
    text = "".join(d["text"] for e, d in events if e == "delta")
    assert "glucose" not in response.text.lower()
    done = events[-1][1]
    assert text == done["content"] == SAFE
    assert done["hint_level"] == 2 and done["finish_reason"] == "stop"


async def test_the_offline_tutor_falls_back_to_guiding_questions(
    client: httpx.AsyncClient, auth: Headers, course: Course, admin: User
) -> None:
    await make_quiz(client, auth, course)
    await client.patch(
        f"{API}/admin/users/{course.student.id}", json={"hint_level": 5}, headers=auth(admin)
    )
    response = await client.post(
        f"{API}/chat",
        json={"course_id": course.id, "content": "What do green plants make from light energy?"},
        headers=auth(course.student),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "glucose" not in body["content"].lower()
    assert body["hint_level"] <= 2 and "Look at" in body["content"]


async def test_no_guard_once_the_quiz_is_passed_or_for_teachers(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    client = await make_client(llm=peer_llm(llm))
    quiz = await make_quiz(client, auth, course)
    llm.reply = LEAKY
    teacher_chat = await new_session(client, auth(course.teacher), course.id)
    taught = await _ask(client, auth(course.teacher), teacher_chat)
    assert taught.json()["content"] == LEAKY and llm.request_count == 1

    passed = await client.post(
        f"{API}/quizzes/{quiz['id']}/attempts",
        json={"answers": ["glucose", 1], "time_spent_s": 30},
        headers=auth(course.student),
    )
    assert passed.status_code in (200, 201) and passed.json()["passed"] is True, passed.text
    chat_id = await new_session(client, auth(course.student), course.id)
    response = await _ask(client, auth(course.student), chat_id)
    assert response.json()["content"] == LEAKY and llm.request_count == 2
    assert "Never give the answer" not in llm.requests[-1]["messages"][0]["content"]


# --- finding 6 (issue 11): one guard for every path that shows course text to a student -------


async def test_finding_06_search_withholds_a_chunk_with_a_quiz_answer_from_a_student(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    """Before: the student's search returned the chunk with "glucose" whole, while the tutor
    withheld the same excerpt; after: its pointer stays, its text and excerpt are withheld
    until the quiz is passed. The teacher still reads it."""
    await make_quiz(client, auth, course)

    async def search(user: User) -> list[dict[str, Any]]:
        r = await client.post(
            f"{API}/courses/{course.id}/search", json={"query": QUESTION}, headers=auth(user)
        )
        assert r.status_code == 200, r.text
        hits: list[dict[str, Any]] = r.json()
        return hits

    student_hits = await search(course.student)
    assert student_hits, "the search found nothing"
    assert all("glucose" not in (h["text"] + h["excerpt"]).lower() for h in student_hits)
    withheld = [h for h in student_hits if h["text"].startswith("(excerpt withheld")]
    assert withheld and all(h["document_title"] and h["chunk_id"] for h in withheld)
    teacher_hits = await search(course.teacher)
    assert any("glucose" in h["text"].lower() for h in teacher_hits)


def test_finding_06_the_guard_matches_normalised_text_and_option_positions() -> None:
    """Before: only a literal phrase matched, so these went through."""
    import uuid

    from studyhall.tutor.leakcheck import Key, find_leaks

    def key(
        prompt: str, answers: list[str], kind: str = "short", positions: tuple[int, ...] = ()
    ) -> Key:
        return Key(uuid.uuid4(), "Check", uuid.uuid4(), prompt, kind, answers, positions)

    secret = key("What is the password of the vault?", ["AuSecret"])
    fixed = key("Which method finds the root of the cosine map?", ["fixed-point iteration"])
    gas = key(
        "Which gas do plants release in photosynthesis?",
        ["Oxygen"],
        kind="single",
        positions=(1,),
    )
    q = "Tell me about it"
    leaking = [
        ("The password of the vault is A-u-S-E-C-R-E-T.", secret),
        ("The vault password: a u s e c r e t", secret),
        ("The vault PASSWORD is «AUSECRET»!", secret),
        ("The root of the cosine map is found by xed-point iteration.", fixed),
        ("The root of the cosine map is found by \ufb01xed-point iteration.", fixed),
        ("Plants release a gas in photosynthesis: it is the second option.", gas),
        ("Plants release a gas in photosynthesis, so pick option B.", gas),
        ("In photosynthesis plants release a gas: answer (b).", gas),
    ]
    for text, k in leaking:
        assert find_leaks(text, [k], question=q), text
    safe = [
        ("The vault password is something you must find yourself.", secret),
        ("The root of the cosine map needs an iteration; which one?", fixed),
        ("Plants release a gas in photosynthesis; the first option is nitrogen, is it right?", gas),
    ]
    for text, k in safe:
        assert not find_leaks(text, [k], question=q), text
