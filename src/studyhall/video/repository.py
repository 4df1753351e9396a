"""All SQL of the video domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.pagination import paginate
from studyhall.video.models import Video, VideoHostName, VideoPrivacy, VideoStatus, VideoWatch


async def add(session: AsyncSession, video: Video) -> None:
    """Insert a video."""
    session.add(video)
    await session.flush()


async def get(session: AsyncSession, video_id: uuid.UUID) -> Video | None:
    """A video by id."""
    return await session.get(Video, video_id, populate_existing=True)


async def list_for_course(
    session: AsyncSession, course_id: uuid.UUID, *, staff: bool, limit: int, offset: int
) -> tuple[list[Video], int]:
    """A course's videos, newest first; students see only the course-wide ready ones."""
    where = [Video.course_id == course_id]
    if not staff:
        where += [Video.status == VideoStatus.ready, Video.privacy == VideoPrivacy.course]
    return await paginate(
        session,
        select(Video).where(*where),
        order_by=[Video.created_at.desc(), Video.id.desc()],
        limit=limit,
        offset=offset,
    )


async def for_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> list[Video]:
    """The videos attached to a lesson."""
    return list(await session.scalars(select(Video).where(Video.lesson_id == lesson_id)))


async def for_course(session: AsyncSession, course_id: uuid.UUID) -> list[Video]:
    """Every video of a course."""
    return list(await session.scalars(select(Video).where(Video.course_id == course_id)))


async def delete(session: AsyncSession, video: Video) -> None:
    """Remove a video (its watches go with it)."""
    await session.execute(sql_delete(VideoWatch).where(VideoWatch.video_id == video.id))
    await session.delete(video)
    await session.flush()


async def take_lease(
    session: AsyncSession,
    video_id: uuid.UUID,
    *,
    offset: int,
    token: str,
    now: datetime,
    until: datetime,
) -> bool:
    """Claim an uploading video for one PATCH at `offset` if no live lease holds it."""
    result = await session.execute(
        update(Video)
        .where(
            Video.id == video_id,
            Video.status == VideoStatus.uploading,
            Video.upload_offset == offset,
            or_(Video.lease_until.is_(None), Video.lease_until < now),
        )
        .values(lease_token=token, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def renew_lease(
    session: AsyncSession, video_id: uuid.UUID, *, token: str, until: datetime
) -> bool:
    """Extend a lease this PATCH still holds."""
    result = await session.execute(
        update(Video)
        .where(Video.id == video_id, Video.lease_token == token)
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_lease(
    session: AsyncSession, video_id: uuid.UUID, *, token: str, offset: int | None
) -> bool:
    """Give the upload back, recording the new offset when bytes were stored."""
    values: dict[str, object] = {"lease_token": None, "lease_until": None}
    if offset is not None:
        values["upload_offset"] = offset
    result = await session.execute(
        update(Video)
        .where(Video.id == video_id, Video.lease_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def expired_uploads(session: AsyncSession, *, now: datetime, limit: int) -> list[Video]:
    """Local uploads past their expiry that no PATCH holds, oldest first, locked."""
    query = (
        select(Video)
        .where(
            Video.host == VideoHostName.local,
            Video.status == VideoStatus.uploading,
            Video.upload_expires_at < now,
            or_(Video.lease_until.is_(None), Video.lease_until < now),
        )
        .order_by(Video.upload_expires_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(await session.scalars(query))


async def get_watch(
    session: AsyncSession, *, video_id: uuid.UUID, student_id: uuid.UUID
) -> VideoWatch | None:
    """A student's watch row of a video, locked for the update that follows."""
    query = select(VideoWatch).where(
        VideoWatch.video_id == video_id, VideoWatch.student_id == student_id
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


async def add_watch(session: AsyncSession, watch: VideoWatch) -> None:
    """Insert a watch row."""
    session.add(watch)
    await session.flush()


async def delete_watches_of(session: AsyncSession, student_id: uuid.UUID) -> None:
    """Forget a student's watching (account deletion)."""
    await session.execute(sql_delete(VideoWatch).where(VideoWatch.student_id == student_id))


@dataclass(frozen=True)
class Figures:
    views: int
    unique_viewers: int
    completions: int
    average_watch_time_s: float


async def figures(session: AsyncSession, video_ids: list[uuid.UUID]) -> dict[uuid.UUID, Figures]:
    """Views, viewers, completions and average seconds watched per video."""
    if not video_ids:
        return {}
    rows = await session.execute(
        select(
            VideoWatch.video_id,
            func.coalesce(func.sum(VideoWatch.views), 0),
            func.count(),
            func.coalesce(func.sum(case((VideoWatch.completed.is_(True), 1), else_=0)), 0),
            func.coalesce(func.avg(VideoWatch.watched_s), 0.0),
        )
        .where(VideoWatch.video_id.in_(video_ids))
        .group_by(VideoWatch.video_id)
    )
    found = {r[0]: Figures(int(r[1]), int(r[2]), int(r[3]), float(r[4] or 0.0)) for r in rows.all()}
    empty = Figures(0, 0, 0, 0.0)
    return {video_id: found.get(video_id, empty) for video_id in video_ids}


@dataclass(frozen=True)
class Totals:
    videos: int
    watched_s: float
    most_watched: tuple[uuid.UUID, str, int] | None


async def totals(session: AsyncSession) -> Totals:
    """Videos, seconds watched, and the video with most views (id, title, views)."""
    videos = await session.scalar(select(func.count()).select_from(Video))
    watched = await session.scalar(select(func.coalesce(func.sum(VideoWatch.watched_s), 0.0)))
    views = func.sum(VideoWatch.views)
    top = (
        await session.execute(
            select(Video.id, Video.title, views)
            .join(VideoWatch, VideoWatch.video_id == Video.id)
            .group_by(Video.id, Video.title)
            .order_by(views.desc(), Video.id)
            .limit(1)
        )
    ).first()
    most = (top[0], str(top[1]), int(top[2])) if top is not None else None
    return Totals(int(videos or 0), float(watched or 0.0), most)


async def stop_positions(session: AsyncSession, video_id: uuid.UUID) -> list[float]:
    """Where each viewer who has not completed the video last was."""
    rows = await session.scalars(
        select(VideoWatch.position_s).where(
            VideoWatch.video_id == video_id, VideoWatch.completed.is_(False)
        )
    )
    return [float(r) for r in rows]
