"""Fixtures and helpers of the knowledge API tests (imported explicitly by each test module)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from studyhall.knowledge.router import router as knowledge_router

Headers = Callable[[User], dict[str, str]]
API = "/api/v1"


@pytest.fixture(autouse=True)
def knowledge_routes(app: Any) -> Any:
    """Mount the knowledge router on the test app unless api.py already does."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if f"{API}/library/subjects" not in paths:
        app.include_router(knowledge_router, prefix=API)
    return app


@pytest.fixture
def worker(app: Any) -> Worker:
    """An in-process worker on the test database and storage."""
    return Worker(app.state.db, app.state.settings, app.state.storage, name="test")


@dataclass
class CourseSetup:
    id: str
    teacher: User
    student: User


async def create_course(
    client: httpx.AsyncClient,
    auth: Headers,
    teacher: User,
    *,
    students: tuple[User, ...] = (),
    published: bool = True,
) -> str:
    """A course owned by `teacher`, with the given students enrolled; returns its id."""
    code = f"K{uuid.uuid4().hex[:8].upper()}"
    response = await client.post(
        f"{API}/courses",
        json={"code": code, "title": f"Course {code}", "is_published": published},
        headers=auth(teacher),
    )
    assert response.status_code == 201, response.text
    course_id = str(response.json()["id"])
    for student in students:
        enrolled = await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(student))
        assert enrolled.status_code == 201, enrolled.text
    return course_id


@pytest.fixture
async def course(
    client: httpx.AsyncClient, auth: Headers, teacher: User, student: User
) -> CourseSetup:
    """A published course of `teacher` with `student` enrolled."""
    course_id = await create_course(client, auth, teacher, students=(student,))
    return CourseSetup(id=course_id, teacher=teacher, student=student)


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    course_id: str | None,
    data: bytes,
    filename: str,
    *,
    fields: dict[str, str] | None = None,
    expect: int = 202,
) -> dict[str, Any]:
    """POST a file to a course (or to the library when course_id is None); returns the body."""
    url = f"{API}/courses/{course_id}/documents" if course_id else f"{API}/library/documents"
    response = await client.post(
        url, files={"file": (filename, data)}, data=fields or {}, headers=headers
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def document(
    client: httpx.AsyncClient, headers: dict[str, str], document_id: str
) -> dict[str, Any]:
    """GET a document."""
    response = await client.get(f"{API}/documents/{document_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_chunks(
    client: httpx.AsyncClient, headers: dict[str, str], document_id: str
) -> list[dict[str, Any]]:
    """Every chunk of a document through the paginated listing."""
    items: list[dict[str, Any]] = []
    while True:
        response = await client.get(
            f"{API}/documents/{document_id}/chunks",
            params={"limit": 100, "offset": len(items)},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if len(items) >= page["total"] or not page["items"]:
            return items


async def search(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, query: str, k: int = 5
) -> list[dict[str, Any]]:
    """POST a course search; returns the hits."""
    response = await client.post(
        f"{API}/courses/{course_id}/search", json={"query": query, "k": k}, headers=headers
    )
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()
    return hits


async def chunk_rows(db: Database, document_id: str) -> list[tuple[int, int | None]]:
    """(position, page) of a document's chunk rows, read straight from the table."""
    from sqlalchemy import select

    from studyhall.knowledge.models import Chunk

    async with db.session(write=False) as session:
        rows = await session.execute(
            select(Chunk.position, Chunk.page)
            .where(Chunk.document_id == uuid.UUID(document_id))
            .order_by(Chunk.position)
        )
        return [(r[0], r[1]) for r in rows.all()]
