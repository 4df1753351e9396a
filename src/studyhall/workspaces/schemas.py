"""Workspace request and response shapes (the token and the internal address never leave)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from studyhall.core.schemas import InputSchema, Schema, UTCTimestamp
from studyhall.workspaces.models import WorkspaceStatus


class WorkspaceStart(InputSchema):
    # The course's workspace (enrolled students, its teacher, admins); none: one's own.
    course_id: uuid.UUID | None = None


class WorkspaceOut(Schema):
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID | None
    scope: str
    profile: str
    status: WorkspaceStatus
    backend: str
    # Where the browser opens it: StudyHall's authenticating proxy.
    url: str
    error: str | None
    started_at: UTCTimestamp | None
    stopped_at: UTCTimestamp | None
    last_activity_at: UTCTimestamp
    created_at: UTCTimestamp


class CourseWorkspaceProfileIn(InputSchema):
    profile: str = Field(min_length=1, max_length=64)


class CourseWorkspaceProfileOut(BaseModel):
    profile: str
    # The profiles the operator configured.
    choices: list[str]
