"""The tutor and a course's total token budget: refused once spent, never overdrawn by answers
asked at the same time (on PostgreSQL the requests really run in parallel)."""

from __future__ import annotations

import asyncio

import httpx

from studyhall.identity.models import Role, User
from tests.conftest import MakeUser
from tests.peers.openai_llm import LLMPeer
from tests.tutor.conftest import (
    API,
    Course,
    Headers,
    MakeClient,
    peer_llm,
    reservations,
    wallet,
)


async def test_a_spent_budget_is_402_and_the_model_is_never_called(
    make_client: MakeClient, auth: Headers, course: Course, llm: LLMPeer, admin: User
) -> None:
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    r = await client.put(
        f"{API}/courses/{course.id}/token-budget",
        json={"token_budget": 100},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    before = await wallet(client, me)
    response = await client.post(
        f"{API}/chat", json={"course_id": course.id, "content": "What is glucose?"}, headers=me
    )
    assert response.status_code == 402, response.text
    assert response.json()["code"] == "course_budget_exhausted"
    assert llm.request_count == 0
    assert await wallet(client, me) == before
    # Chats outside the course are not the course's to refuse.
    assert (
        await client.post(f"{API}/chat", json={"content": "Hello?"}, headers=me)
    ).status_code == 200


async def test_parallel_questions_never_overdraw_the_budget(
    make_client: MakeClient, auth: Headers, course: Course, make_user: MakeUser, admin: User
) -> None:
    client = await make_client(rate_limits={"tutor_per_user": "100/minute"})
    students: list[User] = [course.student]
    for _ in range(3):
        s = await make_user(Role.student)
        r = await client.post(f"{API}/courses/{course.id}/enroll", headers=auth(s))
        assert r.status_code == 201
        students.append(s)
    question = {"course_id": course.id, "content": "What is photosynthesis?"}
    first = await client.post(f"{API}/chat", json=question, headers=auth(course.student))
    assert first.status_code == 200, first.text
    [done] = await reservations(client, auth(course.student), "finalized")
    hold = done["amount"]
    teacher = auth(course.teacher)
    url = f"{API}/courses/{course.id}/token-budget"
    spent = (await client.get(url, headers=teacher)).json()["tokens_spent"]
    assert 0 < spent <= hold
    # Room for two holds and a half: answers asked together must not all fit.
    budget = spent + 2 * hold + hold // 2
    assert (await client.put(url, json={"token_budget": budget}, headers=auth(admin))).is_success

    async def ask(student: User) -> httpx.Response:
        return await client.post(f"{API}/chat", json=question, headers=auth(student))

    answers = await asyncio.gather(*(ask(students[i % 4]) for i in range(12)))
    codes = sorted({(a.status_code, a.json().get("code")) for a in answers})
    assert set(codes) <= {(200, None), (402, "course_budget_exhausted")}, codes
    assert (200, None) in codes and (402, "course_budget_exhausted") in codes
    view = (await client.get(url, headers=teacher)).json()
    assert view["tokens_held"] == 0
    assert view["tokens_spent"] <= budget
