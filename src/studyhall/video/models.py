"""Lesson videos (with their tus upload state) and each student's watching of them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin, TimestampMixin


class VideoStatus(enum.StrEnum):
    uploading = "uploading"
    ready = "ready"
    failed = "failed"


class VideoHostName(enum.StrEnum):
    local = "local"
    vimeo = "vimeo"


class VideoPrivacy(enum.StrEnum):
    # Everyone who may read the course (its enrolled students, teacher and admins).
    course = "course"
    # Only the course's teacher and admins (a draft, a recording not yet cut).
    staff = "staff"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=16)


class Video(IdMixin, TimestampMixin, Base):
    """A lesson video of a course, hosted by StudyHall (tus upload, Range playback) or Vimeo."""

    __tablename__ = "videos"

    course_id: Mapped[uuid.UUID] = mapped_column(index=True)
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    owner_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    privacy: Mapped[VideoPrivacy] = mapped_column(
        _enum(VideoPrivacy, "videoprivacy"), default=VideoPrivacy.course
    )
    host: Mapped[VideoHostName] = mapped_column(_enum(VideoHostName, "videohost"))
    status: Mapped[VideoStatus] = mapped_column(
        _enum(VideoStatus, "videostatus"), default=VideoStatus.uploading, index=True
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # tus state of a local upload: bytes stored so far, the client's Upload-Metadata, expiry.
    upload_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_metadata: Mapped[str | None] = mapped_column(String(2000))
    upload_expires_at: Mapped[datetime | None]
    # Which PATCH holds the upload, until when (concurrent PATCHes wait for it, across replicas).
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None]
    storage_key: Mapped[str | None] = mapped_column(String(300))
    content_type: Mapped[str | None] = mapped_column(String(100))
    # The remote host's id and tus upload link (Vimeo).
    remote_id: Mapped[str | None] = mapped_column(String(100))
    upload_link: Mapped[str | None] = mapped_column(String(1000))
    duration_s: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(String(500))
    ready_at: Mapped[datetime | None]


class VideoWatch(IdMixin, Base):
    """One student's watching of one video, folded from the player's heartbeats."""

    __tablename__ = "video_watches"
    __table_args__ = (UniqueConstraint("video_id", "student_id"),)

    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[uuid.UUID] = mapped_column(index=True)
    position_s: Mapped[float] = mapped_column(default=0.0)
    furthest_s: Mapped[float] = mapped_column(default=0.0)
    watched_s: Mapped[float] = mapped_column(default=0.0)
    views: Mapped[int] = mapped_column(default=0)
    completed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
