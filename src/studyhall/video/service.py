"""The video domain's rules: create, read, change and delete videos, fold watch heartbeats
into per-student and per-video figures, and keep lesson progress in step."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record_on
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.courses.models import Course, Lesson
from studyhall.courses.schemas import LessonUpdate, ProgressUpdate
from studyhall.identity.models import User
from studyhall.jobs.files import delete_files_later
from studyhall.video import repository
from studyhall.video.errors import NotStreamedHere, VideoNotFound, VideoNotReady, VideoTooLarge
from studyhall.video.hosts import host_for
from studyhall.video.media import read_duration, read_media_type
from studyhall.video.models import Video, VideoHostName, VideoPrivacy, VideoStatus, VideoWatch
from studyhall.video.schemas import (
    DropOffPoint,
    HeartbeatIn,
    VideoCreate,
    VideoFiguresOut,
    VideoOut,
    VideoUpdate,
    VideoUploadOut,
    WatchOut,
)

DELETE_BYTES_KIND = "video.delete_bytes"
# Position steps up to this long between two heartbeats count as watched (a player reports every
# few seconds); a longer jump is a seek and counts nothing.
MAX_WATCH_STEP_S = 30.0
# A heartbeat after this long without one starts a new view.
VIEW_GAP = timedelta(minutes=30)


# ---------------------------------------------------------------- access


async def course_of(session: AsyncSession, video: Video) -> Course | None:
    """The video's course, if it still exists."""
    return await courses.find_course(session, video.course_id)


async def readable_video(session: AsyncSession, *, user: User, video_id: uuid.UUID) -> Video:
    """A video the caller may watch: its course's readers (staff-only videos: managers)."""
    video = await repository.get(session, video_id)
    course = await course_of(session, video) if video else None
    if video is None or course is None or not await courses.sees(session, user=user, course=course):
        raise VideoNotFound()
    if not await courses.reads(session, user=user, course=course):
        raise VideoNotFound()
    if video.privacy == VideoPrivacy.staff and not await courses.teaches(
        session, user=user, course=course
    ):
        raise VideoNotFound()
    return video


async def managed(session: AsyncSession, *, user: User, video: Video) -> bool:
    """Whether the caller may change the video: its course's owner or an admin."""
    course = await course_of(session, video)
    return course is not None and courses.manages(user, course)


async def taught(session: AsyncSession, *, user: User, video: Video) -> bool:
    """Whether the caller teaches the video's course (owner, assistant, admin): figures."""
    return await courses.teaches_course(session, user=user, course_id=video.course_id)


# ---------------------------------------------------------------- shapes


def _urls(settings: Settings, video: Video) -> tuple[str | None, str | None]:
    if video.host == VideoHostName.vimeo:
        return None, f"https://vimeo.com/{video.remote_id}" if video.remote_id else None
    if video.status != VideoStatus.ready:
        return None, None
    return f"{settings.public_url.rstrip('/')}/api/v1/videos/{video.id}/stream", None


def stream_url(settings: Settings, video: Video) -> str:
    """The URL a lesson points at for this video."""
    stream, player = _urls(settings, video)
    if video.host == VideoHostName.vimeo:
        return player or f"https://vimeo.com/{video.remote_id}"
    return stream or f"{settings.public_url.rstrip('/')}/api/v1/videos/{video.id}/stream"


def video_out(settings: Settings, video: Video, figures: VideoFiguresOut | None = None) -> VideoOut:
    """The API shape of a video."""
    stream, player = _urls(settings, video)
    return VideoOut(
        id=video.id,
        course_id=video.course_id,
        lesson_id=video.lesson_id,
        title=video.title,
        description=video.description,
        privacy=video.privacy,
        host=video.host,
        status=video.status,
        size_bytes=video.size_bytes,
        uploaded_bytes=video.size_bytes
        if video.status == VideoStatus.ready
        else video.upload_offset,
        duration_s=video.duration_s,
        error=video.error,
        stream_url=stream,
        player_url=player,
        created_at=video.created_at,
        ready_at=video.ready_at,
        figures=figures,
    )


# ---------------------------------------------------------------- lifecycle


async def _lesson_of_course(session: AsyncSession, course: Course, lesson_id: uuid.UUID) -> Lesson:
    if not await courses.lesson_in_course(session, lesson_id=lesson_id, course_id=course.id):
        raise VideoNotFound("Lesson not found in this course")
    lesson = await courses.find_lesson(session, lesson_id)
    if lesson is None:
        raise VideoNotFound("Lesson not found in this course")
    return lesson


async def new_video(
    session: AsyncSession,
    settings: Settings,
    storage: LocalStorage,
    *,
    actor: User,
    course: Course,
    data: VideoCreate,
    host: VideoHostName | None = None,
    raw_metadata: str | None = None,
) -> Video:
    """Create a video and its upload on the configured host (or the one given)."""
    if data.size_bytes > settings.video.max_bytes:
        raise VideoTooLarge(settings.video.max_bytes)
    if data.lesson_id is not None:
        await _lesson_of_course(session, course, data.lesson_id)
    now = utcnow()
    video = Video(
        course_id=course.id,
        lesson_id=data.lesson_id,
        owner_id=actor.id,
        title=data.title,
        description=data.description,
        privacy=data.privacy,
        host=host or VideoHostName(settings.video.host),
        status=VideoStatus.uploading,
        size_bytes=data.size_bytes,
        upload_offset=0,
        upload_metadata=raw_metadata,
        upload_expires_at=now + timedelta(seconds=settings.video.upload_ttl_s),
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, video)
    await host_for(video.host, settings, storage).create(video)
    await session.flush()
    await _audit(session, "video.created", actor=actor, video=video)
    return video


async def _audit(session: AsyncSession, action: str, *, actor: User, video: Video) -> None:
    """The audit row of a video's creation or deletion: its course and host with it."""
    details = {"course_id": str(video.course_id), "host": video.host.value}
    await record_on(session, actor, "video", video, action, details)


async def finish_local_upload(
    session: AsyncSession, storage: LocalStorage, *, video_id: uuid.UUID
) -> Video:
    """The last byte arrived: read the duration, mark the video ready, update its lesson."""
    video = await repository.get(session, video_id)
    if video is None:
        raise VideoNotFound()
    if video.status == VideoStatus.ready:
        return video
    assert video.storage_key is not None
    path = storage.local_path(video.storage_key)
    duration = await read_duration(path)
    video.content_type = await read_media_type(path)
    video.status = VideoStatus.ready
    video.upload_offset = video.size_bytes
    video.duration_s = duration
    video.ready_at = utcnow()
    video.upload_expires_at = None
    await session.flush()
    await _sync_lesson(session, video)
    return video


async def _sync_lesson(session: AsyncSession, video: Video) -> None:
    """A lesson that plays this video gets its duration once the video knows it."""
    if video.lesson_id is None or video.duration_s is None:
        return
    lesson = await courses.find_lesson(session, video.lesson_id)
    if lesson is not None and lesson.video_provider in ("studyhall", "vimeo"):
        await courses.update_lesson(
            session,
            lesson=lesson,
            data=LessonUpdate(duration_s=min(round(video.duration_s), 100_000)),
        )


async def refresh_remote(
    session: AsyncSession, settings: Settings, storage: LocalStorage, *, video: Video
) -> Video:
    """Ask a remote host how an uploading video is doing."""
    if video.host == VideoHostName.local or video.status != VideoStatus.uploading:
        return video
    state = await host_for(video.host, settings, storage).refresh(video)
    if state is None or state.status == VideoStatus.uploading:
        return video
    video.status = state.status
    video.error = state.error
    if state.status == VideoStatus.ready:
        video.duration_s = state.duration_s
        video.ready_at = utcnow()
        video.upload_offset = video.size_bytes
    await session.flush()
    await _sync_lesson(session, video)
    return video


async def get_video(
    session: AsyncSession,
    settings: Settings,
    storage: LocalStorage,
    *,
    user: User,
    video: Video,
) -> VideoOut:
    """A video, with figures for its course's managers."""
    video = await refresh_remote(session, settings, storage, video=video)
    figures = None
    if await taught(session, user=user, video=video):
        figures = (await _figures(session, [video]))[video.id]
    return video_out(settings, video, figures)


async def list_videos(
    session: AsyncSession,
    settings: Settings,
    *,
    user: User,
    course: Course,
    limit: int,
    offset: int,
) -> tuple[list[VideoOut], int]:
    """A course's videos with their status; figures for its managers."""
    staff = await courses.teaches(session, user=user, course=course)
    videos, total = await repository.list_for_course(
        session, course.id, staff=staff, limit=limit, offset=offset
    )
    figures = await _figures(session, videos) if staff else {}
    return [video_out(settings, v, figures.get(v.id)) for v in videos], total


async def update_video(
    session: AsyncSession,
    settings: Settings,
    storage: LocalStorage,
    *,
    actor: User,
    video: Video,
    data: VideoUpdate,
) -> VideoOut:
    """Change title, description or privacy, here and on the host."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for name, value in changes.items():
        setattr(video, name, value)
    video.updated_at = utcnow()
    await session.flush()
    if changes:
        await host_for(video.host, settings, storage).update(video)
    return await get_video(session, settings, storage, user=actor, video=video)


async def remove(
    session: AsyncSession,
    settings: Settings,
    storage: LocalStorage,
    *,
    actor: User,
    video: Video,
) -> None:
    """Delete a video: the remote copy now, local bytes by a job once this commits."""
    await host_for(video.host, settings, storage).delete(video)
    await _detach_lesson(session, video)
    key = video.storage_key
    await repository.delete(session, video)
    await delete_files_later(session, kind=DELETE_BYTES_KIND, keys=[key] if key else [])
    await _audit(session, "video.deleted", actor=actor, video=video)


async def _detach_lesson(session: AsyncSession, video: Video) -> None:
    if video.lesson_id is None:
        return
    lesson = await courses.find_lesson(session, video.lesson_id)
    if (
        lesson is not None
        and lesson.video_url is not None
        and lesson.video_url.endswith(stream_url_for_lesson(video))
    ):
        await courses.update_lesson(
            session, lesson=lesson, data=LessonUpdate(video_url=None, video_provider=None)
        )


def stream_url_for_lesson(video: Video) -> str:
    """The marker a lesson holds for an attached video (settings-free, so it survives a change
    of PUBLIC_URL): the API path of its stream, or its Vimeo page."""
    if video.host == VideoHostName.vimeo:
        return f"https://vimeo.com/{video.remote_id}"
    return f"/api/v1/videos/{video.id}/stream"


async def lesson_video(session: AsyncSession, *, lesson: Lesson) -> Video | None:
    """The video of this domain a lesson plays (the attached one its `video_url` points at)."""
    if lesson.video_url is None:
        return None
    for video in await repository.for_lesson(session, lesson.id):
        if lesson.video_url.endswith(stream_url_for_lesson(video)):
            return video
    return None


async def attach(
    session: AsyncSession, settings: Settings, *, actor: User, lesson: Lesson, video_id: uuid.UUID
) -> VideoOut:
    """Make a video of the lesson's course the lesson's video."""
    video = await repository.get(session, video_id)
    if video is None or video.course_id != lesson.course_id:
        raise VideoNotFound()
    for other in await repository.for_lesson(session, lesson.id):
        if other.id != video.id:
            other.lesson_id = None
    video.lesson_id = lesson.id
    url = stream_url(settings, video)
    await courses.update_lesson(
        session,
        lesson=lesson,
        data=LessonUpdate(
            video_url=url,
            video_provider="studyhall" if video.host == VideoHostName.local else "vimeo",
            duration_s=None if video.duration_s is None else min(round(video.duration_s), 100_000),
        ),
    )
    await session.flush()
    return video_out(settings, video)


# ---------------------------------------------------------------- playback


def playable_path(storage: LocalStorage, video: Video) -> tuple[str, str]:
    """The file and media type to stream; 409 when the video is not ready or not local."""
    if video.host != VideoHostName.local:
        raise NotStreamedHere()
    if video.status != VideoStatus.ready or video.storage_key is None:
        raise VideoNotReady()
    # Videos finished before their media type was recorded were all MP4 uploads.
    return str(storage.local_path(video.storage_key)), video.content_type or "video/mp4"


# ---------------------------------------------------------------- watching


async def heartbeat(
    session: AsyncSession, *, student: User, video: Video, data: HeartbeatIn
) -> WatchOut:
    """Fold one player report into the student's watch row; the lesson's progress follows."""
    if video.status != VideoStatus.ready:
        raise VideoNotReady()
    now = utcnow()
    duration = video.duration_s
    position = min(data.position_s, duration) if duration else data.position_s
    watch = await repository.get_watch(session, video_id=video.id, student_id=student.id)
    if watch is None:
        watch = VideoWatch(
            video_id=video.id,
            student_id=student.id,
            position_s=position,
            furthest_s=position,
            watched_s=0.0,
            views=1,
            completed=False,
            created_at=now,
            last_heartbeat_at=now,
        )
        await repository.add_watch(session, watch)
    else:
        if now - watch.last_heartbeat_at > VIEW_GAP:
            watch.views += 1
        else:
            step = position - watch.position_s
            if 0 < step <= MAX_WATCH_STEP_S:
                watch.watched_s += step
        watch.position_s = position
        watch.furthest_s = max(watch.furthest_s, position)
        watch.last_heartbeat_at = now
    if duration and position >= courses.VIDEO_COMPLETION_RATIO * duration:
        watch.completed = True
    await session.flush()
    await _follow_lesson(session, student=student, video=video, watch=watch)
    return WatchOut.model_validate(watch)


async def _follow_lesson(
    session: AsyncSession, *, student: User, video: Video, watch: VideoWatch
) -> None:
    if video.lesson_id is None:
        return
    lesson = await courses.find_lesson(session, video.lesson_id)
    if lesson is None or lesson.video_url is None:
        return
    if not lesson.video_url.endswith(stream_url_for_lesson(video)):
        return  # the lesson plays another video now
    await courses.update_progress(
        session,
        student=student,
        lesson=lesson,
        data=ProgressUpdate(video_position_s=watch.position_s, video_watched_s=watch.watched_s),
    )


async def _figures(session: AsyncSession, videos: list[Video]) -> dict[uuid.UUID, VideoFiguresOut]:
    raw = await repository.figures(session, [v.id for v in videos])
    out: dict[uuid.UUID, VideoFiguresOut] = {}
    for video in videos:
        f = raw[video.id]
        drop = await _drop_off(session, video) if f.unique_viewers else []
        out[video.id] = VideoFiguresOut(
            views=f.views,
            unique_viewers=f.unique_viewers,
            completions=f.completions,
            completion_rate=round(100.0 * f.completions / f.unique_viewers, 2)
            if f.unique_viewers
            else 0.0,
            average_watch_time_s=round(f.average_watch_time_s, 2),
            drop_off_points=drop,
        )
    return out


async def _drop_off(session: AsyncSession, video: Video) -> list[DropOffPoint]:
    """Where viewers who did not finish stopped, per tenth of the video (busiest first)."""
    if not video.duration_s:
        return []
    tenth = video.duration_s / 10
    counts: dict[int, int] = {}
    for position in await repository.stop_positions(session, video.id):
        bucket = min(int(position // tenth), 9)
        counts[bucket] = counts.get(bucket, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [DropOffPoint(at_s=round(b * tenth, 2), viewers=n) for b, n in ranked]


async def analytics(session: AsyncSession, *, video: Video) -> VideoFiguresOut:
    """A video's watch figures."""
    return (await _figures(session, [video]))[video.id]


async def totals(session: AsyncSession) -> repository.Totals:
    """Platform video figures: videos, seconds watched, the most viewed video (admin stats)."""
    return await repository.totals(session)


# ---------------------------------------------------------------- expiry and clean-up
# The reactions to deletions below are registered by `studyhall.wiring`.


async def expire_uploads(session: AsyncSession, *, limit: int) -> int:
    """Fail unfinished local uploads past their expiry and free their bytes (by a job)."""
    videos = await repository.expired_uploads(session, now=utcnow(), limit=limit)
    keys = [v.storage_key for v in videos if v.storage_key]
    for video in videos:
        video.status = VideoStatus.failed
        video.error = "The upload expired before it was finished"
        video.storage_key = None
    await delete_files_later(session, kind=DELETE_BYTES_KIND, keys=keys)
    await session.flush()
    return len(videos)


async def delete_course_videos(session: AsyncSession, *, course_id: uuid.UUID) -> None:
    """A deleted course's videos go with it (local bytes by a job; Vimeo copies stay there:
    the remote call needs the host's token, which a course deletion does not wait on)."""
    videos = await repository.for_course(session, course_id)
    keys = [v.storage_key for v in videos if v.storage_key]
    for video in videos:
        await repository.delete(session, video)
    await delete_files_later(session, kind=DELETE_BYTES_KIND, keys=keys)


async def detach_lesson_videos(session: AsyncSession, *, lesson_id: uuid.UUID) -> None:
    """Videos of a deleted lesson stay in the course, attached to nothing."""
    for video in await repository.for_lesson(session, lesson_id):
        video.lesson_id = None


async def forget_viewer(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """A deleted account's watching goes (personal data); figures shrink accordingly."""
    await repository.delete_watches_of(session, user_id)


async def create_upload(
    session: AsyncSession,
    settings: Settings,
    storage: LocalStorage,
    *,
    actor: User,
    course: Course,
    data: VideoCreate,
) -> VideoUploadOut:
    """Create a video on the configured host; the client uploads to the returned tus link."""
    video = await new_video(session, settings, storage, actor=actor, course=course, data=data)
    assert video.upload_link is not None
    return VideoUploadOut(
        video_id=video.id,
        upload_link=video.upload_link,
        expires_at=video.upload_expires_at,
        video=video_out(settings, video),
    )
