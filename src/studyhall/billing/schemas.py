"""Request and response shapes of the wallet, the ledger and payments."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from studyhall.billing.models import Direction, EntryType, ReservationStatus
from studyhall.core.schemas import NOT_BLANK, InputSchema, Page, Schema, Trimmed, UTCTimestamp

Tokens = Annotated[int, Field(ge=1, le=10**12, description="Tokens (a positive whole number)")]
Text200 = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK), Trimmed
]
Text500 = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=NOT_BLANK), Trimmed
]


class WalletOut(Schema):
    """A wallet in tokens: available = balance - reserved; used_today counts since the last reset."""

    user_id: uuid.UUID
    balance: int
    reserved: int
    available: int
    tier: str
    daily_limit: int
    used_today: int
    resets_at: UTCTimestamp


class ReservationOut(Schema):
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID | None
    amount: int = Field(description="Tokens held")
    actual: int | None = Field(description="Tokens charged (finalized), 0 (released), else null")
    purpose: str
    status: ReservationStatus
    created_at: UTCTimestamp
    expires_at: UTCTimestamp
    resolved_at: UTCTimestamp | None


class TransactionOut(Schema):
    """One immutable ledger entry."""

    id: uuid.UUID
    user_id: uuid.UUID
    type: EntryType
    direction: Direction = Field(
        description="credit/debit: the balance rose/fell; hold: tokens moved between available "
        "and reserved (reservation_hold, release, expiry)"
    )
    amount: int = Field(description="Size of the movement (always ≥ 0)")
    balance_delta: int
    reserved_delta: int
    balance_after: int
    reserved_after: int
    reservation_id: uuid.UUID | None
    course_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    reason: str | None
    reference: str | None
    created_at: UTCTimestamp


class TransactionTotalsOut(Schema):
    """Totals of every entry matching the filters (not only this page)."""

    count: int
    credits: int = Field(description="Σ of balance increases")
    debits: int = Field(description="Σ of balance decreases")
    net: int = Field(description="credits - debits")


class TransactionPage(Page[TransactionOut]):
    totals: TransactionTotalsOut


class TopupIn(InputSchema):
    # Two ranges, so the schema itself says that 0 is refused.
    amount: Annotated[int, Field(ge=1, le=10**12)] | Annotated[int, Field(ge=-(10**12), le=-1)] = (
        Field(
            description="Tokens to credit (topup); a negative amount is an adjustment that "
            "debits available tokens (422 when more than available); never 0"
        )
    )
    reason: Text500
    reference: Text200 | None = None


class TopupOut(Schema):
    transaction_id: uuid.UUID
    new_balance: int


class WalletLimitsIn(InputSchema):
    """Omitted fields are unchanged; `daily_limit: null` goes back to the tier's limit."""

    tier: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    daily_limit: Annotated[int, Field(ge=0, le=10**12)] | None = None


class ExpenseIn(InputSchema):
    category: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK), Trimmed
    ] = Field(description="e.g. llm_api, servers")
    amount: int = Field(ge=1, le=10**12, description="In the currency's minor unit (cents)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
    description: Annotated[str, StringConstraints(max_length=1000), Trimmed] = ""


class ExpenseOut(Schema):
    id: uuid.UUID
    category: str
    amount: int
    currency: str
    description: str
    recorded_by: uuid.UUID | None
    created_at: UTCTimestamp


class ReserveIn(InputSchema):
    amount: Tokens
    purpose: Text200 = "manual"
    course_id: uuid.UUID | None = None
    ttl_s: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] | None = Field(
        default=None, description="Seconds before it expires (default: the configured TTL)"
    )


class FinalizeIn(InputSchema):
    actual: int = Field(
        ge=0,
        le=10**12,
        description="Tokens really used; more than the reserved amount is refused (422)",
    )


class CourseCapIn(InputSchema):
    daily_cap: Annotated[int, Field(ge=0, le=10**12)] | None = Field(
        description="Tokens a day for all the course's users together; null removes the cap"
    )


class CourseCapOut(Schema):
    course_id: uuid.UUID
    daily_cap: int | None
    used_today: int
    reserved: int
    resets_at: UTCTimestamp


class PackageOut(Schema):
    id: str
    tokens: int
    amount: int = Field(description="Price in the currency's minor unit (cents)")
    currency: str


class CheckoutIn(InputSchema):
    package_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CheckoutOut(Schema):
    client_secret: str
    publishable_key: str
    payment_id: str
    package: PackageOut


class WebhookOut(Schema):
    received: bool
    outcome: str


class BulkTopupIn(InputSchema):
    """Credit many wallets at once; give at least one of course_id, user_ids, emails, csv."""

    amount: Annotated[int, Field(ge=1, le=10**9)] | None = Field(
        default=None,
        description="Tokens for each wallet (a CSV row may give its own in a second column)",
    )
    reason: Text500
    reference: Text200 | None = None
    course_id: uuid.UUID | None = Field(
        default=None, description="Every student enrolled in this course"
    )
    user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)
    emails: list[Annotated[str, StringConstraints(max_length=320)]] = Field(
        default_factory=list, max_length=5000
    )
    csv: Annotated[str, StringConstraints(max_length=1_048_576)] | None = Field(
        default=None,
        description="CSV text: `email[,amount]` per line (comma or semicolon), header optional",
    )

    def topup_of(self, amount: int) -> TopupIn:
        """One wallet's top-up of `amount` (a row's own, or the request's), with this reason."""
        return TopupIn(amount=amount, reason=self.reason, reference=self.reference)


class BulkTopupRowOut(Schema):
    row: int = Field(description="Position among the request's targets (course, ids, emails, csv)")
    target: str = Field(description="The user id, email or course the row came from")
    user_id: uuid.UUID | None
    status: str = Field(description="credited, duplicate, not_found or invalid")
    amount: int | None
    transaction_id: uuid.UUID | None
    new_balance: int | None
    detail: str | None


class BulkTopupOut(Schema):
    rows: list[BulkTopupRowOut]
    credited: int = Field(description="Wallets credited (one ledger entry each)")
    failed: int = Field(description="Rows not_found or invalid")
    tokens: int = Field(description="Tokens credited in all")


class CourseBudgetIn(InputSchema):
    token_budget: Annotated[int, Field(ge=0, le=10**12)] | None = Field(
        description="Tokens the course may spend in all (its users' tutor answers together); "
        "null removes the budget"
    )


class CourseBudgetOut(Schema):
    course_id: uuid.UUID
    token_budget: int | None
    tokens_spent: int = Field(description="Tokens charged under the course, ever")
    tokens_held: int = Field(description="Tokens held by answers in progress")
    tokens_remaining: int | None = Field(description="budget - spent - held (null: no budget)")
