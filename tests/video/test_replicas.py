"""Offsets live in the database, so a second api replica (another app on the same database and
data directory) continues an upload the first began, and a PATCH on one replica waits for the
PATCH another replica is receiving; refusals are decided on the headers, without reading a byte
of the body."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.main import create_app
from studyhall.video.models import Video, VideoStatus
from tests.video.conftest import (
    API,
    MAX_VIDEO_BYTES,
    TUS,
    Classroom,
    Headers,
    create_upload,
    metadata_header,
    patch,
)
from tests.video.media import tiny_mp4

OCTETS = "application/offset+octet-stream"


@contextlib.asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second app on the same database and data directory."""
    app = create_app(settings, run_worker=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.11", 50001))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.db.dispose()


async def _video(db: Database, video_id: str) -> Video:
    async with db.session(write=False) as session:
        video = await session.scalar(select(Video).where(Video.id == uuid.UUID(video_id)))
        assert video is not None
        return video


async def test_another_replica_continues_the_upload_byte_identical(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, db: Database, settings: Settings
) -> None:
    data = tiny_mp4(321.5, payload=os.urandom(400_000))
    headers = auth(classroom.teacher)
    created = await create_upload(client, headers, classroom.course, len(data))
    url = created["upload_link"]
    assert (await patch(client, url, headers, 0, data[:150_000])).status_code == 204

    async with replica(settings) as other:
        head = await other.head(url, headers={**headers, **TUS})
        assert head.status_code == 200 and head.headers["Upload-Offset"] == "150000"
        rest = await patch(other, url, headers, 150_000, data[150_000:])
        assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data))

    video = await _video(db, created["video_id"])
    assert video.status == VideoStatus.ready and video.duration_s == 321.5
    played = await client.get(f"{API}/videos/{created['video_id']}/stream", headers=headers)
    assert hashlib.sha256(played.content).digest() == hashlib.sha256(data).digest()


async def test_patches_on_two_replicas_are_serialised(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, db: Database, settings: Settings
) -> None:
    headers = auth(classroom.teacher)
    created = await create_upload(client, headers, classroom.course, 200_000)
    url = created["upload_link"]
    release = asyncio.Event()

    async def slow(fill: bytes) -> AsyncIterator[bytes]:
        yield fill * 50_000
        await release.wait()
        yield fill * 50_000

    def send(on: httpx.AsyncClient, fill: bytes) -> asyncio.Task[httpx.Response]:
        return asyncio.create_task(
            on.patch(
                url,
                content=slow(fill),
                headers={**headers, **TUS, "Content-Type": OCTETS, "Upload-Offset": "0"},
            )
        )

    async with replica(settings) as other:
        one = send(client, b"1")
        await asyncio.sleep(0.3)  # the first replica holds the upload's lease
        two = send(other, b"2")
        await asyncio.sleep(0.3)  # the second waits for it
        release.set()
        answers = {(await one).status_code, (await two).status_code}
    # The first wrote its 100,000 bytes; the second then found the offset moved.
    assert answers == {204, 409}, answers
    assert (await one).status_code == 204 and (await two).headers["Upload-Offset"] == "100000"
    video = await _video(db, created["video_id"])
    assert video.upload_offset == 100_000 and video.lease_token is None
    path = client._transport.app.state.storage.local_path(video.storage_key)  # type: ignore[attr-defined]
    assert path.read_bytes() == b"1" * 100_000


async def test_refusals_are_answered_without_reading_the_body(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, db: Database
) -> None:
    headers = auth(classroom.teacher)
    created = await create_upload(client, headers, classroom.course, 1000)
    url = created["upload_link"]
    assert (await patch(client, url, headers, 0, b"a" * 100)).status_code == 204
    read: list[str] = []

    def body(case: str) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            read.append(case)  # runs only when the server asks for the body's first chunk
            yield b"b" * 10

        return chunks()

    tus = {**headers, **TUS, "Content-Type": OCTETS}
    cases: dict[str, tuple[int, dict[str, Any]]] = {
        "wrong offset": (409, {**tus, "Upload-Offset": "50"}),
        "wrong type": (415, {**tus, "Content-Type": "video/mp4", "Upload-Offset": "100"}),
        "no version": (412, {**headers, "Content-Type": OCTETS, "Upload-Offset": "100"}),
        "too long": (413, {**tus, "Upload-Offset": "100", "Content-Length": "901"}),
        "stranger": (
            404,
            {
                **auth(classroom.other_teacher),
                **TUS,
                "Content-Type": OCTETS,
                "Upload-Offset": "100",
            },
        ),
    }
    for case, (status, sent) in cases.items():
        answer = await client.patch(url, content=body(case), headers=sent)
        assert answer.status_code == status, (case, answer.text)
    assert read == []
    # Creation past the size limit is refused on Upload-Length, its body never read either.
    too_big = await client.post(
        f"{API}/videos/uploads",
        content=body("creation"),
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(MAX_VIDEO_BYTES + 1),
            "Upload-Metadata": metadata_header({"course_id": classroom.course}),
        },
    )
    assert too_big.status_code == 413 and read == []
    assert (await _video(db, created["video_id"])).upload_offset == 100
    # The probe itself: a PATCH that is accepted does read its body.
    accepted = await client.patch(
        url, content=body("accepted"), headers={**tus, "Upload-Offset": "100"}
    )
    assert accepted.status_code == 204 and accepted.headers["Upload-Offset"] == "110"
    assert read == ["accepted"]
