"""merge domain branches

Revision ID: 0003_merge_domains
Revises: 0002_billing, 0002_courses, 0002_knowledge, 0002_tutor
Create Date: 2026-11-25 16:31:24.709827
"""

from collections.abc import Sequence

revision: str = "0003_merge_domains"
down_revision: str | Sequence[str] | None = (
    "0002_billing",
    "0002_courses",
    "0002_knowledge",
    "0002_tutor",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
