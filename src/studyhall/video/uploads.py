"""StudyHall's tus 1.0 server: the rules behind each request of an upload.

Offsets live in the database, so any api replica continues any upload. A PATCH takes a lease on
its upload row with one conditional UPDATE (at the offset it names, when no live lease holds
it), streams its body to storage outside any transaction, then records the new offset and
gives the lease back: concurrent PATCHes on one upload are serialised (the second waits, then
finds the offset moved: 409), no database transaction stays open while bytes arrive, and a
replica that dies mid-PATCH blocks its upload only until the lease runs out. Bytes received
before a client disconnects are kept (the client resumes from HEAD's offset); a PATCH refused
on its headers appends nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.identity.models import User
from studyhall.video import repository, service
from studyhall.video.errors import (
    BadTusRequest,
    BeyondUploadLength,
    OffsetMismatch,
    UploadExpired,
    UploadLocked,
    VideoNotFound,
    VideoTooLarge,
)
from studyhall.video.models import Video, VideoHostName, VideoStatus
from studyhall.video.schemas import VideoCreate

# How long a PATCH waits for another PATCH of the same upload to finish before 423.
LOCK_WAIT_S = 10.0
_LOCK_POLL_S = 0.05


@dataclass(frozen=True)
class UploadState:
    """What HEAD and a PATCH's answer report."""

    offset: int
    length: int
    expires_at: datetime | None
    metadata: str | None


def _state(video: Video) -> UploadState:
    return UploadState(
        video.upload_offset, video.size_bytes, video.upload_expires_at, video.upload_metadata
    )


async def _managed_upload(db: Database, *, user: User, upload_id: uuid.UUID) -> Video:
    """The local upload, if the caller manages its course (404 for anyone else)."""
    async with db.session(write=False) as session:
        video = await repository.get(session, upload_id)
        if video is None or video.host != VideoHostName.local:
            raise VideoNotFound()
        course = await courses.find_course(session, video.course_id)
        if course is None or not courses.manages(user, course):
            raise VideoNotFound()
        return video


def _check_live(video: Video, now: datetime) -> None:
    if video.status == VideoStatus.failed or video.storage_key is None:
        raise UploadExpired()
    if (
        video.status == VideoStatus.uploading
        and video.upload_expires_at is not None
        and video.upload_expires_at < now
    ):
        raise UploadExpired()


async def create(
    db: Database,
    settings: Settings,
    storage: LocalStorage,
    *,
    user: User,
    length: int,
    metadata: dict[str, str],
    raw_metadata: str | None,
) -> tuple[Video, UploadState]:
    """tus creation: a new video of the course named in the metadata (`course_id`, `title` or
    `filename`, optional `lesson_id`, `description`)."""
    if length > settings.video.max_bytes:
        raise VideoTooLarge(settings.video.max_bytes)
    try:
        course_id = uuid.UUID(metadata.get("course_id", ""))
        lesson_id = uuid.UUID(metadata["lesson_id"]) if metadata.get("lesson_id") else None
    except ValueError:
        raise BadTusRequest(
            "Upload-Metadata needs a course_id (and lesson_id, if any) UUID"
        ) from None
    title = (metadata.get("title") or metadata.get("filename") or "").strip()[:200] or "Video"
    data = VideoCreate(
        title=title,
        description=metadata.get("description", "")[:5000],
        size_bytes=length,
        lesson_id=lesson_id,
    )
    async with db.session() as session:
        course = await courses.find_course(session, course_id)
        if course is None or not courses.manages(user, course):
            raise VideoNotFound("Course not found")
        video = await service.new_video(
            session,
            settings,
            storage,
            actor=user,
            course=course,
            data=data,
            host=VideoHostName.local,
            raw_metadata=raw_metadata,
        )
        return video, _state(video)


async def head(db: Database, *, user: User, upload_id: uuid.UUID) -> UploadState:
    """tus HEAD: the offset stored so far."""
    video = await _managed_upload(db, user=user, upload_id=upload_id)
    _check_live(video, utcnow())
    return _state(video)


async def _lease(db: Database, settings: Settings, video_id: uuid.UUID, offset: int) -> str:
    """Wait for the upload to be free at `offset` and take it; 409 when the offset moved."""
    token = secrets.token_hex(16)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOCK_WAIT_S
    while True:
        now = utcnow()
        async with db.session() as session:
            until = now + timedelta(seconds=settings.video.patch_lease_s)
            if await repository.take_lease(
                session, video_id, offset=offset, token=token, now=now, until=until
            ):
                return token
            current = await repository.get(session, video_id)
        if current is None:
            raise VideoNotFound()
        _check_live(current, now)
        if current.status != VideoStatus.uploading or current.upload_offset != offset:
            raise OffsetMismatch(current.upload_offset)
        if loop.time() >= deadline:
            raise UploadLocked()
        await asyncio.sleep(_LOCK_POLL_S)


class _Capped:
    """The body's chunks, stopped at the bytes the upload has left; renews the lease as bytes
    flow so a long PATCH keeps its upload."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        remaining: int,
        renew: asyncio.Event,
    ) -> None:
        self.chunks = chunks
        self.remaining = remaining
        self.overflow = False
        self.renew = renew

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            if len(chunk) > self.remaining:
                self.overflow = True
                return
            self.remaining -= len(chunk)
            self.renew.set()
            yield chunk


async def append(
    db: Database,
    settings: Settings,
    storage: LocalStorage,
    *,
    user: User,
    upload_id: uuid.UUID,
    offset: int,
    declared_length: int | None,
    chunks: AsyncIterator[bytes],
) -> UploadState:
    """tus PATCH: store the body at `offset`. Refusals (unknown, expired, wrong offset, more
    bytes declared than left) happen before the first byte is read."""
    video = await _managed_upload(db, user=user, upload_id=upload_id)
    _check_live(video, utcnow())
    if video.status != VideoStatus.uploading or video.upload_offset != offset:
        raise OffsetMismatch(video.upload_offset)
    if declared_length is not None and offset + declared_length > video.size_bytes:
        raise BeyondUploadLength()
    token = await _lease(db, settings, video.id, offset)
    assert video.storage_key is not None
    renew = asyncio.Event()
    keeper = asyncio.create_task(_keep_lease(db, settings, video.id, token, renew))
    capped = _Capped(chunks, video.size_bytes - offset, renew)
    written = 0
    try:
        written = await storage.write_at(video.storage_key, offset, aiter(capped))
        if capped.overflow:
            # Nothing of a body that overruns the upload counts: cut back to the offset.
            await storage.truncate(video.storage_key, offset)
            written = 0
    finally:
        keeper.cancel()
        async with db.session() as session:
            await repository.release_lease(
                session, video.id, token=token, offset=offset + written if written else None
            )
    if capped.overflow:
        raise BeyondUploadLength()
    new_offset = offset + written
    if new_offset == video.size_bytes:
        async with db.session() as session:
            finished = await service.finish_local_upload(session, storage, video_id=video.id)
        return _state(finished)
    video.upload_offset = new_offset
    return _state(video)


async def _keep_lease(
    db: Database, settings: Settings, video_id: uuid.UUID, token: str, renew: asyncio.Event
) -> None:
    """Extend the lease a third of its length at a time while bytes keep arriving."""
    every = settings.video.patch_lease_s / 3
    while True:
        await asyncio.sleep(every)
        if not renew.is_set():
            continue  # no byte since the last renewal: let a stalled PATCH's lease run out
        renew.clear()
        async with db.session() as session:
            until = utcnow() + timedelta(seconds=settings.video.patch_lease_s)
            await repository.renew_lease(session, video_id, token=token, until=until)


async def terminate(
    db: Database, settings: Settings, storage: LocalStorage, *, user: User, upload_id: uuid.UUID
) -> None:
    """tus termination: the upload (and its video) is deleted, its bytes freed."""
    await _managed_upload(db, user=user, upload_id=upload_id)
    async with db.session() as session:
        video = await repository.get(session, upload_id)
        if video is None:
            raise VideoNotFound()
        await service.remove(session, settings, storage, actor=user, video=video)
