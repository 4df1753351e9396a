"""practice quizzes: the tests the tutor generates in a chat, stored so their attempts count

Revision ID: 0004_practice_quizzes
Revises: 0003_merge_domains
Create Date: 2026-11-25 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_practice_quizzes"
down_revision: str | Sequence[str] | None = "0003_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("practice_for", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_quizzes_practice_for"), ["practice_for"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quizzes_practice_for"))
        batch_op.drop_column("practice_for")
