"""course categories: a course's catalog category (free text, stored lower-case), indexed

Revision ID: 0015_course_categories
Revises: 0014_course_token_budgets
Create Date: 2026-12-04 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_course_categories"
down_revision: str | Sequence[str] | None = "0014_course_token_budgets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_courses_category"), ["category"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courses_category"))
        batch_op.drop_column("category")
