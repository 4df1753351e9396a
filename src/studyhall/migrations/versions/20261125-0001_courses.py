"""courses: courses, modules, lessons, enrollments, progress, video events, quizzes, attempts, assignments, submissions

Revision ID: 0002_courses
Revises: 0001_foundation
Create Date: 2026-11-25 15:03:23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0002_courses"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("courses",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("max_score", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_course_id"), ["course_id"], unique=False)

    op.create_table(
        "courses",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("guide", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=True),
        sa.Column("teacher_id", sa.Uuid(), nullable=False),
        sa.Column("is_published", sa.Boolean(), nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("code", name=op.f("uq_courses_code")),
    )
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courses_is_published"), ["is_published"], unique=False)
        batch_op.create_index(batch_op.f("ix_courses_language"), ["language"], unique=False)
        batch_op.create_index(batch_op.f("ix_courses_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_courses_teacher_id"), ["teacher_id"], unique=False)

    op.create_table(
        "quizzes",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("pass_percent", sa.Double(), nullable=False),
        sa.Column("time_limit_s", sa.Integer(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("question_count", sa.Integer(), nullable=False),
        sa.Column("max_score", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quizzes")),
    )
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quizzes_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quizzes_lesson_id"), ["lesson_id"], unique=False)

    op.create_table(
        "course_modules",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_modules_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_modules")),
    )
    with op.batch_alter_table("course_modules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_modules_course_position", ["course_id", "position"], unique=False
        )

    op.create_table(
        "enrollments",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_activity_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_enrollments_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint(
            "course_id", "student_id", name=op.f("uq_enrollments_course_id_student_id")
        ),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrollments_last_activity_at"), ["last_activity_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_enrollments_student_id"), ["student_id"], unique=False)

    op.create_table(
        "quiz_attempts",
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "started",
                "submitted",
                "expired",
                name="attemptstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("started_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("time_spent_s", sa.Double(), nullable=True),
        sa.Column("elapsed_s", sa.Double(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("max_score", sa.Double(), nullable=True),
        sa.Column("percent", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_quiz_attempts_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_attempts")),
    )
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quiz_attempts_course_student",
            ["course_id", "student_id", "status", "percent"],
            unique=False,
        )
        batch_op.create_index(
            "ix_quiz_attempts_quiz_student", ["quiz_id", "student_id"], unique=False
        )
        batch_op.create_index(
            "uq_quiz_attempts_open",
            ["quiz_id", "student_id"],
            unique=True,
            sqlite_where=sa.text("status = 'started'"),
            postgresql_where=sa.text("status = 'started'"),
        )

    op.create_table(
        "quiz_questions",
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "single",
                "multiple",
                "true_false",
                "short",
                name="questionkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("points", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_quiz_questions_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_questions")),
    )
    with op.batch_alter_table("quiz_questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quiz_questions_quiz_position", ["quiz_id", "position"], unique=False
        )

    op.create_table(
        "submissions",
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("file_key", sa.String(length=300), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("file_type", sa.String(length=100), nullable=True),
        sa.Column("submitted_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("graded_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("graded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_submissions_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint(
            "assignment_id",
            "student_id",
            "version",
            name=op.f("uq_submissions_assignment_id_student_id_version"),
        ),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_submissions_assignment_current", ["assignment_id", "is_current"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_submissions_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_submissions_student_id"), ["student_id"], unique=False)
        batch_op.create_index(
            "uq_submissions_current",
            ["assignment_id", "student_id"],
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )

    op.create_table(
        "lessons",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("module_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("video_url", sa.String(length=500), nullable=True),
        sa.Column("video_provider", sa.String(length=32), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_lessons_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["module_id"],
            ["course_modules.id"],
            name=op.f("fk_lessons_module_id_course_modules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lessons")),
    )
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lessons_course_module_position",
            ["course_id", "module_id", "position"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_lessons_module_id"), ["module_id"], unique=False)

    op.create_table(
        "lesson_progress",
        sa.Column("lesson_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("completed_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("video_position_s", sa.Double(), nullable=False),
        sa.Column("video_watched_s", sa.Double(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_lesson_progress_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_lesson_progress_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_progress")),
        sa.UniqueConstraint(
            "lesson_id", "student_id", name=op.f("uq_lesson_progress_lesson_id_student_id")
        ),
    )
    with op.batch_alter_table("lesson_progress", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lesson_progress_course_student",
            ["course_id", "student_id", "completed"],
            unique=False,
        )

    op.create_table(
        "video_watch_events",
        sa.Column("lesson_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("position_s", sa.Double(), nullable=False),
        sa.Column("watched_s", sa.Double(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_video_watch_events_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_video_watch_events_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_watch_events")),
    )
    with op.batch_alter_table("video_watch_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_video_watch_events_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            "ix_video_watch_events_lesson_student", ["lesson_id", "student_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("video_watch_events", schema=None) as batch_op:
        batch_op.drop_index("ix_video_watch_events_lesson_student")
        batch_op.drop_index(batch_op.f("ix_video_watch_events_course_id"))

    op.drop_table("video_watch_events")
    with op.batch_alter_table("lesson_progress", schema=None) as batch_op:
        batch_op.drop_index("ix_lesson_progress_course_student")

    op.drop_table("lesson_progress")
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lessons_module_id"))
        batch_op.drop_index("ix_lessons_course_module_position")

    op.drop_table("lessons")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_submissions_current",
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )
        batch_op.drop_index(batch_op.f("ix_submissions_student_id"))
        batch_op.drop_index(batch_op.f("ix_submissions_course_id"))
        batch_op.drop_index("ix_submissions_assignment_current")

    op.drop_table("submissions")
    with op.batch_alter_table("quiz_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_quiz_questions_quiz_position")

    op.drop_table("quiz_questions")
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_quiz_attempts_open",
            sqlite_where=sa.text("status = 'started'"),
            postgresql_where=sa.text("status = 'started'"),
        )
        batch_op.drop_index("ix_quiz_attempts_quiz_student")
        batch_op.drop_index("ix_quiz_attempts_course_student")

    op.drop_table("quiz_attempts")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollments_student_id"))
        batch_op.drop_index(batch_op.f("ix_enrollments_last_activity_at"))

    op.drop_table("enrollments")
    with op.batch_alter_table("course_modules", schema=None) as batch_op:
        batch_op.drop_index("ix_course_modules_course_position")

    op.drop_table("course_modules")
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quizzes_lesson_id"))
        batch_op.drop_index(batch_op.f("ix_quizzes_course_id"))

    op.drop_table("quizzes")
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courses_teacher_id"))
        batch_op.drop_index(batch_op.f("ix_courses_level"))
        batch_op.drop_index(batch_op.f("ix_courses_language"))
        batch_op.drop_index(batch_op.f("ix_courses_is_published"))

    op.drop_table("courses")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_course_id"))

    op.drop_table("assignments")
