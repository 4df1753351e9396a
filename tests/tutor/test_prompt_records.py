"""Prompt records: prompts a client stores in its session with the responses its models gave."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser

API = "/api/v1"


async def test_records_live_in_the_owners_session(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    chat = (await client.post(f"{API}/chat/sessions", json={}, headers=auth(owner))).json()
    r = await client.post(
        f"{API}/chat/sessions/{chat['id']}/prompts",
        json={"prompt_text": "Why is the sky blue?", "llm_responses": ["Rayleigh scattering."]},
        headers=auth(owner),
    )
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["session_id"] == chat["id"] and record["user_id"] == str(owner.id)
    assert record["llm_responses"] == ["Rayleigh scattering."]
    listed = await client.get(f"{API}/chat/sessions/{chat['id']}/prompts", headers=auth(owner))
    assert listed.json()["total"] == 1 and listed.json()["items"] == [record]
    r = await client.patch(
        f"{API}/chat/prompts/{record['id']}", json={"llm_responses": []}, headers=auth(owner)
    )
    assert r.status_code == 200 and r.json()["llm_responses"] == []
    assert r.json()["prompt_text"] == "Why is the sky blue?"
    # Another user: every route is 404, and nothing changed.
    for method, path in (
        ("GET", f"/chat/prompts/{record['id']}"),
        ("PATCH", f"/chat/prompts/{record['id']}"),
        ("DELETE", f"/chat/prompts/{record['id']}"),
        ("GET", f"/chat/sessions/{chat['id']}/prompts"),
        ("POST", f"/chat/sessions/{chat['id']}/prompts"),
    ):
        body = {"prompt_text": "x"} if method in ("POST", "PATCH") else None
        r = await client.request(method, f"{API}{path}", json=body, headers=auth(other))
        assert r.status_code == 404, (method, path)
    # Bounds: too many responses, unknown fields.
    r = await client.post(
        f"{API}/chat/sessions/{chat['id']}/prompts",
        json={"prompt_text": "q", "llm_responses": ["a"] * 21},
        headers=auth(owner),
    )
    assert r.status_code == 422
    r = await client.patch(
        f"{API}/chat/prompts/{record['id']}", json={"user_id": str(other.id)}, headers=auth(owner)
    )
    assert r.status_code == 422
    # Deleting the session takes its records.
    await client.delete(f"{API}/chat/sessions/{chat['id']}", headers=auth(owner))
    r = await client.get(f"{API}/chat/prompts/{record['id']}", headers=auth(owner))
    assert r.status_code == 404
