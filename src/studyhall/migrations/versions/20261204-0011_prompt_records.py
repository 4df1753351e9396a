"""prompt records: prompts a client stores with its models' responses (document 002's prompts)

Revision ID: 0011_prompt_records
Revises: 0010_workspaces
Create Date: 2026-12-04 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0011_prompt_records"
down_revision: str | Sequence[str] | None = "0010_workspaces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_prompt_records",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=False),
        sa.Column("llm_responses", sa.JSON(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_prompt_records_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_prompt_records")),
    )
    with op.batch_alter_table("chat_prompt_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_prompt_records_session_created", ["session_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_prompt_records_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_prompt_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_prompt_records_user_id"))
        batch_op.drop_index("ix_chat_prompt_records_session_created")
    op.drop_table("chat_prompt_records")
