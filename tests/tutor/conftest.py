"""Tutor fixtures: the real local OpenAI-compatible server, apps wired to it, a course with
ingested material, and helpers for SSE and wallets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from studyhall.config import Settings
from studyhall.identity.models import Role, User
from studyhall.jobs.worker import Worker
from studyhall.main import create_app
from studyhall.tutor.providers.factory import aclose_provider
from studyhall.tutor.router import router as tutor_router
from tests.conftest import MakeUser
from tests.peers.openai_llm import DEFAULT_REPLY, LLMPeer

API = "/api/v1"
Headers = Callable[[User], dict[str, str]]

MATERIAL = b"""# Photosynthesis

Photosynthesis is the process by which green plants use light energy to make glucose from
carbon dioxide and water. Oxygen is released as a by-product of photosynthesis. The green
pigment chlorophyll absorbs the light energy that drives the reaction.

# Respiration

Cellular respiration releases the energy stored in glucose. The mitochondria are the organelles
where aerobic respiration happens in every living cell. Respiration produces carbon dioxide and
water as waste products.

# Ecosystems

Food chains show how energy passes from producers to herbivores and then to carnivores.
Decomposers such as fungi and bacteria recycle nutrients back into the soil.
"""


def mount(app: Any) -> Any:
    """Mount the tutor (and knowledge) routers on an app unless api.py already does."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if f"{API}/chat/sessions" not in paths:
        app.include_router(tutor_router, prefix=API)
    if f"{API}/library/subjects" not in paths:
        from studyhall.knowledge.router import router as knowledge_router

        app.include_router(knowledge_router, prefix=API)
    return app


@pytest.fixture(autouse=True)
def tutor_routes(request: pytest.FixtureRequest) -> None:
    """Tests that use the default app (offline tutor) get the tutor mounted on it."""
    if "app" in request.fixturenames:
        mount(request.getfixturevalue("app"))


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[LLMPeer]:
    with LLMPeer() as peer:
        yield peer


@pytest.fixture
def llm(_llm_server: LLMPeer) -> Iterator[LLMPeer]:
    """The peer LLM, with an empty script and history for this test."""
    _llm_server.reset()
    _llm_server.reply = DEFAULT_REPLY
    _llm_server.chunk_delay_s = 0.0
    _llm_server.slow_pieces = 200
    yield _llm_server
    _llm_server.reset()


MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(settings: Settings) -> AsyncIterator[MakeClient]:
    """Another app on the same database with changed settings groups, and a client for it.

    `await make_client(llm={...}, billing={...}, rate_limits={...})`.
    """
    made: list[tuple[Any, httpx.AsyncClient]] = []

    async def _make(**groups: dict[str, Any]) -> httpx.AsyncClient:
        update = {
            name: getattr(settings, name).model_copy(update=values)
            for name, values in groups.items()
        }
        app = mount(create_app(settings.model_copy(update=update), run_worker=False))
        transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)
        client.app = app  # type: ignore[attr-defined]
        made.append((app, client))
        return client

    yield _make
    for app, client in made:
        await client.aclose()
        await aclose_provider(app)
        await app.state.db.dispose()


def peer_llm(llm: LLMPeer, **extra: Any) -> dict[str, Any]:
    """LLM settings pointing at the peer."""
    return {
        "provider": "openai",
        "base_url": llm.base_url,
        "model": "peer-model",
        "api_key": "sk-peer",
        "timeout_s": 5.0,
        "max_retries": 2,
        **extra,
    }


@pytest.fixture
def worker(app: Any) -> Worker:
    """An in-process worker on the test database and storage."""
    return Worker(app.state.db, app.state.settings, app.state.storage, name="tutor-test")


@dataclass
class Course:
    id: str
    teacher: User
    student: User


async def create_course(
    client: httpx.AsyncClient,
    auth: Headers,
    teacher: User,
    *,
    students: tuple[User, ...] = (),
    guide: str = "",
) -> str:
    """A published course of `teacher` with the students enrolled; returns its id."""
    code = f"T{uuid.uuid4().hex[:8].upper()}"
    response = await client.post(
        f"{API}/courses",
        json={"code": code, "title": "Biology basics", "is_published": True, "guide": guide},
        headers=auth(teacher),
    )
    assert response.status_code == 201, response.text
    course_id = str(response.json()["id"])
    for student in students:
        enrolled = await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(student))
        assert enrolled.status_code == 201, enrolled.text
    return course_id


async def add_document(
    client: httpx.AsyncClient,
    auth: Headers,
    teacher: User,
    worker: Worker,
    course_id: str,
    content: bytes,
    *,
    title: str = "Biology for Schools",
    filename: str = "biology.md",
) -> str:
    """Upload a document to the course and ingest it; returns its id."""
    response = await client.post(
        f"{API}/courses/{course_id}/documents",
        files={"file": (filename, content)},
        data={"title": title},
        headers=auth(teacher),
    )
    assert response.status_code == 202, response.text
    await worker.run_until_idle()
    document_id = str(response.json()["document"]["id"])
    doc = await client.get(f"{API}/documents/{document_id}", headers=auth(teacher))
    assert doc.json()["status"] == "ready", doc.text
    return document_id


@pytest.fixture
async def course(
    client: httpx.AsyncClient, auth: Headers, teacher: User, student: User, worker: Worker
) -> Course:
    """A published course with `student` enrolled and a biology document ingested."""
    course_id = await create_course(client, auth, teacher, students=(student,))
    await add_document(client, auth, teacher, worker, course_id, MATERIAL)
    return Course(course_id, teacher, student)


@pytest.fixture
async def other_student(make_user: MakeUser) -> User:
    return await make_user(Role.student)


async def new_session(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str | None
) -> str:
    """POST /chat/sessions; returns the id."""
    response = await client.post(
        f"{API}/chat/sessions", json={"course_id": course_id} if course_id else {}, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def wallet(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """GET /wallet."""
    response = await client.get(f"{API}/wallet", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def reservations(
    client: httpx.AsyncClient, headers: dict[str, str], status: str | None = None
) -> list[dict[str, Any]]:
    """GET /wallet/reservations."""
    params = {"status": status} if status else {}
    response = await client.get(f"{API}/wallet/reservations", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of an SSE body."""
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            events.append((event, json.loads("\n".join(data))))
    return events


@contextlib.asynccontextmanager
async def live_server(app: Any) -> AsyncIterator[str]:
    """Serve an app over real TCP in this event loop (real streaming and disconnects)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="critical", log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
