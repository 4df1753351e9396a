"""Video fixtures: a published course with a lesson, its teacher, an enrolled student and a
stranger (another course's student), and helpers to upload over tus."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from studyhall.config import Settings
from studyhall.identity.models import User
from tests.conftest import MakeUser

API = "/api/v1"
TUS = {"Tus-Resumable": "1.0.0"}
# Small enough to test the limit cheaply, large enough for every upload here.
MAX_VIDEO_BYTES = 8 * 1024 * 1024
Headers = Callable[[User], dict[str, str]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The harness settings with a small video size limit."""
    video = settings.video.model_copy(update={"max_bytes": MAX_VIDEO_BYTES})
    return settings.model_copy(update={"video": video})


@dataclass
class Classroom:
    teacher: User
    student: User
    stranger: User
    other_teacher: User
    course: str
    lesson: str
    other_course: str


async def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json() if response.content else None


@pytest.fixture
async def classroom(client: httpx.AsyncClient, make_user: MakeUser, auth: Headers) -> Classroom:
    teacher, student = await make_user("teacher"), await make_user("student")
    stranger, other_teacher = await make_user("student"), await make_user("teacher")
    courses = []
    for owner, who in ((teacher, student), (other_teacher, stranger)):
        course = await _ok(
            await client.post(
                f"{API}/courses",
                json={
                    "code": f"VID{uuid.uuid4().hex[:6].upper()}",
                    "title": "Optics",
                    "is_published": True,
                },
                headers=auth(owner),
            ),
            201,
        )
        await _ok(await client.post(f"{API}/courses/{course['id']}/enroll", headers=auth(who)), 201)
        courses.append(course["id"])
    lesson = await _ok(
        await client.post(
            f"{API}/courses/{courses[0]}/lessons", json={"title": "Lenses"}, headers=auth(teacher)
        ),
        201,
    )
    return Classroom(
        teacher, student, stranger, other_teacher, courses[0], lesson["id"], courses[1]
    )


def metadata_header(values: dict[str, str]) -> str:
    """An Upload-Metadata header."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def create_upload(
    client: httpx.AsyncClient, headers: dict[str, str], course: str, size: int, **extra: Any
) -> dict[str, Any]:
    """A video and its upload through the canonical API."""
    body = {"title": "Lecture 1", "size_bytes": size, **extra}
    return await _ok(  # type: ignore[no-any-return]
        await client.post(f"{API}/courses/{course}/videos", json=body, headers=headers), 201
    )


async def patch(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    offset: int,
    body: bytes,
    **extra: str,
) -> httpx.Response:
    """One tus PATCH."""
    return await client.patch(
        url,
        content=body,
        headers={
            **headers,
            **TUS,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            **extra,
        },
    )


async def upload_all(
    client: httpx.AsyncClient, headers: dict[str, str], course: str, data: bytes, **extra: Any
) -> str:
    """Create a video and upload `data` in one PATCH; the video's id."""
    created = await create_upload(client, headers, course, len(data), **extra)
    done = await patch(client, created["upload_link"], headers, 0, data)
    assert done.status_code == 204, done.text
    return str(created["video_id"])
