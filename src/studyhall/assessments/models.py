"""Quizzes, questions, attempts, assignments and submissions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin, TimestampMixin


def _unique_where(name: str, *columns: str, where: str) -> Index:
    """A partial unique index: `columns` are unique among the rows where `where` holds (the
    same predicate on both databases)."""
    return Index(
        name, *columns, unique=True, sqlite_where=text(where), postgresql_where=text(where)
    )


class QuestionKind(enum.StrEnum):
    single = "single"
    multiple = "multiple"
    true_false = "true_false"
    short = "short"


class AttemptStatus(enum.StrEnum):
    started = "started"
    submitted = "submitted"
    expired = "expired"


class Quiz(IdMixin, TimestampMixin, Base):
    __tablename__ = "quizzes"

    # Soft links to the courses domain (no cross-domain foreign key).
    course_id: Mapped[uuid.UUID] = mapped_column(index=True)
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    pass_percent: Mapped[float] = mapped_column(default=60.0)
    time_limit_s: Mapped[int | None]
    max_attempts: Mapped[int | None]
    # Kept up to date whenever the questions change, so lists need not sum them.
    question_count: Mapped[int] = mapped_column(default=0)
    max_score: Mapped[float] = mapped_column(default=0.0)
    # Share of the gradebook's weighted total (relative to the course's other columns).
    weight: Mapped[float] = mapped_column(default=1.0, server_default="1")
    # Set on a practice test the tutor generated in a chat for this student: it holds the test's
    # questions so that its result is a real attempt analytics counts, but it is none of the
    # course's quizzes (not listed, not reachable by id, no secret answers).
    practice_for: Mapped[uuid.UUID | None] = mapped_column(index=True)


class Question(IdMixin, Base):
    __tablename__ = "quiz_questions"
    __table_args__ = (Index("ix_quiz_questions_quiz_position", "quiz_id", "position"),)

    quiz_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    prompt: Mapped[str] = mapped_column(Text)
    kind: Mapped[QuestionKind] = mapped_column(Enum(QuestionKind, native_enum=False, length=16))
    options: Mapped[list[str] | None] = mapped_column(JSON)
    # Normalised key: option index (single), sorted indexes (multiple), bool (true_false),
    # accepted strings (short).
    answer: Mapped[Any] = mapped_column(JSON)
    explanation: Mapped[str | None] = mapped_column(Text)
    points: Mapped[float] = mapped_column(default=1.0)


class QuizAttempt(IdMixin, Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        Index("ix_quiz_attempts_quiz_student", "quiz_id", "student_id"),
        # Covers the analytics aggregates (attempt counts and mean percent per student).
        Index("ix_quiz_attempts_course_student", "course_id", "student_id", "status", "percent"),
        # At most one open attempt per student and quiz, even under concurrent starts.
        _unique_where("uq_quiz_attempts_open", "quiz_id", "student_id", where="status = 'started'"),
    )

    quiz_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    course_id: Mapped[uuid.UUID]
    student_id: Mapped[uuid.UUID]
    status: Mapped[AttemptStatus] = mapped_column(
        Enum(AttemptStatus, native_enum=False, length=16), default=AttemptStatus.started
    )
    # Where the attempt came from: "api" or "tutor" (the in-chat test).
    source: Mapped[str] = mapped_column(String(16), default="api")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    # What the client says it spent (recorded, never trusted) and what the server measured.
    time_spent_s: Mapped[float | None]
    elapsed_s: Mapped[float | None]
    answers: Mapped[list[Any] | None] = mapped_column(JSON)
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    percent: Mapped[float | None]
    passed: Mapped[bool | None]


class Assignment(IdMixin, TimestampMixin, Base):
    __tablename__ = "assignments"

    course_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None]
    max_score: Mapped[float] = mapped_column(default=100.0)
    weight: Mapped[float] = mapped_column(default=1.0, server_default="1")


class Submission(IdMixin, Base):
    """One version of a student's work; the newest is flagged current, older ones are history."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("assignment_id", "student_id", "version"),
        Index("ix_submissions_assignment_current", "assignment_id", "is_current"),
        _unique_where("uq_submissions_current", "assignment_id", "student_id", where="is_current"),
    )

    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE")
    )
    course_id: Mapped[uuid.UUID] = mapped_column(index=True)
    student_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(default=1)
    is_current: Mapped[bool] = mapped_column(default=True)
    content: Mapped[str] = mapped_column(Text, default="")
    file_key: Mapped[str | None] = mapped_column(String(300))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None]
    file_type: Mapped[str | None] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    late: Mapped[bool] = mapped_column(default=False)
    score: Mapped[float | None]
    feedback: Mapped[str | None] = mapped_column(Text)
    graded_at: Mapped[datetime | None]
    graded_by: Mapped[uuid.UUID | None]
