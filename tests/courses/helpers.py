"""Helpers shared by the courses, assessments and analytics tests: build data through the API."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event

from studyhall.core.db import Database
from studyhall.identity.models import User

API = "/api/v1"
Headers = Callable[[User], dict[str, str]]

_codes = itertools.count(1)


def new_code(prefix: str = "TST") -> str:
    """A course code unique within the run."""
    return f"{prefix}{next(_codes):03d}{uuid.uuid4().hex[:4].upper()}"


async def create_course(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """POST /courses and return the body (asserts 201)."""
    body = {"code": new_code(), "title": "A course", "is_published": True, **fields}
    r = await client.post(f"{API}/courses", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def add_module(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **fields: Any
) -> dict[str, Any]:
    """POST /courses/{id}/modules (asserts 201)."""
    r = await client.post(
        f"{API}/courses/{course_id}/modules", json={"title": "Module", **fields}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def add_lesson(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **fields: Any
) -> dict[str, Any]:
    """POST /courses/{id}/lessons (asserts 201)."""
    body = {"title": "Lesson", "content": "# Lesson\n\nSome text.", **fields}
    r = await client.post(f"{API}/courses/{course_id}/lessons", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def enroll(client: httpx.AsyncClient, headers: dict[str, str], course_id: str) -> None:
    """POST /courses/{id}/enroll (asserts 201)."""
    r = await client.post(f"{API}/courses/{course_id}/enroll", headers=headers)
    assert r.status_code == 201, r.text


@dataclass
class World:
    """Two teachers, two students, an admin; course A (published, student enrolled), draft B
    of the same teacher, and course C (published) of the other teacher."""

    teacher: User
    other_teacher: User
    student: User
    other_student: User
    admin: User
    course_a: dict[str, Any]
    course_b: dict[str, Any]
    course_c: dict[str, Any]
    lesson_a: dict[str, Any]
    lesson_b: dict[str, Any]
    lesson_c: dict[str, Any]


async def build_world(client: httpx.AsyncClient, make_user: Any, auth: Headers) -> World:
    """Create the World above through the API."""
    teacher = await make_user("teacher")
    other_teacher = await make_user("teacher")
    student = await make_user("student")
    other_student = await make_user("student")
    admin = await make_user("admin")
    t = auth(teacher)
    course_a = await create_course(client, t, title="Course A", is_published=True)
    course_b = await create_course(client, t, title="Course B draft", is_published=False)
    course_c = await create_course(client, auth(other_teacher), title="Course C", is_published=True)
    lesson_a = await add_lesson(
        client,
        t,
        course_a["id"],
        title="A1",
        duration_s=100,
        video_url="https://video.example/a1.mp4",
    )
    lesson_b = await add_lesson(client, t, course_b["id"], title="B1")
    lesson_c = await add_lesson(client, auth(other_teacher), course_c["id"], title="C1")
    await enroll(client, auth(student), course_a["id"])
    return World(
        teacher,
        other_teacher,
        student,
        other_student,
        admin,
        course_a,
        course_b,
        course_c,
        lesson_a,
        lesson_b,
        lesson_c,
    )


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """Collect every SQL statement the app's engine sends while the block runs."""
    statements: list[str] = []

    def _before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", _before)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", _before)
