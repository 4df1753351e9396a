"""school term: course visibility and join codes, quiz grading policy, gradebook weights

Revision ID: 0007_school_term
Revises: 0006_oauth
Create Date: 2026-12-04 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_school_term"
down_revision: str | Sequence[str] | None = "0006_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "visibility",
                sa.Enum(
                    "public",
                    "invite",
                    "private",
                    name="coursevisibility",
                    native_enum=False,
                    length=16,
                ),
                nullable=False,
                server_default="public",
            )
        )
        batch_op.add_column(sa.Column("join_code", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "quiz_grading",
                sa.Enum("best", "last", name="quizgrading", native_enum=False, length=16),
                nullable=False,
                server_default="best",
            )
        )
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weight", sa.Double(), nullable=False, server_default="1"))
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weight", sa.Double(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("weight")
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.drop_column("weight")
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_column("quiz_grading")
        batch_op.drop_column("join_code")
        batch_op.drop_column("visibility")
