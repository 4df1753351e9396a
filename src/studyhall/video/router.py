"""The video API: uploads for a course, metadata, lessons' videos, playback and watch figures."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import FileResponse

from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, error_response, errors
from studyhall.core.pagination import PageParams, page_of
from studyhall.core.schemas import Page
from studyhall.courses.dependencies import OwnedCourse, OwnedLesson, ReadableCourse
from studyhall.identity.dependencies import CurrentUser, SettingsDep
from studyhall.video import service
from studyhall.video.dependencies import (
    OwnedVideo,
    ReadableVideo,
    StorageDep,
    StudentVideo,
    TaughtVideo,
)
from studyhall.video.schemas import (
    HeartbeatIn,
    LessonVideoIn,
    VideoCreate,
    VideoFiguresOut,
    VideoOut,
    VideoUpdate,
    VideoUploadOut,
    WatchOut,
)

router = APIRouter(tags=["videos"], route_class=DocumentedRoute)


class VideoFileResponse(FileResponse):
    """Starlette's file response (Range, multipart ranges, 416, If-Range) reading 1 MiB at a
    time: its 64 KiB default costs a thread hop and an ASGI message per 64 KiB of video."""

    chunk_size = 1024 * 1024


_HOST_ERRORS = errors(502, 503)
# What a stream is served as (studyhall.video.media reads it from the file's first bytes).
_VIDEO_TYPES = ("video/mp4", "video/webm", "video/x-matroska", "video/quicktime", "video/ogg")


@router.post(
    "/courses/{course_id}/videos",
    status_code=status.HTTP_201_CREATED,
    responses={**errors(413), **_HOST_ERRORS},
)
async def create_video(
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: CurrentUser,
    course: OwnedCourse,
    data: VideoCreate,
) -> VideoUploadOut:
    """Create a video of the course (optionally of one of its lessons) and its resumable
    upload: send the file's bytes to `upload_link` with any tus 1.0 client (PATCH, resuming
    from HEAD's `Upload-Offset`) before `expires_at`. With the local host that link is
    StudyHall's own tus endpoint (same credentials); with Vimeo it is Vimeo's."""
    return await service.create_upload(
        session, settings, storage, actor=user, course=course, data=data
    )


@router.get("/courses/{course_id}/videos")
async def list_videos(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    course: ReadableCourse,
    page: PageParams,
) -> Page[VideoOut]:
    """A course's videos with their status (`uploading`, `ready`, `failed`); its teacher and
    admins see every video with its watch figures, students the ready course-wide ones."""
    items, total = await service.list_videos(
        session, settings, user=user, course=course, limit=page.limit, offset=page.offset
    )
    return page_of(items, total, page)


@router.get("/videos/{video_id}", responses=_HOST_ERRORS)
async def get_video(
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: CurrentUser,
    video: ReadableVideo,
) -> VideoOut:
    """A video (a Vimeo upload's state is asked from Vimeo while it is uploading)."""
    return await service.get_video(session, settings, storage, user=user, video=video)


@router.patch("/videos/{video_id}", responses=_HOST_ERRORS)
async def update_video(
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: CurrentUser,
    video: OwnedVideo,
    data: VideoUpdate,
) -> VideoOut:
    """Change a video's title, description or privacy (`course`: its readers; `staff`: its
    teacher and admins), here and on its host."""
    return await service.update_video(
        session, settings, storage, actor=user, video=video, data=data
    )


@router.delete("/videos/{video_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_HOST_ERRORS)
async def delete_video(
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: CurrentUser,
    video: OwnedVideo,
) -> None:
    """Delete a video: its stored bytes (or the Vimeo video) and its watch figures."""
    await service.remove(session, settings, storage, actor=user, video=video)


@router.put("/lessons/{lesson_id}/video")
async def attach_video(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    lesson: OwnedLesson,
    data: LessonVideoIn,
) -> VideoOut:
    """Make a video of the lesson's course the lesson's video: the lesson's `video_url` plays
    it, its duration becomes the lesson's, and students' watching moves their progress."""
    return await service.attach(
        session, settings, actor=user, lesson=lesson, video_id=data.video_id
    )


@router.get(
    "/videos/{video_id}/stream",
    response_class=VideoFileResponse,
    responses={
        200: {
            "content": {t: {} for t in _VIDEO_TYPES},
            "description": "The whole file, as the media type its signature shows",
        },
        206: {
            "content": {**{t: {} for t in _VIDEO_TYPES}, "multipart/byteranges": {}},
            "description": "The ranges asked for with `Range` (several as multipart/byteranges)"
            "; `If-Range` with a stale ETag or date gets the whole file instead",
        },
        409: error_response(409, "Not ready yet, or played from its remote host"),
        416: {"description": "No range asked for lies inside the file (`Content-Range: */size`)"},
    },
)
async def stream_video(storage: StorageDep, video: ReadableVideo) -> VideoFileResponse:
    """Play a video stored by StudyHall, with HTTP Range requests (seeking), for anyone who
    may see its lesson."""
    path, media_type = service.playable_path(storage, video)
    return VideoFileResponse(path, media_type=media_type, content_disposition_type="inline")


@router.post(
    "/videos/{video_id}/heartbeats",
    responses={409: error_response(409, "The video is not ready to play")},
)
async def heartbeat(
    session: SessionDep, user: CurrentUser, video: StudentVideo, data: HeartbeatIn
) -> WatchOut:
    """Report the player's position every few seconds: steps forward of up to 30 s count as
    watched, positions are clamped to the video's duration, reaching 90% completes it, and the
    lesson that plays it records the same progress."""
    return await service.heartbeat(session, student=user, video=video, data=data)


@router.get("/videos/{video_id}/analytics")
async def video_analytics(session: SessionDep, video: TaughtVideo) -> VideoFiguresOut:
    """Views, unique viewers, completion rate, average watch time and drop-off points."""
    return await service.analytics(session, video=video)
