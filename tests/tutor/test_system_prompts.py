"""Admins' versioned system prompts: one active per scope, and the version on every answer."""

from __future__ import annotations

import httpx

from studyhall.identity.models import User
from tests.peers.openai_llm import LLMPeer
from tests.tutor.conftest import API, Course, Headers, MakeClient, new_session, peer_llm

URL = f"{API}/admin/system-prompts"


async def test_only_admins_manage_system_prompts(
    client: httpx.AsyncClient, auth: Headers, course: Course
) -> None:
    for user in (course.student, course.teacher):
        assert (await client.get(URL, headers=auth(user))).status_code == 403
        created = await client.post(URL, json={"name": "x", "content": "y"}, headers=auth(user))
        assert created.status_code == 403


async def test_versions_per_scope_with_one_active(
    client: httpx.AsyncClient, auth: Headers, admin: User, course: Course
) -> None:
    headers = auth(admin)
    v1 = (
        await client.post(URL, json={"name": "Base", "content": "Be kind."}, headers=headers)
    ).json()
    assert (v1["scope"], v1["version"], v1["is_active"], v1["course_id"]) == (
        "global",
        1,
        True,
        None,
    )
    v2 = (
        await client.post(URL, json={"name": "Base", "content": "Be brief."}, headers=headers)
    ).json()
    assert (v2["version"], v2["is_active"]) == (2, True)
    assert (await client.get(f"{URL}/{v1['id']}", headers=headers)).json()["is_active"] is False
    draft = (
        await client.post(
            URL, json={"name": "Draft", "content": "Draft.", "activate": False}, headers=headers
        )
    ).json()
    assert (draft["version"], draft["is_active"]) == (3, False)
    scoped = (
        await client.post(
            URL,
            json={"course_id": course.id, "name": "Bio", "content": "Biology only."},
            headers=headers,
        )
    ).json()
    assert (scoped["scope"], scoped["version"], scoped["is_active"]) == ("course", 1, True)
    # A course prompt does not deactivate the global one.
    assert (await client.get(f"{URL}/{v2['id']}", headers=headers)).json()["is_active"] is True

    reactivated = await client.patch(f"{URL}/{v1['id']}", json={"is_active": True}, headers=headers)
    assert reactivated.status_code == 200 and reactivated.json()["is_active"] is True
    active = (
        await client.get(URL, params={"scope": "global", "active": "true"}, headers=headers)
    ).json()
    assert [p["id"] for p in active["items"]] == [v1["id"]]
    by_course = (await client.get(URL, params={"course_id": course.id}, headers=headers)).json()
    assert [p["id"] for p in by_course["items"]] == [scoped["id"]]
    assert (await client.get(URL, headers=headers)).json()["total"] == 4

    # The text of a version never changes; unknown fields are refused.
    edit = await client.patch(f"{URL}/{v1['id']}", json={"content": "Changed"}, headers=headers)
    assert edit.status_code == 422
    renamed = await client.patch(f"{URL}/{v1['id']}", json={"name": "Kind"}, headers=headers)
    assert renamed.json()["name"] == "Kind" and renamed.json()["content"] == "Be kind."

    assert (await client.delete(f"{URL}/{draft['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"{URL}/{draft['id']}", headers=headers)).status_code == 404
    unknown = await client.post(
        URL,
        json={"course_id": "00000000-0000-7000-8000-000000000000", "name": "x", "content": "y"},
        headers=headers,
    )
    assert unknown.status_code == 404

    logs = (
        await client.get(
            f"{API}/admin/audit-logs", params={"target_type": "system_prompt"}, headers=headers
        )
    ).json()
    actions = {item["action"] for item in logs["items"]}
    assert {
        "tutor.system_prompt_created",
        "tutor.system_prompt_updated",
        "tutor.system_prompt_deleted",
    } <= actions


async def test_answers_use_and_record_the_active_version(
    make_client: MakeClient, auth: Headers, admin: User, course: Course, llm: LLMPeer
) -> None:
    client = await make_client(llm=peer_llm(llm))
    me = auth(course.student)
    chat_id = await new_session(client, me, course.id)

    async def ask() -> dict:
        response = await client.post(
            f"{API}/chat/sessions/{chat_id}/messages",
            json={"content": "What is glucose?"},
            headers=me,
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert (await ask())["system_prompt_version"] is None
    assert "StudyHall's tutor" in llm.requests[-1]["messages"][0]["content"]

    await client.post(URL, json={"name": "G", "content": "GLOBAL-RULES-v1"}, headers=auth(admin))
    await client.post(URL, json={"name": "G", "content": "GLOBAL-RULES-v2"}, headers=auth(admin))
    assert (await ask())["system_prompt_version"] == 2
    assert llm.requests[-1]["messages"][0]["content"].startswith("GLOBAL-RULES-v2")

    await client.post(
        URL,
        json={"course_id": course.id, "name": "C", "content": "COURSE-RULES"},
        headers=auth(admin),
    )
    answer = await ask()
    assert answer["system_prompt_version"] == 1
    assert llm.requests[-1]["messages"][0]["content"].startswith("COURSE-RULES")
    stored = (await client.get(f"{API}/chat/sessions/{chat_id}", headers=me)).json()["messages"]
    assert [m["system_prompt_version"] for m in stored if m["role"] == "assistant"] == [None, 2, 1]
