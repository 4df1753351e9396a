"""Stripe payments against a real local Stripe API server, with signed webhooks."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.billing import service
from studyhall.billing.models import Payment, Wallet
from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.models import User
from tests.billing.conftest import API, Headers, invariants, wallet
from tests.peers.stripe_api import PUBLISHABLE_KEY, StripePeer, sign


async def _checkout(
    client: httpx.AsyncClient, headers: dict[str, str], package: str = "small"
) -> dict[str, Any]:
    r = await client.post(f"{API}/payments/checkout", json={"package_id": package}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _deliver(
    client: httpx.AsyncClient, event: dict[str, Any], **sign_kw: Any
) -> httpx.Response:
    payload = json.dumps(event).encode()
    return await client.post(
        f"{API}/payments/webhook",
        content=payload,
        headers={"Stripe-Signature": sign(payload, **sign_kw), "Content-Type": "application/json"},
    )


async def test_packages_and_checkout_create_a_payment_intent(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    auth: Headers,
) -> None:
    r = await client.get(f"{API}/payments/packages", headers=auth(student))
    assert r.status_code == 200
    assert r.json()["items"][0] == {
        "id": "small",
        "tokens": 100_000,
        "amount": 500,
        "currency": "usd",
    }
    body = await _checkout(client, auth(student))
    assert body["publishable_key"] == PUBLISHABLE_KEY
    assert body["client_secret"].startswith(body["payment_id"] + "_secret_")
    intent = stripe_peer.intents[body["payment_id"]]
    assert intent["amount"] == 500 and intent["currency"] == "usd"
    assert intent["metadata"] == {
        "user_id": str(student.id),
        "package_id": "small",
        "tokens": "100000",
    }
    async with db.session(write=False) as session:
        payment = await session.scalar(select(Payment))
    assert payment is not None and payment.status == "pending" and payment.user_id == student.id
    # Nothing is credited before the provider says the payment succeeded.
    assert (await wallet(db, settings.billing, student.id)).balance == 0

    unknown = await client.post(
        f"{API}/payments/checkout", json={"package_id": "huge"}, headers=auth(student)
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "package_not_found"


async def test_checkout_idempotency_key_makes_one_intent(
    client: httpx.AsyncClient, stripe_peer: StripePeer, student: User, auth: Headers
) -> None:
    h = {**auth(student), "Idempotency-Key": "buy-1"}
    a = await _checkout(client, h)
    b = await _checkout(client, h)
    assert a == b and len(stripe_peer.intents) == 1
    r = await client.post(f"{API}/payments/checkout", json={"package_id": "large"}, headers=h)
    assert r.status_code == 409


async def test_succeeded_webhook_credits_exactly_once(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    auth: Headers,
) -> None:
    pi = (await _checkout(client, auth(student)))["payment_id"]
    event = stripe_peer.succeeded_event(pi)
    r = await _deliver(client, event)
    assert r.status_code == 200 and r.json() == {"received": True, "outcome": "credited"}
    assert (await wallet(db, settings.billing, student.id)).balance == 100_000
    # The provider retries the same event, and sends a new event for the same payment.
    again = await _deliver(client, event)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    another = await _deliver(client, stripe_peer.succeeded_event(pi))
    assert another.json()["outcome"] == "duplicate"
    w = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert w["balance"] == 100_000
    tx = (await client.get(f"{API}/wallet/transactions", headers=auth(student))).json()
    [entry] = tx["items"]
    assert entry["type"] == "purchase" and entry["reference"] == pi and entry["amount"] == 100_000
    async with db.session(write=False) as session:
        payment = await session.scalar(select(Payment).where(Payment.provider_payment_id == pi))
        money = await service.revenue(session)
        logs = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "billing.purchase"))
        )
    assert (
        payment is not None and payment.status == "succeeded" and payment.succeeded_at is not None
    )
    assert (money.currencies[0].gross, money.payments, money.tokens_sold) == (500, 1, 100_000)
    assert len(logs) == 1


async def test_concurrent_deliveries_credit_once(
    app: object,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    client: httpx.AsyncClient,
    student: User,
    auth: Headers,
) -> None:
    pi = (await _checkout(client, auth(student)))["payment_id"]
    event = stripe_peer.succeeded_event(pi)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def deliver() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await _deliver(c, event)

    results = await asyncio.gather(*(deliver() for _ in range(8)))
    assert [r.status_code for r in results] == [200] * 8
    assert sorted(r.json()["outcome"] for r in results) == ["credited"] + ["duplicate"] * 7
    assert (await wallet(db, settings.billing, student.id)).balance == 100_000
    assert await invariants(db, settings.billing, student.id) == []


async def test_webhook_for_an_intent_made_elsewhere_uses_its_metadata(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
) -> None:
    # Created directly at the provider (our checkout row is missing): the signed metadata decide.
    import stripe

    sc = stripe.StripeClient("sk_test_studyhall_local", base_addresses={"api": stripe_peer.url})
    intent = sc.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "eur",
            "metadata": {"user_id": str(student.id), "tokens": "1234"},
        }
    )
    r = await _deliver(client, stripe_peer.succeeded_event(intent.id))
    assert r.json()["outcome"] == "credited"
    assert (await wallet(db, settings.billing, student.id)).balance == 1234
    # Not ours at all: acknowledged and ignored.
    foreign = sc.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    r = await _deliver(client, stripe_peer.succeeded_event(foreign.id))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    other = await _deliver(
        client, {"id": "evt_x", "type": "customer.created", "data": {"object": {}}}
    )
    assert other.json()["outcome"] == "ignored"


async def test_bad_signatures_are_refused(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    auth: Headers,
) -> None:
    pi = (await _checkout(client, auth(student)))["payment_id"]
    event = stripe_peer.succeeded_event(pi)
    payload = json.dumps(event).encode()
    wrong_secret = await _deliver(client, event, secret="whsec_someone_else")
    assert (
        wrong_secret.status_code == 400
        and wrong_secret.json()["code"] == "invalid_webhook_signature"
    )
    stale = await _deliver(client, event, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400
    missing = await client.post(f"{API}/payments/webhook", content=payload)
    assert missing.status_code == 400
    tampered = json.dumps(
        {
            **event,
            "data": {"object": {**event["data"]["object"], "metadata": {"tokens": "999999999"}}},
        }
    )
    r = await client.post(
        f"{API}/payments/webhook",
        content=tampered.encode(),
        headers={"Stripe-Signature": sign(payload)},
    )
    assert r.status_code == 400
    garbage = b"not json"
    r = await client.post(
        f"{API}/payments/webhook", content=garbage, headers={"Stripe-Signature": sign(garbage)}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_webhook_payload"
    assert (await wallet(db, settings.billing, student.id)).balance == 0


async def test_refunds_debit_once_and_never_below_zero(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    auth: Headers,
) -> None:
    pi = (await _checkout(client, auth(student)))["payment_id"]
    await _deliver(client, stripe_peer.succeeded_event(pi))
    # Half refunded: half the tokens go back.
    half = stripe_peer.refunded_event(pi, 250)
    r = await _deliver(client, half)
    assert r.json()["outcome"] == "refunded"
    assert (await wallet(db, settings.billing, student.id)).balance == 50_000
    assert (await _deliver(client, half)).json()["outcome"] == "duplicate"
    assert (await wallet(db, settings.billing, student.id)).balance == 50_000

    # The student spends and holds tokens; the full refund takes what is available only.
    async with db.session() as session:
        res = await service.reserve(
            session, user_id=student.id, amount=15_000, purpose="t", settings=settings.billing
        )
        await service.finalize(
            session, reservation_id=res.id, actual=15_000, settings=settings.billing
        )
        await service.reserve(
            session, user_id=student.id, amount=5_000, purpose="t", settings=settings.billing
        )
    r = await _deliver(client, stripe_peer.refunded_event(pi, 500))
    assert r.json()["outcome"] == "refunded"
    view = await wallet(db, settings.billing, student.id)
    assert (view.balance, view.reserved, view.available) == (5_000, 5_000, 0)
    async with db.session(write=False) as session:
        payment = await session.scalar(select(Payment).where(Payment.provider_payment_id == pi))
        logs = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "billing.refund"))
        )
        money = await service.revenue(session)
    assert payment is not None and payment.status == "refunded"
    assert payment.refunded_tokens == 100_000 and payment.refund_shortfall == 20_000
    assert sorted(log.details["shortfall"] for log in logs) == [0, 20_000]
    assert (money.currencies[0].gross, money.currencies[0].refunded, money.currencies[0].net) == (
        500,
        500,
        0,
    )
    tx = (await client.get(f"{API}/wallet/transactions?type=refund", headers=auth(student))).json()
    assert tx["totals"]["debits"] == 80_000 and "shortfall 20000" in tx["items"][0]["reason"]
    assert await invariants(db, settings.billing, student.id) == []


async def test_refund_before_success_credits_only_the_rest(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    auth: Headers,
) -> None:
    pi = (await _checkout(client, auth(student)))["payment_id"]
    success = stripe_peer.succeeded_event(pi)
    await _deliver(client, stripe_peer.refunded_event(pi, 100))  # events arrive out of order
    assert (await wallet(db, settings.billing, student.id)).balance == 0
    await _deliver(client, success)
    assert (await wallet(db, settings.billing, student.id)).balance == 80_000


async def test_payments_without_keys_answer_503(
    app: Any, client: httpx.AsyncClient, settings: Settings, student: User, auth: Headers
) -> None:
    app.state.settings = settings.model_copy(
        update={
            "billing": settings.billing.model_copy(
                update={
                    "stripe_secret_key": None,
                    "stripe_publishable_key": None,
                    "stripe_webhook_secret": None,
                }
            )
        }
    )
    for method, path, body in (
        ("GET", "/payments/packages", None),
        ("POST", "/payments/checkout", {"package_id": "small"}),
    ):
        r = await client.request(method, API + path, json=body, headers=auth(student))
        assert r.status_code == 503 and r.json()["code"] == "payments_not_configured"
        assert "STRIPE_SECRET_KEY" in r.json()["detail"]
    payload = b"{}"
    r = await client.post(
        f"{API}/payments/webhook", content=payload, headers={"Stripe-Signature": sign(payload)}
    )
    assert r.status_code == 503 and "STRIPE_WEBHOOK_SECRET" in r.json()["detail"]


async def test_provider_errors_are_502_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, stripe_peer: StripePeer, student: User, auth: Headers
) -> None:
    stripe_peer.fail_next = 400
    r = await client.post(
        f"{API}/payments/checkout", json={"package_id": "small"}, headers=auth(student)
    )
    assert r.status_code == 502 and r.json()["code"] == "payment_provider_error"
    assert "sk_test" not in r.text
    async with db.session(write=False) as session:
        assert await session.scalar(select(Payment)) is None


# --- finding 9 (issue 11): webhooks StudyHall must refuse, and those it must only acknowledge --


async def test_finding_09_webhook_timestamp_in_the_future_is_refused(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    auth: Headers,
) -> None:
    """Before: a signature dated a day ahead was accepted (200, credited); after: 400."""
    pi = (await _checkout(client, auth(student)))["payment_id"]
    event = stripe_peer.succeeded_event(pi)
    ahead = await _deliver(client, event, timestamp=int(time.time()) + 24 * 3600)
    assert ahead.status_code == 400, ahead.text
    assert ahead.json()["code"] == "invalid_webhook_signature"
    assert (await wallet(db, settings.billing, student.id)).balance == 0
    # Within the tolerance, a little ahead (clock skew) is still fine.
    skewed = await _deliver(client, event, timestamp=int(time.time()) + 30)
    assert skewed.status_code == 200 and skewed.json()["outcome"] == "credited"


async def _intent_at_the_provider(stripe_peer: StripePeer, metadata: dict[str, str]) -> str:
    import stripe

    sc = stripe.StripeClient("sk_test_studyhall_local", base_addresses={"api": stripe_peer.url})
    intent = sc.v1.payment_intents.create(
        params={"amount": 700, "currency": "eur", "metadata": metadata}
    )
    return str(intent.id)


async def _refusals(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get(
        "/api/v1/admin/audit-logs", params={"action": "billing.webhook_refused"}, headers=headers
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_finding_09_webhook_for_an_unknown_user_is_acknowledged_and_shown_to_admins(
    client: httpx.AsyncClient,
    db: Database,
    stripe_peer: StripePeer,
    admin: User,
    auth: Headers,
) -> None:
    """Before: 200 `credited`, and a wallet row for a user that does not exist; after: 200
    `refused` (the provider stops retrying), no wallet, no payment, an audit entry for admins."""
    ghost = uuid.uuid4()
    pi = await _intent_at_the_provider(stripe_peer, {"user_id": str(ghost), "tokens": "1234"})
    r = await _deliver(client, stripe_peer.succeeded_event(pi))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "refused"
    async with db.session(write=False) as session:
        assert await session.scalar(select(Wallet).where(Wallet.user_id == ghost)) is None
        assert (
            await session.scalar(select(Payment).where(Payment.provider_payment_id == pi)) is None
        )
    [entry] = await _refusals(client, auth(admin))
    assert entry["details"]["reason"] == "unknown_user"
    assert entry["details"]["object_id"] == pi


async def test_finding_09_webhook_with_an_amount_never_accepted_is_acknowledged(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stripe_peer: StripePeer,
    student: User,
    admin: User,
    auth: Headers,
) -> None:
    """Before: 422 for tokens the ledger refuses, which Stripe retries for days; after: 200
    `refused`, nothing stored, the refusal in the audit log."""
    for tokens in ("0", str(service.MAX_AMOUNT + 1)):
        pi = await _intent_at_the_provider(
            stripe_peer, {"user_id": str(student.id), "tokens": tokens}
        )
        r = await _deliver(client, stripe_peer.succeeded_event(pi))
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "refused"
        async with db.session(write=False) as session:
            assert (
                await session.scalar(select(Payment).where(Payment.provider_payment_id == pi))
                is None
            )
    assert (await wallet(db, settings.billing, student.id)).balance == 0
    refusals = await _refusals(client, auth(admin))
    assert [e["details"]["reason"] for e in refusals] == ["invalid_amount", "invalid_amount"]
