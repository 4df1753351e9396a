"""Workspaces (one per student per course, or one personal) and each course's profile choice."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin, TimestampMixin

# The scope of a workspace with no course: the student's own (their track's) environment.
PERSONAL_SCOPE = "personal"


class WorkspaceStatus(enum.StrEnum):
    starting = "starting"
    running = "running"
    stopped = "stopped"
    failed = "failed"


class Workspace(IdMixin, TimestampMixin, Base):
    __tablename__ = "workspaces"
    __table_args__ = (
        UniqueConstraint("user_id", "scope"),
        Index("ix_workspaces_status_last_activity_at", "status", "last_activity_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    # "personal" or "course:<course id>": one workspace per student per scope.
    scope: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(64), default="default")
    status: Mapped[WorkspaceStatus] = mapped_column(
        Enum(WorkspaceStatus, native_enum=False, length=16), default=WorkspaceStatus.starting
    )
    backend: Mapped[str] = mapped_column(String(16))
    # The container id or process id the backend knows it by.
    backend_id: Mapped[str | None] = mapped_column(String(100))
    # Where the proxy reaches it (a loopback or internal address); never shown to users.
    endpoint: Mapped[str | None] = mapped_column(String(300))
    # The workspace's own secret, added by the proxy to every request it forwards.
    token: Mapped[str] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    # A start that has not finished by then is abandoned (another may begin).
    start_deadline_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class CourseWorkspaceProfile(Base):
    """The workspace profile a course's students get (the default when a course has none)."""

    __tablename__ = "course_workspace_profiles"

    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    profile: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
