"""user track: the bootcamp programme a learner follows (ApraNova's `track`)

Revision ID: 0005_user_track
Revises: 0004_practice_quizzes
Create Date: 2026-12-04 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_user_track"
down_revision: str | Sequence[str] | None = "0004_practice_quizzes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("track", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("track")
