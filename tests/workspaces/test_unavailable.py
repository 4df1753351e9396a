"""Without an engine: the `off` backend's documented 503, and an engine that does not answer
(503 with Retry-After, the workspace left `failed` and the failure audited)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.models import User
from tests.workspaces.conftest import API, with_workspaces
from tests.workspaces.test_api import client_for

Headers = Callable[[User], dict[str, str]]


async def test_off_backend_answers_the_documented_503(
    settings: Settings, student: User, auth: Headers
) -> None:
    async with client_for(with_workspaces(settings, backend="off")) as client:
        answer = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
        assert answer.status_code == 503
        assert answer.json()["code"] == "workspace_backend_unavailable"
        # Off is a configuration, not an outage: there is no point in retrying soon.
        assert "retry-after" not in answer.headers
        mine = await client.get(f"{API}/workspaces/me", headers=auth(student))
        assert mine.json()["status"] == "failed"


async def test_an_engine_that_does_not_answer_is_503_with_retry_after(
    settings: Settings, student: User, auth: Headers, db: Database, tmp_path: Path
) -> None:
    down = with_workspaces(
        settings, backend="docker", docker_url=f"unix://{tmp_path}/no-engine.sock", retry_after_s=7
    )
    async with client_for(down) as client:
        answer = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "workspace_backend_unavailable"
        assert answer.headers["retry-after"] == "7"
        mine = (await client.get(f"{API}/workspaces/me", headers=auth(student))).json()
        assert (
            mine["status"] == "failed" and mine["error"] == "The container engine does not answer"
        )
        # A failed start does not block the next one.
        again = await client.post(f"{API}/workspaces", json={}, headers=auth(student))
        assert again.status_code == 503
    async with db.session(write=False) as session:
        actions = list(
            await session.scalars(select(AuditLog.action).where(AuditLog.target_id == mine["id"]))
        )
    assert actions == ["workspace.start_failed", "workspace.start_failed"]


async def test_bad_input_is_422_and_unknown_fields_are_refused(
    client: httpx.AsyncClient, student: User, auth: Headers
) -> None:
    for body in ({"course_id": "nope"}, {"image": "evil:latest"}, {"command": ["sh"]}):
        answer = await client.post(f"{API}/workspaces", json=body, headers=auth(student))
        assert answer.status_code == 422, body
    anonymous = await client.post(f"{API}/workspaces", json={})
    assert anonymous.status_code == 401
