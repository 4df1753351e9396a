"""billing: wallets, ledger, reservations, course caps, payments, expenses, idempotency keys

Revision ID: 0002_billing
Revises: 0001_foundation
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0002_billing"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("billing",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "course_caps",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("daily_cap", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("daily_cap >= 0", name=op.f("ck_course_caps_daily_cap_not_negative")),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_course_caps")),
    )
    op.create_table(
        "expenses",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expenses")),
    )
    with op.batch_alter_table("expenses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expenses_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_expenses_created_at"), ["created_at"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_json", sa.JSON(), nullable=True),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "user_id", "route", "key", name=op.f("uq_idempotency_keys_user_id_route_key")
        ),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "ledger_entries",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "topup",
                "purchase",
                "reservation_hold",
                "usage",
                "release",
                "refund",
                "adjustment",
                "expiry",
                name="entrytype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "direction",
            sa.Enum("credit", "debit", "hold", name="direction", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_delta", sa.BigInteger(), nullable=False),
        sa.Column("reserved_delta", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reserved_after", sa.BigInteger(), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_ledger_entries_amount_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_ledger_entries_dedupe_key")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_course_created", ["course_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_direction"), ["direction"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_reservation_id"), ["reservation_id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_type_created", ["type", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_user_created", ["user_id", "created_at"], unique=False
        )
    op.create_table(
        "payments",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=200), nullable=False),
        sa.Column("package_id", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "succeeded",
                "refunded",
                "partially_refunded",
                name="paymentstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("refunded_tokens", sa.BigInteger(), nullable=False),
        sa.Column("refund_shortfall", sa.BigInteger(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider_payment_id", name=op.f("uq_payments_provider_payment_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_user_id"), ["user_id"], unique=False)
    op.create_table(
        "reservations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("actual", sa.BigInteger(), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "reserved",
                "finalized",
                "released",
                "expired",
                name="reservationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_reservations_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reservations_course_status", ["course_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_reservations_status_expires", ["status", "expires_at"], unique=False
        )
        batch_op.create_index("ix_reservations_user_status", ["user_id", "status"], unique=False)
    op.create_table(
        "wallets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("daily_limit", sa.BigInteger(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("used_today", sa.BigInteger(), nullable=False),
        sa.Column(
            "usage_window_start", studyhall.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_wallets_balance_not_negative")),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= balance", name=op.f("ck_wallets_reserved_within_balance")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_wallets")),
    )


def downgrade() -> None:
    op.drop_table("wallets")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_user_status")
        batch_op.drop_index("ix_reservations_status_expires")
        batch_op.drop_index("ix_reservations_course_status")
    op.drop_table("reservations")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_user_id"))
    op.drop_table("payments")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_user_created")
        batch_op.drop_index("ix_ledger_entries_type_created")
        batch_op.drop_index(batch_op.f("ix_ledger_entries_reservation_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_direction"))
        batch_op.drop_index("ix_ledger_entries_course_created")
    op.drop_table("ledger_entries")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("expenses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expenses_created_at"))
        batch_op.drop_index(batch_op.f("ix_expenses_category"))
    op.drop_table("expenses")
    op.drop_table("course_caps")
