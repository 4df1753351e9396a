"""Courses, modules, lessons, enrollments, lesson progress and video watch events."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin, TimestampMixin


class Visibility(enum.StrEnum):
    """Who may join: anyone, anyone with the join code, or only those the teacher adds."""

    public = "public"
    invite = "invite"
    private = "private"


class QuizGrading(enum.StrEnum):
    """Which attempt of a quiz counts in the gradebook."""

    best = "best"
    last = "last"


class Course(IdMixin, TimestampMixin, Base):
    __tablename__ = "courses"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Markdown teaching guide the tutor follows.
    guide: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(16), default="en", index=True)
    level: Mapped[str | None] = mapped_column(String(64), index=True)
    # A catalog grouping such as `programming` (free text; stored lower-case).
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    # Soft link to identity's users (no cross-domain foreign key).
    teacher_id: Mapped[uuid.UUID] = mapped_column(index=True)
    is_published: Mapped[bool] = mapped_column(default=False, index=True)
    price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    image_url: Mapped[str | None] = mapped_column(String(500))
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=16),
        default=Visibility.public,
        server_default=Visibility.public.value,
    )
    # Needed to self-enroll in an `invite` course; the owner can rotate it.
    join_code: Mapped[str | None] = mapped_column(String(16))
    quiz_grading: Mapped[QuizGrading] = mapped_column(
        Enum(QuizGrading, native_enum=False, length=16),
        default=QuizGrading.best,
        server_default=QuizGrading.best.value,
    )


class CourseAssistant(IdMixin, Base):
    """A co-teacher of a course besides its owner: grades, sees analytics, roster and grades."""

    __tablename__ = "course_assistants"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    # Soft link to identity's users (no cross-domain foreign key).
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    added_by: Mapped[uuid.UUID | None]
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Module(IdMixin, TimestampMixin, Base):
    __tablename__ = "course_modules"
    __table_args__ = (Index("ix_course_modules_course_position", "course_id", "position"),)

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # Dense, 0-based within the course; kept dense by the service on insert, move and delete.
    position: Mapped[int] = mapped_column(default=0)


class Lesson(IdMixin, TimestampMixin, Base):
    __tablename__ = "lessons"
    __table_args__ = (
        Index("ix_lessons_course_module_position", "course_id", "module_id", "position"),
    )

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    module_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("course_modules.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text, default="")
    video_url: Mapped[str | None] = mapped_column(String(500))
    video_provider: Mapped[str | None] = mapped_column(String(32))
    duration_s: Mapped[int | None]
    # Dense, 0-based within (course, module); lessons without a module form their own sequence.
    position: Mapped[int] = mapped_column(default=0)


class Enrollment(IdMixin, Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("course_id", "student_id"),)

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    student_id: Mapped[uuid.UUID] = mapped_column(index=True)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Touched by progress, quiz attempts, submissions and tutor use: "active" means recent activity.
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LessonProgress(IdMixin, Base):
    """One row per (student, lesson): the student's current state of that lesson."""

    __tablename__ = "lesson_progress"
    __table_args__ = (
        UniqueConstraint("lesson_id", "student_id"),
        # Covers the per-student "lessons completed" counts (an index-only scan).
        Index("ix_lesson_progress_course_student", "course_id", "student_id", "completed"),
    )

    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    student_id: Mapped[uuid.UUID]
    completed: Mapped[bool] = mapped_column(default=False)
    completed_at: Mapped[datetime | None]
    # Last reported playback position and the largest cumulative seconds watched reported.
    video_position_s: Mapped[float] = mapped_column(default=0.0)
    video_watched_s: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VideoWatchEvent(IdMixin, Base):
    """Every video report a student's player sends: the raw material of video analytics."""

    __tablename__ = "video_watch_events"
    __table_args__ = (Index("ix_video_watch_events_lesson_student", "lesson_id", "student_id"),)

    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[uuid.UUID]
    position_s: Mapped[float] = mapped_column(default=0.0)
    watched_s: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
