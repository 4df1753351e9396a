"""Lesson videos in the browser: playback with Range requests, the player's heartbeats, and the
teacher's resumable upload.

The video API authenticates with bearer tokens, which a `<video>` element and a page's script
do not carry; these routes are the same operations for a cookie session (with the CSRF header on
every write). They call the video domain's own functions: the tus handlers themselves for
uploads (same protocol, same checks, same limits), the service for streaming, heartbeats and
attaching a video to a lesson."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.core.errors import AppError
from studyhall.core.storage import LocalStorage
from studyhall.courses.dependencies import lesson_by_id, lesson_for_owner
from studyhall.courses.models import Course, Lesson
from studyhall.identity.models import User
from studyhall.video import service as videos
from studyhall.video import tus_router
from studyhall.video.errors import VideoNotFound
from studyhall.video.hosts import UPLOADS_PATH
from studyhall.video.router import VideoFileResponse
from studyhall.video.schemas import HeartbeatIn, VideoOut
from studyhall.web.pages.answers import REFUSED, refused
from studyhall.web.pages.common import Ctx, Posted, SignedIn, Student, Teacher, as_uuid
from studyhall.web.render import redirect

router = APIRouter(include_in_schema=False)
WEB_UPLOADS = "/teach/videos/uploads"
SHOWN = 100


async def lesson_videos(
    session: AsyncSession, settings: Settings, *, user: User, course: Course, lesson: Lesson
) -> tuple[list[VideoOut], uuid.UUID | None]:
    """The course's videos (for the lesson editor) and the one the lesson plays, if any."""
    found, _ = await videos.list_videos(
        session, settings, user=user, course=course, limit=SHOWN, offset=0
    )
    playing = await videos.lesson_video(session, lesson=lesson)
    return found, playing.id if playing else None


async def playable(
    session: AsyncSession, storage: LocalStorage, *, user: User, lesson: Lesson
) -> uuid.UUID | None:
    """The id of the lesson's video when the user may stream it from here, else None."""
    video = await videos.lesson_video(session, lesson=lesson)
    if video is None:
        return None
    try:
        video = await videos.readable_video(session, user=user, video_id=video.id)
        videos.playable_path(storage, video)  # ready, and stored here (not on Vimeo)
    except AppError:
        return None
    return video.id


# ---------------------------------------------------------------- watching


@router.get("/videos/{video_id}/stream")
async def stream(ctx: Ctx, video_id: uuid.UUID, request: Request, user: SignedIn) -> Response:
    """The video's file with Range support (seeking), for whoever may watch it."""
    try:
        async with ctx.db.session(write=False) as session:
            video = await videos.readable_video(session, user=user, video_id=video_id)
            path, media_type = videos.playable_path(request.app.state.storage, video)
    except AppError as exc:
        return Response(status_code=exc.status_code)
    response = VideoFileResponse(path, media_type=media_type, content_disposition_type="inline")
    response.headers["cache-control"] = "private, no-cache"
    return response


@router.post("/videos/{video_id}/heartbeats")
async def heartbeat(ctx: Ctx, video_id: uuid.UUID, user: Student, data: Posted) -> Response:
    """The player's position every few seconds; the lesson's progress follows it."""
    try:
        position = float(data.get("position_s", ""))
    except ValueError:
        return Response(status_code=422)
    try:
        body = HeartbeatIn(position_s=position)
        async with ctx.db.session() as session:
            video = await videos.readable_video(session, user=user, video_id=video_id)
            await videos.heartbeat(session, student=user, video=video, data=body)
    except AppError as exc:
        return Response(status_code=exc.status_code)
    except REFUSED:
        return Response(status_code=422)
    return Response(status_code=204)


# ---------------------------------------------------------------- teaching


@router.post("/teach/lessons/{lesson_id}/video")
async def attach(ctx: Ctx, lesson_id: uuid.UUID, user: Teacher, data: Posted) -> Response:
    """Make one of the course's videos the lesson's video (after an upload, or to switch)."""
    video_id = as_uuid(data.get("video_id", ""))
    try:
        async with ctx.db.session() as session:
            lesson = await lesson_for_owner(
                await lesson_by_id(lesson_id, user, session), user, session
            )
            if video_id is None:
                raise VideoNotFound()
            await videos.attach(session, ctx.settings, actor=user, lesson=lesson, video_id=video_id)
    except AppError as exc:
        return refused(ctx, exc)
    return redirect(ctx, f"/teach/lessons/{lesson_id}/edit#video")


def _web_location(response: Response) -> Response:
    """The tus handler names the API's upload URL; the page's client keeps to its own."""
    location = response.headers.get("location")
    if location and location.startswith(UPLOADS_PATH):
        response.headers["location"] = WEB_UPLOADS + location.removeprefix(UPLOADS_PATH)
    return response


def _as_uploader(ctx: Ctx, user: User) -> tuple[User, Database, Settings, LocalStorage]:
    """What the tus handlers take from the API's dependencies, given by this page's session."""
    return user, ctx.db, ctx.settings, ctx.request.app.state.storage


@router.post(WEB_UPLOADS)
async def create_upload(
    ctx: Ctx,
    request: Request,
    user: Teacher,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
) -> Response:
    """tus creation (course_id, lesson_id and title in Upload-Metadata)."""
    response = await tus_router.create_upload(
        request,
        *_as_uploader(ctx, user),
        tus_resumable=tus_resumable,
        upload_length=upload_length,
        upload_metadata=upload_metadata,
    )
    return _web_location(response)


@router.head(WEB_UPLOADS + "/{upload_id}")
async def upload_offset(
    ctx: Ctx,
    upload_id: uuid.UUID,
    user: Teacher,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """tus HEAD: where to resume."""
    return await tus_router.upload_offset(upload_id, user, ctx.db, tus_resumable=tus_resumable)


@router.patch(WEB_UPLOADS + "/{upload_id}")
async def upload_bytes(
    ctx: Ctx,
    request: Request,
    upload_id: uuid.UUID,
    user: Teacher,
    tus_resumable: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    upload_offset: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    """tus PATCH: the bytes from Upload-Offset on."""
    return await tus_router.upload_bytes(
        request,
        upload_id,
        *_as_uploader(ctx, user),
        tus_resumable=tus_resumable,
        content_type=content_type,
        upload_offset=upload_offset,
        content_length=content_length,
    )


@router.delete(WEB_UPLOADS + "/{upload_id}")
async def terminate_upload(
    ctx: Ctx,
    upload_id: uuid.UUID,
    user: Teacher,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """tus termination: the unfinished upload and its video are deleted."""
    return await tus_router.terminate_upload(
        upload_id, *_as_uploader(ctx, user), tus_resumable=tus_resumable
    )
