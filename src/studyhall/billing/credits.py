"""Tokens credited and taken back: admin top-ups and adjustments, purchases, refunds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.billing import repository
from studyhall.billing.errors import AdjustmentTooLarge
from studyhall.billing.ledger import (
    MAX_AMOUNT,
    audit_wallet,
    check_amount,
    lock_wallet_row,
    post_entry,
    settings_or_default,
    wallet_view,
)
from studyhall.billing.models import EntryType, LedgerEntry, Wallet
from studyhall.billing.schemas import TopupIn, WalletOut
from studyhall.config import BillingSettings
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable


async def topup(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int | None = None,
    reason: str | None = None,
    actor_id: uuid.UUID | None,
    reference: str | None = None,
    settings: BillingSettings | None = None,
    request: TopupIn | None = None,
) -> tuple[LedgerEntry, WalletOut]:
    """Credit tokens (amount > 0: `topup`) or correct them (amount < 0: `adjustment`); audited.

    The amount, reason and reference come together in `request` (the API's `TopupIn`), or apart.
    A negative adjustment may take only available tokens (never held ones): 422 otherwise.
    """
    if request is not None:
        amount, reason, reference = request.amount, request.reason, request.reference
    if amount is None or reason is None:
        raise TypeError("topup takes a request, or an amount and a reason")
    cfg = settings_or_default(settings)
    if amount == 0 or abs(amount) > MAX_AMOUNT:
        raise Unprocessable(
            f"amount must be non-zero and at most {MAX_AMOUNT} in size", code="invalid_amount"
        )
    now = utcnow()
    wallet = await lock_wallet_row(session, user_id, cfg, now)
    if amount < 0 and -amount > wallet.balance - wallet.reserved:
        raise AdjustmentTooLarge(requested=-amount, available=wallet.balance - wallet.reserved)
    entry = await _Locked(wallet, now).post(
        session,
        EntryType.topup if amount > 0 else EntryType.adjustment,
        amount,
        actor_id=actor_id,
        reason=reason,
        reference=reference,
    )
    await audit_wallet(
        session,
        "billing.topup" if amount > 0 else "billing.adjustment",
        user_id,
        actor_id=actor_id,
        details={
            "amount": amount,
            "reason": reason,
            "reference": reference,
            "transaction_id": str(entry.id),
            "new_balance": wallet.balance,
        },
    )
    return entry, wallet_view(wallet, cfg, now)


@dataclass(frozen=True)
class ProviderMovement:
    """Tokens a payment provider's event moves on a user's wallet, at most once per
    `dedupe_key`; `reference` is the provider's payment id, `reason` the entries' text."""

    user_id: uuid.UUID
    tokens: int
    reference: str
    dedupe_key: str
    reason: str


@dataclass(frozen=True)
class _Locked:
    """A wallet locked for a credit or a debit, and the time it happens."""

    wallet: Wallet
    now: datetime

    async def post(
        self,
        session: AsyncSession,
        entry_type: EntryType,
        delta: int,
        *,
        actor_id: uuid.UUID | None = None,
        reason: str,
        reference: str | None,
        dedupe_key: str | None = None,
    ) -> LedgerEntry:
        """The ledger entry moving `delta` tokens of the balance, flushed (it has its id)."""
        entry = post_entry(
            session,
            self.wallet,
            entry_type=entry_type,
            balance_delta=delta,
            now=self.now,
            actor_id=actor_id,
            reason=reason,
            reference=reference,
            dedupe_key=dedupe_key,
        )
        await session.flush()
        return entry


async def _locked_once(
    session: AsyncSession, move: ProviderMovement, settings: BillingSettings | None
) -> _Locked | None:
    """The wallet, locked, for the movement; None when it happened already (its `dedupe_key`
    is looked up under the lock, so two deliveries of one provider event never both move
    tokens)."""
    cfg = settings_or_default(settings)
    check_amount(move.tokens, "tokens")
    now = utcnow()
    wallet = await lock_wallet_row(session, move.user_id, cfg, now)
    if await repository.entry_exists(session, move.dedupe_key):
        return None
    return _Locked(wallet, now)


async def credit_purchase(
    session: AsyncSession, move: ProviderMovement, *, settings: BillingSettings | None = None
) -> LedgerEntry | None:
    """Credit bought tokens exactly once per `dedupe_key`; None when it was already credited."""
    locked = await _locked_once(session, move, settings)
    if locked is None:
        return None
    entry = await locked.post(
        session,
        EntryType.purchase,
        move.tokens,
        reason=move.reason,
        reference=move.reference,
        dedupe_key=move.dedupe_key,
    )
    await audit_wallet(
        session,
        "billing.purchase",
        move.user_id,
        details={
            "tokens": move.tokens,
            "reference": move.reference,
            "transaction_id": str(entry.id),
        },
    )
    return entry


@dataclass(frozen=True)
class RefundDebit:
    """What a refund took: `debited` tokens, and `shortfall` it could not (already spent/held)."""

    requested: int
    debited: int
    shortfall: int
    entry: LedgerEntry | None


async def debit_refund(
    session: AsyncSession, move: ProviderMovement, *, settings: BillingSettings | None = None
) -> RefundDebit | None:
    """Take back refunded tokens, never below zero nor from held tokens; once per `dedupe_key`.

    Takes min(tokens, available); the rest is the shortfall (tokens already spent), reported in
    the result and the audit log. None when this refund was already processed.
    """
    locked = await _locked_once(session, move, settings)
    if locked is None:
        return None
    tokens = move.tokens
    debit = min(tokens, locked.wallet.balance - locked.wallet.reserved)
    entry = None
    if debit > 0:
        reason = (
            move.reason if debit == tokens else f"{move.reason} (shortfall {tokens - debit} tokens)"
        )
        entry = await locked.post(
            session,
            EntryType.refund,
            -debit,
            reason=reason,
            reference=move.reference,
            dedupe_key=move.dedupe_key,
        )
    await audit_wallet(
        session,
        "billing.refund",
        move.user_id,
        details={
            "reference": move.reference,
            "tokens": tokens,
            "debited": debit,
            "shortfall": tokens - debit,
            "transaction_id": str(entry.id) if entry else None,
        },
    )
    return RefundDebit(requested=tokens, debited=debit, shortfall=tokens - debit, entry=entry)
