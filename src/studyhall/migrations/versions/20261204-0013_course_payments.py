"""course payments: a payment may buy a seat in a paid course (payments.course_id)

Revision ID: 0013_course_payments
Revises: 0012_user_names
Create Date: 2026-12-04 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_course_payments"
down_revision: str | Sequence[str] | None = "0012_user_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("course_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_payments_course_id"), ["course_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_course_id"))
        batch_op.drop_column("course_id")
