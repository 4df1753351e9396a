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
from studyhall.billing.schemas import WalletOut
from studyhall.config import BillingSettings
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable


async def topup(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    reason: str,
    actor_id: uuid.UUID | None,
    reference: str | None = None,
    settings: BillingSettings | None = None,
) -> tuple[LedgerEntry, WalletOut]:
    """Credit tokens (amount > 0: `topup`) or correct them (amount < 0: `adjustment`); audited.

    A negative adjustment may take only available tokens (never held ones): 422 otherwise.
    """
    cfg = settings_or_default(settings)
    if amount == 0 or abs(amount) > MAX_AMOUNT:
        raise Unprocessable(
            f"amount must be non-zero and at most {MAX_AMOUNT} in size", code="invalid_amount"
        )
    now = utcnow()
    wallet = await lock_wallet_row(session, user_id, cfg, now)
    if amount < 0 and -amount > wallet.balance - wallet.reserved:
        raise AdjustmentTooLarge(requested=-amount, available=wallet.balance - wallet.reserved)
    entry = post_entry(
        session,
        wallet,
        entry_type=EntryType.topup if amount > 0 else EntryType.adjustment,
        balance_delta=amount,
        now=now,
        actor_id=actor_id,
        reason=reason,
        reference=reference,
    )
    await session.flush()
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


async def _locked_once(
    session: AsyncSession,
    user_id: uuid.UUID,
    tokens: int,
    dedupe_key: str,
    settings: BillingSettings | None,
) -> tuple[Wallet, datetime] | None:
    """The wallet, locked, for a movement of `tokens` that happens once per `dedupe_key` (and
    the time it happens); None when it happened already. The key is looked up under the lock,
    so two deliveries of one provider event never both move tokens."""
    cfg = settings_or_default(settings)
    check_amount(tokens, "tokens")
    now = utcnow()
    wallet = await lock_wallet_row(session, user_id, cfg, now)
    if await repository.entry_exists(session, dedupe_key):
        return None
    return wallet, now


async def credit_purchase(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tokens: int,
    reference: str,
    dedupe_key: str,
    reason: str = "Token package purchase",
    settings: BillingSettings | None = None,
) -> LedgerEntry | None:
    """Credit bought tokens exactly once per `dedupe_key`; None when it was already credited."""
    locked = await _locked_once(session, user_id, tokens, dedupe_key, settings)
    if locked is None:
        return None
    wallet, now = locked
    entry = post_entry(
        session,
        wallet,
        entry_type=EntryType.purchase,
        balance_delta=tokens,
        now=now,
        reason=reason,
        reference=reference,
        dedupe_key=dedupe_key,
    )
    await session.flush()
    await audit_wallet(
        session,
        "billing.purchase",
        user_id,
        details={"tokens": tokens, "reference": reference, "transaction_id": str(entry.id)},
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
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tokens: int,
    reference: str,
    dedupe_key: str,
    reason: str = "Payment refunded",
    settings: BillingSettings | None = None,
) -> RefundDebit | None:
    """Take back refunded tokens, never below zero nor from held tokens; once per `dedupe_key`.

    Takes min(tokens, available); the rest is the shortfall (tokens already spent), reported in
    the result and the audit log. None when this refund was already processed.
    """
    locked = await _locked_once(session, user_id, tokens, dedupe_key, settings)
    if locked is None:
        return None
    wallet, now = locked
    debit = min(tokens, wallet.balance - wallet.reserved)
    entry = None
    if debit > 0:
        entry = post_entry(
            session,
            wallet,
            entry_type=EntryType.refund,
            balance_delta=-debit,
            now=now,
            reason=reason if debit == tokens else f"{reason} (shortfall {tokens - debit} tokens)",
            reference=reference,
            dedupe_key=dedupe_key,
        )
        await session.flush()
    await audit_wallet(
        session,
        "billing.refund",
        user_id,
        details={
            "reference": reference,
            "tokens": tokens,
            "debited": debit,
            "shortfall": tokens - debit,
            "transaction_id": str(entry.id) if entry else None,
        },
    )
    return RefundDebit(requested=tokens, debited=debit, shortfall=tokens - debit, entry=entry)
