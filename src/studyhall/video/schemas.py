"""Request and response shapes of the video API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from studyhall.core.schemas import InputSchema, Schema, UTCTimestamp
from studyhall.video.models import VideoHostName, VideoPrivacy, VideoStatus

_Title = Annotated[str, Field(min_length=1, max_length=200)]
_Description = Annotated[str, Field(max_length=5000)]


class VideoCreate(InputSchema):
    title: _Title
    description: _Description = ""
    size_bytes: int = Field(gt=0, description="The file's exact size (the upload's length)")
    lesson_id: uuid.UUID | None = Field(
        default=None, description="A lesson of the course to attach the video to"
    )
    privacy: VideoPrivacy = VideoPrivacy.course


class VideoUpdate(InputSchema):
    title: _Title | None = None
    description: _Description | None = None
    privacy: VideoPrivacy | None = None


class LessonVideoIn(InputSchema):
    video_id: uuid.UUID


class HeartbeatIn(InputSchema):
    position_s: float = Field(ge=0, le=1_000_000, description="The player's current position")


class DropOffPoint(Schema):
    at_s: float = Field(description="Start of a tenth of the video")
    viewers: int = Field(description="Viewers who stopped (without completing) in this tenth")


class VideoFiguresOut(Schema):
    views: int
    unique_viewers: int
    completions: int
    completion_rate: float = Field(description="Percent of unique viewers who completed it")
    average_watch_time_s: float
    drop_off_points: list[DropOffPoint]


class VideoOut(Schema):
    id: uuid.UUID
    course_id: uuid.UUID
    lesson_id: uuid.UUID | None
    title: str
    description: str
    privacy: VideoPrivacy
    host: VideoHostName
    status: VideoStatus
    size_bytes: int
    uploaded_bytes: int
    duration_s: float | None
    error: str | None
    stream_url: str | None = Field(description="Range-capable playback URL (local host, ready)")
    player_url: str | None = Field(description="The remote host's page of the video (Vimeo)")
    created_at: UTCTimestamp
    ready_at: UTCTimestamp | None
    figures: VideoFiguresOut | None = Field(
        default=None, description="Watch figures (the course's teacher and admins only)"
    )


class VideoUploadOut(Schema):
    video_id: uuid.UUID
    upload_link: str = Field(description="tus 1.0 upload URL: PATCH the bytes there")
    expires_at: UTCTimestamp | None
    video: VideoOut


class WatchOut(Schema):
    video_id: uuid.UUID
    position_s: float
    furthest_s: float
    watched_s: float
    views: int
    completed: bool
