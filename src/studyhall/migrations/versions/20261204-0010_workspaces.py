"""workspaces: one per student per scope (course or personal), each course's profile

Revision ID: 0010_workspaces
Revises: 0009_videos
Create Date: 2026-12-04 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0010_workspaces"
down_revision: str | Sequence[str] | None = "0009_videos"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "starting",
                "running",
                "stopped",
                "failed",
                name="workspacestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("backend_id", sa.String(length=100), nullable=True),
        sa.Column("endpoint", sa.String(length=300), nullable=True),
        sa.Column("token", sa.String(length=100), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("start_deadline_at", studyhall.core.models.UTCDateTime(), nullable=True),
        sa.Column("started_at", studyhall.core.models.UTCDateTime(), nullable=True),
        sa.Column("stopped_at", studyhall.core.models.UTCDateTime(), nullable=True),
        sa.Column("last_activity_at", studyhall.core.models.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_workspaces_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_workspaces_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("user_id", "scope", name=op.f("uq_workspaces_user_id_scope")),
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspaces_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workspaces_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "ix_workspaces_status_last_activity_at", ["status", "last_activity_at"], unique=False
        )
    op.create_table(
        "course_workspace_profiles",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_workspace_profiles_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_course_workspace_profiles")),
    )


def downgrade() -> None:
    op.drop_table("course_workspace_profiles")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_index("ix_workspaces_status_last_activity_at")
        batch_op.drop_index(batch_op.f("ix_workspaces_user_id"))
        batch_op.drop_index(batch_op.f("ix_workspaces_course_id"))
    op.drop_table("workspaces")
