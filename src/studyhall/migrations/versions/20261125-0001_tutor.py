"""tutor: chat sessions, messages, in-chat tests, versioned system prompts

Revision ID: 0002_tutor
Revises: 0001_foundation
Create Date: 2026-11-25 15:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0002_tutor"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("tutor",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_active_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
    )
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_sessions_course_active", ["course_id", "last_active_at"], unique=False
        )
        batch_op.create_index(
            "ix_chat_sessions_user_active", ["user_id", "last_active_at"], unique=False
        )

    op.create_table(
        "tutor_system_prompts",
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_system_prompts")),
        sa.UniqueConstraint(
            "scope_key", "version", name=op.f("uq_tutor_system_prompts_scope_key_version")
        ),
    )
    with op.batch_alter_table("tutor_system_prompts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tutor_system_prompts_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            "uq_tutor_system_prompts_active",
            ["scope_key"],
            unique=True,
            sqlite_where=sa.text("is_active"),
            postgresql_where=sa.text("is_active"),
        )

    op.create_table(
        "chat_messages",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column(
            "role",
            sa.Enum("user", "assistant", name="messagerole", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("charged_tokens", sa.Integer(), nullable=True),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("hint_level", sa.Integer(), nullable=True),
        sa.Column("system_prompt_id", sa.Uuid(), nullable=True),
        sa.Column("system_prompt_version", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("finish_reason", sa.String(length=32), nullable=True),
        sa.Column("grounded", sa.Boolean(), nullable=True),
        sa.Column("leak_regenerations", sa.Integer(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_messages_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_messages_course_created", ["course_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_chat_messages_session_created", ["session_id", "created_at"], unique=False
        )

    op.create_table(
        "chat_quizzes",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("quiz_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("current_index", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "finished",
                "abandoned",
                name="chatquizstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("pass_percent", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("max_score", sa.Double(), nullable=True),
        sa.Column("percent", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("attempt_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_quizzes_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_quizzes")),
    )
    with op.batch_alter_table("chat_quizzes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_quizzes_course_finished", ["course_id", "finished_at"], unique=False
        )
        batch_op.create_index(
            "ix_chat_quizzes_session_status", ["session_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_quizzes", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_quizzes_session_status")
        batch_op.drop_index("ix_chat_quizzes_course_finished")

    op.drop_table("chat_quizzes")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_messages_session_created")
        batch_op.drop_index("ix_chat_messages_course_created")

    op.drop_table("chat_messages")
    with op.batch_alter_table("tutor_system_prompts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tutor_system_prompts_active",
            sqlite_where=sa.text("is_active"),
            postgresql_where=sa.text("is_active"),
        )
        batch_op.drop_index(batch_op.f("ix_tutor_system_prompts_course_id"))

    op.drop_table("tutor_system_prompts")
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_sessions_user_active")
        batch_op.drop_index("ix_chat_sessions_course_active")

    op.drop_table("chat_sessions")
