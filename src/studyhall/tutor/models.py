"""Chat sessions, their messages, in-chat tests and the admins' versioned system prompts."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin


class MessageRole(enum.StrEnum):
    user = "user"
    assistant = "assistant"


class ChatSession(IdMixin, Base):
    """A conversation of one user, in a course or (course_id None) over the shared library."""

    __tablename__ = "chat_sessions"
    __table_args__ = (
        Index("ix_chat_sessions_user_active", "user_id", "last_active_at"),
        Index("ix_chat_sessions_course_active", "course_id", "last_active_at"),
    )

    # Soft links to identity's users and courses' courses.
    user_id: Mapped[uuid.UUID]
    course_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(String(200))
    # Kept with every stored message so lists need no count query.
    message_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_active_at: Mapped[datetime] = mapped_column(default=utcnow)


class _OfChatSession:
    """A row of a chat session: it goes with the session, and carries the session's user and
    course (copied, so per-course and per-user figures need no join)."""

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID]
    course_id: Mapped[uuid.UUID | None]


class Message(IdMixin, _OfChatSession, Base):
    """One message; an assistant message carries its sources, usage and how it was produced."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_session_created", "session_id", "created_at"),
        Index("ix_chat_messages_course_created", "course_id", "created_at"),
    )

    role: Mapped[MessageRole] = mapped_column(Enum(MessageRole, native_enum=False, length=16))
    # Always plain text: never rendered or executed by the server.
    content: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    # What the wallet was charged for this answer (may be less than the usage: capped by the hold).
    charged_tokens: Mapped[int | None]
    reservation_id: Mapped[uuid.UUID | None]
    hint_level: Mapped[int | None]
    system_prompt_id: Mapped[uuid.UUID | None]
    system_prompt_version: Mapped[int | None]
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    # stop | length | interrupted (client left) | refused (quiz answer withheld) | quiz
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    # False: no relevant source was found for the answer (a course figure).
    grounded: Mapped[bool | None]
    # Replies regenerated because they gave away a quiz answer.
    leak_regenerations: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromptRecord(IdMixin, Base):
    """A prompt a client sent in a session, with the model responses it keeps beside it.

    Written by the client (documents whose front-end talks to several models and stores what they
    answered); the tutor's own answers are `Message`s.
    """

    __tablename__ = "chat_prompt_records"
    __table_args__ = (Index("ix_chat_prompt_records_session_created", "session_id", "created_at"),)

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    # Copied from the session: the owner check needs no join.
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    prompt_text: Mapped[str] = mapped_column(Text)
    llm_responses: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatQuizStatus(enum.StrEnum):
    active = "active"
    finished = "finished"
    abandoned = "abandoned"


class ChatQuiz(IdMixin, _OfChatSession, Base):
    """A test taken inside a chat, one question at a time (an existing quiz or a generated one)."""

    __tablename__ = "chat_quizzes"
    __table_args__ = (
        Index("ix_chat_quizzes_session_status", "session_id", "status"),
        Index("ix_chat_quizzes_course_finished", "course_id", "finished_at"),
    )

    # The assessments quiz (soft link) or None for a test generated from the material.
    quiz_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(String(200))
    # Questions with their keys and cited passages; never sent to the client with the keys.
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    answers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    results: Mapped[list[bool]] = mapped_column(JSON, default=list)
    current_index: Mapped[int] = mapped_column(default=0)
    status: Mapped[ChatQuizStatus] = mapped_column(
        Enum(ChatQuizStatus, native_enum=False, length=16), default=ChatQuizStatus.active
    )
    pass_percent: Mapped[float] = mapped_column(default=60.0)
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    percent: Mapped[float | None]
    passed: Mapped[bool | None]
    # The assessments attempt that recorded the result (existing quizzes).
    attempt_id: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class SystemPrompt(IdMixin, Base):
    """A version of the tutor's system prompt for one scope: global, or one course."""

    __tablename__ = "tutor_system_prompts"
    __table_args__ = (
        UniqueConstraint("scope_key", "version"),
        # One active version per scope, even under concurrent activations.
        Index(
            "uq_tutor_system_prompts_active",
            "scope_key",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    # "global" or the course id as text: one key so the uniqueness rules work with NULLs.
    scope_key: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Immutable: a change is a new version, so a message's version names the exact text used.
    content: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def scope(self) -> Literal["global", "course"]:
        """Whose prompt this is: every course's ("global") or one course's."""
        return "global" if self.course_id is None else "course"
