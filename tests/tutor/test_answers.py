"""Answers with the offline provider: grounded and cited, hint levels, JSON and SSE, limits."""

from __future__ import annotations

import re
from typing import Any

import httpx

from studyhall.identity.models import Role, User
from studyhall.tutor.providers.offline import NOT_FOUND
from studyhall.tutor.text import collapse_spaces
from tests.conftest import MakeUser
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
    wallet,
)


async def _chunk_texts(
    client: httpx.AsyncClient, headers: dict[str, str], document_id: str
) -> dict[str, str]:
    response = await client.get(
        f"{API}/documents/{document_id}/chunks", params={"limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {c["id"]: c["text"] for c in response.json()["items"]}


async def test_offline_answer_quotes_and_cites_its_passages(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    response = await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": "How do green plants make glucose from light energy?"},
        headers=me,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["role"] == "assistant" and answer["session_id"] == chat_id
    quotes = re.findall(r"“([^”]+)” \[(\d+)\]", answer["content"])
    assert quotes, answer["content"]
    sources = {s["index"]: s for s in answer["sources"]}
    chunks: dict[str, str] = {}
    for source in answer["sources"]:
        assert source["document_title"] == "Biology for Schools"
        chunks.update(await _chunk_texts(client, auth(course.teacher), source["document_id"]))
    for quote, index in quotes:
        cited = sources[int(index)]
        assert quote in collapse_spaces(chunks[cited["chunk_id"]])
    assert "light energy to make glucose" in answer["content"]

    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["charged_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    after = await wallet(client, me)
    assert after["balance"] == before["balance"] - usage["charged_tokens"]
    assert after["reserved"] == 0
    [reservation] = await reservations(client, me)
    assert reservation["status"] == "finalized" and reservation["actual"] == usage["charged_tokens"]
    assert reservation["amount"] > usage["charged_tokens"]

    detail = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()
    assert detail["message_count"] == 2
    assert detail["title"] == "How do green plants make glucose from light energy?"
    question, stored = detail["messages"]
    assert question["role"] == "user" and question["usage"] is None
    assert stored["content"] == answer["content"] and stored["sources"] == answer["sources"]


async def test_hint_levels_one_and_two_ask_guiding_questions(
    client: httpx.AsyncClient, auth: Headers, course: Course, admin: User
) -> None:
    for level in (1, 2):
        updated = await client.patch(
            f"{API}/admin/users/{course.student.id}",
            json={"hint_level": level},
            headers=auth(admin),
        )
        assert updated.status_code == 200, updated.text
        response = await client.post(
            f"{API}/chat",
            json={"course_id": course.id, "content": "What do the mitochondria do in a cell?"},
            headers=auth(course.student),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["hint_level"] == level
        assert "Look at" in body["content"] and "Biology for Schools" in body["content"]
        assert "?" in body["content"] and not re.search(r"” \[\d+\]", body["content"])
        assert "organelles where aerobic respiration" not in body["content"]
        assert body["sources"]


async def test_nothing_relevant_is_said_plainly(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    response = await client.post(
        f"{API}/chat",
        json={"course_id": course.id, "content": "Who won the football world cup in 1998?"},
        headers=auth(course.student),
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"] == NOT_FOUND
    assert response.json()["sources"] == []


async def test_refusals_are_not_charged(
    client: httpx.AsyncClient, auth: Headers, course: Course, student: User
) -> None:
    # Nothing relevant in the course, and a chat with no course material at all: the student
    # gets no answer, so nothing is charged (the usage is still reported, charged_tokens is 0).
    for who, body in (
        (course.student, {"course_id": course.id, "content": "Who won the world cup in 1998?"}),
        (student, {"content": "What is osmosis?"}),
    ):
        me = auth(who)
        before = await wallet(client, me)
        response = await client.post(f"{API}/chat", json=body, headers=me)
        assert response.status_code == 200, response.text
        usage = response.json()["usage"]
        assert usage["prompt_tokens"] > 0 and usage["charged_tokens"] == 0
        after = await wallet(client, me)
        assert (after["balance"], after["reserved"]) == (before["balance"], 0)
        assert {r["actual"] for r in await reservations(client, me)} == {0}


async def test_library_session_without_material_does_not_invent(
    client: httpx.AsyncClient, auth: Headers, student: User
) -> None:
    response = await client.post(
        f"{API}/chat", json={"content": "What is osmosis?"}, headers=auth(student)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "no course material" in body["content"] and body["sources"] == []
    assert (
        await client.get(f"{API}/chat/sessions/{body['session_id']}", headers=auth(student))
    ).json()["course_id"] is None


async def test_stream_events_carry_the_same_answer(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    response = await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": "What is released as a by-product of photosynthesis?"},
        headers={**me, "Accept": "text/event-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [e for e, _ in events]
    assert names[-3:] == ["sources", "usage", "done"] and set(names[:-3]) == {"delta"}
    text = "".join(d["text"] for e, d in events if e == "delta")
    done: dict[str, Any] = events[-1][1]
    assert text == done["content"] and "Oxygen is released" in text
    assert events[-3][1] == done["sources"] and events[-2][1] == done["usage"]
    stored = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()["messages"][-1]
    assert stored["id"] == done["id"] and stored["content"] == text


async def test_one_call_form_creates_then_continues_a_session(
    client: httpx.AsyncClient, auth: Headers, course: Course, other_student: User
) -> None:
    me = auth(course.student)
    first = await client.post(
        f"{API}/chat",
        json={"course_id": course.id, "content": "What is photosynthesis?"},
        headers=me,
    )
    assert first.status_code == 200, first.text
    chat_id = first.json()["session_id"]
    second = await client.post(
        f"{API}/chat", json={"session_id": chat_id, "content": "And respiration?"}, headers=me
    )
    assert second.status_code == 200 and second.json()["session_id"] == chat_id
    detail = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()
    assert detail["message_count"] == 4 and detail["course_id"] == course.id
    other = await client.post(
        f"{API}/chat", json={"course_id": course.id, "content": "hi"}, headers=auth(other_student)
    )
    assert other.status_code == 403 and other.json()["code"] == "enrollment_required"
    assert (await client.get(f"{API}/chat/sessions", headers=auth(other_student))).json()[
        "total"
    ] == 0


async def test_tutor_requests_are_rate_limited_per_user(
    make_client: MakeClient, auth: Headers, course: Course, other_student: User
) -> None:
    limited = await make_client(rate_limits={"tutor_per_user": "2/minute"})
    me = auth(course.student)
    for _ in range(2):
        ok = await limited.post(
            f"{API}/chat", json={"course_id": course.id, "content": "What is glucose?"}, headers=me
        )
        assert ok.status_code == 200, ok.text
    refused = await limited.post(
        f"{API}/chat", json={"course_id": course.id, "content": "Again?"}, headers=me
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == "rate_limited"
    # Another user has a budget of their own.
    other = await limited.post(
        f"{API}/chat", json={"content": "Hello?"}, headers=auth(other_student)
    )
    assert other.status_code == 200


async def test_not_enough_tokens_is_402_and_the_model_is_never_called(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    # The signup bonus (10 000) cannot hold prompt + 12 000 answer tokens; the daily limit can.
    greedy = await make_client(
        llm=peer_llm(llm, max_tokens=12_000),
        billing={"signup_bonus": 10_000, "tiers": {"free": 20_000}},
    )
    me = auth(course.student)
    before = await wallet(greedy, me)
    chat_id = await new_session(greedy, me, course.id)
    for accept in ("application/json", "text/event-stream"):
        response = await greedy.post(
            f"{API}/chat/sessions/{chat_id}/messages",
            json={"content": "What is photosynthesis?"},
            headers={**me, "Accept": accept},
        )
        assert response.status_code == 402, response.text
        assert response.json()["code"] == "insufficient_tokens"
    assert llm.request_count == 0
    assert await wallet(greedy, me) == before
    assert (await greedy.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()["messages"] == []


async def test_daily_limit_is_429_and_the_model_is_never_called(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    tight = await make_client(llm=peer_llm(llm), billing={"tiers": {"free": 500}})
    response = await tight.post(
        f"{API}/chat",
        json={"course_id": course.id, "content": "What is photosynthesis?"},
        headers=auth(course.student),
    )
    assert response.status_code == 429 and "retry-after" in response.headers
    assert llm.request_count == 0
    assert (await tight.get(f"{API}/chat/sessions", headers=auth(course.student))).json()[
        "total"
    ] == 0


async def test_teachers_and_admins_may_use_a_course_tutor(
    client: httpx.AsyncClient, auth: Headers, course: Course, make_user: MakeUser, admin: User
) -> None:
    for user in (course.teacher, admin):
        response = await client.post(
            f"{API}/chat",
            json={"course_id": course.id, "content": "What is chlorophyll?"},
            headers=auth(user),
        )
        assert response.status_code == 200, response.text
    stranger = await make_user(Role.teacher)
    response = await client.post(
        f"{API}/chat",
        json={"course_id": course.id, "content": "What is chlorophyll?"},
        headers=auth(stranger),
    )
    assert response.status_code == 403


async def test_idempotency_key_replays_the_first_answer_and_charges_once(
    make_client: MakeClient, llm: LLMPeer, auth: Headers, course: Course
) -> None:
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    url = f"{API}/chat/sessions/{chat_id}/messages"
    keyed = {**me, "Idempotency-Key": "question-1"}
    first = await client.post(url, json={"content": "What is chlorophyll?"}, headers=keyed)
    assert first.status_code == 200, first.text
    after_first = await wallet(client, me)
    again = await client.post(url, json={"content": "What is chlorophyll?"}, headers=keyed)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    reused = await client.post(url, json={"content": "Something else?"}, headers=keyed)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    # The retry neither asked the model again nor held tokens.
    assert llm.request_count == 1
    after = await wallet(client, me)
    assert (after["balance"], after["reserved"]) == (after_first["balance"], 0)
    assert [r["status"] for r in await reservations(client, me)] == ["finalized"]
    detail = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()
    assert detail["message_count"] == 2
