"""course token budgets: a course's total token budget next to its daily cap (either may be unset)

Revision ID: 0014_course_token_budgets
Revises: 0013_course_payments
Create Date: 2026-12-04 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_course_token_budgets"
down_revision: str | Sequence[str] | None = "0013_course_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("course_caps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_budget", sa.BigInteger(), nullable=True))
        batch_op.alter_column("daily_cap", existing_type=sa.BigInteger(), nullable=True)
        batch_op.create_check_constraint("token_budget_not_negative", "token_budget >= 0")


def downgrade() -> None:
    # A budget-only row has no daily cap to keep: it goes with the budget.
    op.execute("DELETE FROM course_caps WHERE daily_cap IS NULL")
    with op.batch_alter_table("course_caps", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_course_caps_token_budget_not_negative"), type_="check")
        batch_op.alter_column("daily_cap", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("token_budget")
