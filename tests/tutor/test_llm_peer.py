"""The tutor against a real local OpenAI-compatible server: usage, failures, streams, disconnects."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.peers.openai_llm import LLMPeer
from tests.tutor.conftest import (
    API,
    Course,
    Headers,
    MakeClient,
    live_server,
    new_session,
    parse_sse,
    peer_llm,
    reservations,
    wallet,
)

QUESTION = {"content": "How do plants make glucose?"}
SSE = {"Accept": "text/event-stream"}


async def _ask(
    client: httpx.AsyncClient, headers: dict[str, str], chat_id: str, *, stream: bool = False
) -> httpx.Response:
    return await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json=QUESTION,
        headers={**headers, **(SSE if stream else {})},
    )


async def _nothing_charged(
    client: httpx.AsyncClient, headers: dict[str, str], chat_id: str, before: dict[str, Any]
) -> None:
    after = await wallet(client, headers)
    assert (after["balance"], after["reserved"]) == (before["balance"], 0)
    assert {r["status"] for r in await reservations(client, headers)} == {"released"}
    assert (await client.get(f"{API}/chat/sessions/{chat_id}", headers=headers)).json()[
        "messages"
    ] == []


async def test_json_answer_charges_the_servers_usage(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == llm.reply
    [usage] = llm.usages
    assert body["usage"] == {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "charged_tokens": usage["total_tokens"],
    }
    assert (await wallet(client, me))["balance"] == before["balance"] - usage["total_tokens"]
    # The reply cites [1]: the first retrieved passage is its source.
    assert [s["index"] for s in body["sources"]] == [1]
    request = llm.requests[0]
    assert request["stream"] is False and request["model"] == "peer-model"
    assert request["_headers"]["authorization"] == "Bearer sk-peer"


async def test_stream_relays_deltas_and_charges_usage_from_the_last_chunk(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id, stream=True)
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    deltas = [d["text"] for e, d in events if e == "delta"]
    assert len(deltas) == len(llm.reply.split(" ")) and "".join(deltas) == llm.reply
    [usage] = llm.usages
    assert llm.requests[0]["stream_options"] == {"include_usage": True}
    usage_event = next(d for e, d in events if e == "usage")
    assert usage_event["charged_tokens"] == usage["total_tokens"]
    assert (await wallet(client, me))["balance"] == before["balance"] - usage["total_tokens"]
    assert events[-1][0] == "done" and events[-1][1]["content"] == llm.reply


async def test_server_without_usage_is_charged_the_estimate(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.script("no_usage")
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id, stream=True)
    done = parse_sse(response.text)[-1][1]
    assert done["usage"]["completion_tokens"] > 0 and llm.usages == []
    [reservation] = await reservations(client, me)
    assert reservation["actual"] == done["usage"]["charged_tokens"]


async def test_500_is_503_released_and_nothing_charged(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.default = "error_500"
    client = await make_client(llm=peer_llm(llm, max_retries=1))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    for stream in (False, True):
        response = await _ask(client, me, chat_id, stream=stream)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "llm_unavailable"
        assert "try again" in response.json()["detail"]
    assert llm.request_count == 4  # two tries each
    await _nothing_charged(client, me, chat_id, before)


async def test_429_then_success_is_retried(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.script("error_429", "normal")
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id)
    assert response.status_code == 200, response.text
    assert [r["_behaviour"] for r in llm.requests] == ["error_429", "normal"]


async def test_hang_is_504_released_and_nothing_charged(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.default = "hang"
    client = await make_client(llm=peer_llm(llm, timeout_s=0.3, max_retries=0))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    for stream in (False, True):
        response = await _ask(client, me, chat_id, stream=stream)
        assert response.status_code == 504, response.text
        assert response.json()["code"] == "llm_timeout"
        assert "did not answer within 0.3 s" in response.json()["detail"]
    await _nothing_charged(client, me, chat_id, before)


async def test_stream_cut_midway_is_an_error_event_and_nothing_is_charged(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.script("cut")
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id, stream=True)
    assert response.status_code == 200
    events = parse_sse(response.text)
    assert [e for e, _ in events] == ["delta", "delta", "error"]
    assert events[-1][1]["status"] == 503 and events[-1][1]["code"] == "llm_unavailable"
    await _nothing_charged(client, me, chat_id, before)


async def test_malformed_chunks_are_502_and_nothing_is_charged(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.script("malformed")
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id, stream=True)
    events = parse_sse(response.text)
    assert events[0][0] == "delta" and events[-1][0] == "error"
    assert events[-1][1]["status"] == 502 and events[-1][1]["code"] == "llm_bad_response"
    await _nothing_charged(client, me, chat_id, before)


async def test_fallback_provider_answers_when_the_primary_is_down(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    llm.default = "error_500"
    client = await make_client(llm=peer_llm(llm, max_retries=0, fallback_provider="offline"))
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    response = await _ask(client, me, chat_id, stream=True)
    assert response.status_code == 200, response.text
    done = parse_sse(response.text)[-1][1]
    assert "light energy to make glucose" in done["content"] and llm.request_count == 1


async def test_prompt_fences_material_and_carries_guide_hint_and_history(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer, admin: Any
) -> None:
    client = await make_client(llm=peer_llm(llm))
    patched = await client.patch(
        f"{API}/courses/{course.id}",
        json={"guide": "Always use examples from farming."},
        headers=auth(course.teacher),
    )
    assert patched.status_code == 200, patched.text
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)
    assert (await _ask(client, me, chat_id)).status_code == 200
    follow_up = await client.post(
        f"{API}/chat/sessions/{chat_id}/messages",
        json={"content": "Why is oxygen released?"},
        headers=me,
    )
    assert follow_up.status_code == 200
    first, second = (r["messages"] for r in llm.requests)
    system = first[0]
    assert system["role"] == "system"
    assert "Always use examples from farming." in system["content"]
    assert "Hint level 3 of 5" in system["content"]
    assert "untrusted" in system["content"]
    assert "chlorophyll" not in system["content"]  # material never in the system message
    question = first[-1]
    assert question["role"] == "user" and "<<<passage [1]" in question["content"]
    assert "<<<end passage [1]" in question["content"] and "chlorophyll" in question["content"]
    assert question["content"].endswith("How do plants make glucose?")
    # The second prompt carries the first exchange as history.
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert (
        second[1]["content"] == "How do plants make glucose?" and second[2]["content"] == llm.reply
    )


async def test_client_disconnect_stops_the_model_and_charges_what_was_generated(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    before = await wallet(client, me)
    chat_id = await new_session(client, me, course.id)
    llm.script("slow")
    async with (
        live_server(client.app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as live,
    ):  # type: ignore[attr-defined]
        async with live.stream(
            "POST", f"{API}/chat/sessions/{chat_id}/messages", json=QUESTION, headers={**me, **SSE}
        ) as response:
            assert response.status_code == 200
            seen = 0
            async for line in response.aiter_lines():
                if line == "event: delta":
                    seen += 1
                    if seen == 3:
                        break
        for _ in range(300):
            found = await reservations(client, me, "finalized")
            if found and llm.disconnects:
                break
            await asyncio.sleep(0.02)
    assert llm.disconnects == 1 and llm.completed_streams == 0
    [reservation] = await reservations(client, me)
    assert reservation["status"] == "finalized"
    assert 0 < reservation["actual"] < reservation["amount"]
    after = await wallet(client, me)
    assert after["balance"] == before["balance"] - reservation["actual"] and after["reserved"] == 0
    messages = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()["messages"]
    assert messages[-1]["finish_reason"] == "interrupted"
    assert messages[-1]["content"].startswith("word0 word1 word2")
    assert messages[-1]["usage"]["charged_tokens"] == reservation["actual"]


async def test_subject_tutor_dialect_answers_its_documents_503_and_504(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer
) -> None:
    """000's `POST /chat` documents 503 "Chatbot service unavailable" and 504 "Request
    timeout" in its `{"detail": …}` body: the same failures of the model, through the dialect,
    hold and charge nothing."""
    me = auth(course.student)
    for behaviour, status, peer in (
        ("error_500", 503, {"max_retries": 0}),
        ("hang", 504, {"timeout_s": 0.3, "max_retries": 0}),
    ):
        llm.default = behaviour
        client = await make_client(llm=peer_llm(llm, **peer))
        before = await wallet(client, me)
        code = (await client.get(f"{API}/courses/{course.id}", headers=me)).json()["code"]
        response = await client.post(
            "/compat/subject-tutor/chat",
            json={"id": str(uuid.uuid4()), "asignatura": code, "content": QUESTION["content"]},
            headers=me,
        )
        assert response.status_code == status, response.text
        assert list(response.json()) == ["detail"]
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
        after = await wallet(client, me)
        assert (after["balance"], after["reserved"]) == (before["balance"], 0)
