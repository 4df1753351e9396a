"""Wallets, the token ledger, reservations, course caps, payments, expenses.

Idempotency keys are core's (`studyhall.core.idempotency`): the tutor uses them too.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    Index,
    String,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin


class EntryType(enum.StrEnum):
    topup = "topup"
    purchase = "purchase"
    reservation_hold = "reservation_hold"
    usage = "usage"
    release = "release"
    refund = "refund"
    adjustment = "adjustment"
    expiry = "expiry"


class Direction(enum.StrEnum):
    """Effect of an entry on the balance: credit (+), debit (-), hold (moves available↔reserved)."""

    credit = "credit"
    debit = "debit"
    hold = "hold"


class ReservationStatus(enum.StrEnum):
    reserved = "reserved"
    finalized = "finalized"
    released = "released"
    expired = "expired"


class PaymentStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    refunded = "refunded"
    partially_refunded = "partially_refunded"


class Wallet(Base):
    """One per user, created lazily. balance/reserved cache the ledger sums under the row lock."""

    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= balance", name="reserved_within_balance"),
    )

    # Soft link to users.id: a deleted user's anonymised ledger stays.
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(String(32))
    # None: the tier's daily limit applies.
    daily_limit: Mapped[int | None] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    used_today: Mapped[int] = mapped_column(BigInteger, default=0)
    # Start of the daily-limit window that used_today counts; older means a new day began.
    usage_window_start: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerEntry(IdMixin, Base):
    """An immutable movement: balance = Σ balance_delta, reserved = Σ reserved_delta."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_user_created", "user_id", "created_at"),
        Index("ix_ledger_entries_type_created", "type", "created_at"),
        Index("ix_ledger_entries_course_created", "course_id", "created_at"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    user_id: Mapped[uuid.UUID]
    type: Mapped[EntryType] = mapped_column(Enum(EntryType, native_enum=False, length=32))
    direction: Mapped[Direction] = mapped_column(
        Enum(Direction, native_enum=False, length=16), index=True
    )
    # Magnitude of the movement; the signed effects are in the two deltas.
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_delta: Mapped[int] = mapped_column(BigInteger)
    reserved_delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reserved_after: Mapped[int] = mapped_column(BigInteger)
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    course_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(200))
    # Makes external credits/debits (a payment, a refund, the signup bonus) happen once.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(LedgerEntry, "before_update")
def _ledger_is_append_only(*_args: Any) -> None:
    raise RuntimeError("ledger entries are immutable")


@event.listens_for(LedgerEntry, "before_delete")
def _ledger_is_never_deleted(*_args: Any) -> None:
    raise RuntimeError("ledger entries are immutable")


class Reservation(IdMixin, Base):
    """Tokens held for an operation whose cost is known only afterwards."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_user_status", "user_id", "status"),
        Index("ix_reservations_status_expires", "status", "expires_at"),
        Index("ix_reservations_course_status", "course_id", "status"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    user_id: Mapped[uuid.UUID]
    course_id: Mapped[uuid.UUID | None]
    amount: Mapped[int] = mapped_column(BigInteger)
    # What was charged on finalize (≤ amount); None until then.
    actual: Mapped[int | None] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    status: Mapped[ReservationStatus] = mapped_column(
        Enum(ReservationStatus, native_enum=False, length=16), default=ReservationStatus.reserved
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class CourseCap(Base):
    """A course's daily token cap across all its students (set by staff)."""

    __tablename__ = "course_caps"
    __table_args__ = (CheckConstraint("daily_cap >= 0", name="daily_cap_not_negative"),)

    # Soft link to courses.id.
    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    daily_cap: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Payment(IdMixin, Base):
    """A token package or a course seat bought through the payment provider (one PaymentIntent).

    A course payment has `course_id` set (a soft link to courses), `package_id` "course" and no
    tokens; its success enrolls the payer, its full refund ends the enrollment.
    """

    __tablename__ = "payments"

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    provider: Mapped[str] = mapped_column(String(32), default="stripe")
    provider_payment_id: Mapped[str] = mapped_column(String(200), unique=True)
    package_id: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    tokens: Mapped[int] = mapped_column(BigInteger)
    # Money in the currency's minor unit (cents), as the provider reports it.
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[PaymentStatus] = mapped_column(
        Enum(PaymentStatus, native_enum=False, length=24), default=PaymentStatus.pending
    )
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Tokens the refunds called for; debited = refunded_tokens - refund_shortfall.
    refunded_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_shortfall: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Expense(IdMixin, Base):
    """A platform cost (LLM API, servers) entered by an admin."""

    __tablename__ = "expenses"

    category: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(1000))
    recorded_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
