"""co-teachers: a course's assistants besides its owner

Revision ID: 0008_course_assistants
Revises: 0007_school_term
Create Date: 2026-12-04 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0008_course_assistants"
down_revision: str | Sequence[str] | None = "0007_school_term"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "course_assistants",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_by", sa.Uuid(), nullable=True),
        sa.Column("added_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_assistants_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_assistants")),
        sa.UniqueConstraint(
            "course_id", "user_id", name=op.f("uq_course_assistants_course_id_user_id")
        ),
    )
    with op.batch_alter_table("course_assistants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_assistants_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("course_assistants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_assistants_user_id"))
    op.drop_table("course_assistants")
