"""StudyHall's tus 1.0 server, driven by the official Python client (tuspy) over real TCP,
and every refusal the protocol and our limits call for: checked before the body is read, and a
refused PATCH appends nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.config import Settings
from studyhall.core import clock
from studyhall.core.db import Database
from studyhall.jobs.models import Job
from studyhall.jobs.worker import Worker
from studyhall.video.jobs import EXPIRE_KIND
from studyhall.video.models import Video, VideoStatus
from tests.tutor.conftest import live_server
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
from tests.video.tus_probe import probe

PIECE = 256 * 1024


async def _video(db: Database, video_id: str) -> Video:
    async with db.session(write=False) as session:
        video = await session.scalar(select(Video).where(Video.id == uuid.UUID(video_id)))
        assert video is not None
        return video


async def test_tuspy_uploads_in_pieces_survives_a_killed_patch_and_resumes_byte_identical(
    app: Any, client: httpx.AsyncClient, classroom: Classroom, auth: Headers, db: Database
) -> None:
    data = tiny_mp4(754.25, payload=os.urandom(5 * PIECE + 12345))
    headers = auth(classroom.teacher)
    async with live_server(app) as base:
        url, after_kill = await asyncio.to_thread(
            probe,
            f"{base}{API}/videos/uploads",
            data,
            headers=headers,
            metadata={"course_id": classroom.course, "filename": "lecture.mp4"},
            piece=PIECE,
        )
    # What arrived before the connection died was kept: the client resumed after it.
    assert after_kill > 2 * PIECE
    video_id = url.rsplit("/", 1)[1]
    video = await _video(db, video_id)
    assert video.status == VideoStatus.ready and video.upload_offset == len(data)
    assert video.title == "lecture.mp4"
    # The duration comes from the file's own movie header.
    assert video.duration_s == 754.25
    stored = await client.get(f"{API}/videos/{video_id}/stream", headers=headers)
    assert stored.status_code == 200
    assert hashlib.sha256(stored.content).digest() == hashlib.sha256(data).digest()


async def test_discovery_and_head_report_the_protocol_and_the_offset(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers
) -> None:
    options = await client.options(f"{API}/videos/uploads")
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) == {
        "creation",
        "termination",
        "expiration",
    }
    assert options.headers["Tus-Max-Size"] == str(MAX_VIDEO_BYTES)
    headers = auth(classroom.teacher)
    created = await client.post(
        f"{API}/videos/uploads",
        headers={
            **headers,
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata_header({"course_id": classroom.course, "title": "Intro"}),
        },
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert created.headers["Upload-Expires"].endswith("GMT")
    assert (await patch(client, location, headers, 0, b"hello")).status_code == 204
    head = await client.head(location, headers={**headers, **TUS})
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "5" and head.headers["Upload-Length"] == "10"
    assert head.headers["Cache-Control"] == "no-store"
    assert "course_id" in head.headers["Upload-Metadata"]


async def test_refused_requests_are_refused_on_their_headers_and_append_nothing(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, db: Database
) -> None:
    headers = auth(classroom.teacher)
    too_big = await client.post(
        f"{API}/videos/uploads",
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(MAX_VIDEO_BYTES + 1),
            "Upload-Metadata": metadata_header({"course_id": classroom.course}),
        },
    )
    assert too_big.status_code == 413 and too_big.json()["code"] == "video_too_large"
    canonical_too_big = await client.post(
        f"{API}/courses/{classroom.course}/videos",
        json={"title": "Huge", "size_bytes": MAX_VIDEO_BYTES + 1},
        headers=headers,
    )
    assert canonical_too_big.status_code == 413

    created = await create_upload(client, headers, classroom.course, 100)
    url = created["upload_link"]
    assert (await patch(client, url, headers, 0, b"a" * 40)).status_code == 204

    wrong_offset = await patch(client, url, headers, 10, b"b" * 10)
    assert wrong_offset.status_code == 409
    assert wrong_offset.headers["Upload-Offset"] == "40"
    wrong_type = await client.patch(
        url,
        content=b"c" * 10,
        headers={**headers, **TUS, "Content-Type": "application/json", "Upload-Offset": "40"},
    )
    assert wrong_type.status_code == 415
    no_version = await client.patch(
        url,
        content=b"d" * 10,
        headers={
            **headers,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "40",
        },
    )
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    # More bytes than the upload has left: declared (Content-Length) or streamed (chunked).
    declared = await patch(client, url, headers, 40, b"e" * 61)
    assert declared.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(7):
            yield b"f" * 10

    streamed = await client.patch(
        url,
        content=chunked(),
        headers={
            **headers,
            **TUS,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "40",
        },
    )
    assert streamed.status_code == 413
    bad_offset = await patch(client, url, headers, -1, b"g")
    assert bad_offset.status_code == 400

    head = await client.head(url, headers={**headers, **TUS})
    assert head.headers["Upload-Offset"] == "40"
    video = await _video(db, created["video_id"])
    assert video.storage_key is not None
    path = client._transport.app.state.storage.local_path(video.storage_key)  # type: ignore[attr-defined]
    assert path.read_bytes() == b"a" * 40

    # Strangers: another teacher sees no upload (404), an anonymous caller must sign in (401).
    stranger = auth(classroom.other_teacher)
    assert (await client.head(url, headers={**stranger, **TUS})).status_code == 404
    assert (await patch(client, url, stranger, 40, b"h")).status_code == 404
    assert (await patch(client, url, {}, 40, b"h")).status_code == 401
    student = auth(classroom.student)
    assert (await patch(client, url, student, 40, b"h")).status_code == 404
    assert path.read_bytes() == b"a" * 40


async def test_concurrent_patches_on_one_upload_are_serialised(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, db: Database
) -> None:
    headers = auth(classroom.teacher)
    created = await create_upload(client, headers, classroom.course, 200_000)
    url = created["upload_link"]
    release = asyncio.Event()

    async def slow(fill: bytes) -> AsyncIterator[bytes]:
        yield fill * 50_000
        await release.wait()
        yield fill * 50_000

    first = asyncio.create_task(
        patch(
            client,
            url,
            headers,
            0,
            b"",
        )
    )
    await first  # an empty PATCH is fine and changes nothing
    one = asyncio.create_task(
        client.patch(
            url,
            content=slow(b"1"),
            headers={
                **headers,
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
        )
    )
    await asyncio.sleep(0.2)
    two = asyncio.create_task(
        client.patch(
            url,
            content=slow(b"2"),
            headers={
                **headers,
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
        )
    )
    await asyncio.sleep(0.2)
    release.set()
    answers = sorted([(await one).status_code, (await two).status_code])
    assert answers == [204, 409], answers
    video = await _video(db, created["video_id"])
    assert video.upload_offset == 100_000
    path = client._transport.app.state.storage.local_path(video.storage_key)  # type: ignore[attr-defined]
    stored = path.read_bytes()
    assert stored in (b"1" * 100_000, b"2" * 100_000)


async def test_termination_deletes_the_upload_and_expiry_frees_unfinished_ones(
    app: Any,
    client: httpx.AsyncClient,
    classroom: Classroom,
    auth: Headers,
    db: Database,
    settings: Settings,
) -> None:
    headers = auth(classroom.teacher)
    storage = app.state.storage
    gone = await create_upload(client, headers, classroom.course, 50)
    assert (await patch(client, gone["upload_link"], headers, 0, b"x" * 20)).status_code == 204
    gone_path = storage.local_path((await _video(db, gone["video_id"])).storage_key)
    terminated = await client.delete(gone["upload_link"], headers={**headers, **TUS})
    assert terminated.status_code == 204
    assert (await client.head(gone["upload_link"], headers={**headers, **TUS})).status_code == 404
    # Its bytes are freed by a job once the deletion commits.
    await Worker(db, settings, storage, name="video-test").run_until_idle()
    assert not gone_path.exists()

    stale = await create_upload(client, headers, classroom.course, 50)
    assert (await patch(client, stale["upload_link"], headers, 0, b"y" * 20)).status_code == 204
    fresh = await create_upload(client, headers, classroom.course, 50)
    video = await _video(db, stale["video_id"])
    path = storage.local_path(video.storage_key)
    assert path.exists()
    async with db.session() as session:
        row = await session.get(Video, uuid.UUID(stale["video_id"]))
        assert row is not None
        row.upload_expires_at = clock.utcnow() - timedelta(seconds=1)
    # The worker's periodic schedule runs the expiry (due at once: the schedule is new).
    worker = Worker(db, settings, storage, name="video-test")
    await worker.schedule_periodic()
    await worker.run_until_idle()
    async with db.session(write=False) as session:
        ran = await session.scalar(select(Job.result).where(Job.kind == EXPIRE_KIND))
    assert ran == {"expired": 1}
    expired = await _video(db, stale["video_id"])
    assert expired.status == VideoStatus.failed and expired.storage_key is None
    assert not path.exists()
    head = await client.head(stale["upload_link"], headers={**headers, **TUS})
    assert head.status_code == 410
    assert (await patch(client, stale["upload_link"], headers, 20, b"z")).status_code == 410
    assert (await _video(db, fresh["video_id"])).status == VideoStatus.uploading
    # The course's list shows each video's status, the expired one failed with its reason.
    listed = await client.get(f"{API}/courses/{classroom.course}/videos", headers=headers)
    statuses = {v["id"]: (v["status"], v["error"]) for v in listed.json()["items"]}
    assert statuses == {
        stale["video_id"]: ("failed", "The upload expired before it was finished"),
        fresh["video_id"]: ("uploading", None),
    }
