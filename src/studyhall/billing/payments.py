"""Token packages bought through Stripe: checkout (a PaymentIntent) and the signed webhook.

- Checkout creates a PaymentIntent whose metadata carry user_id, package_id and tokens, and a
  `payments` row (pending). The client confirms it with Stripe.js and the publishable key.
- `payment_intent.succeeded` credits the package's tokens exactly once per PaymentIntent: the
  ledger entry's unique dedupe key is `stripe:purchase:<pi id>`, checked under the wallet lock, so
  retried and concurrent deliveries of the event credit once.
- `charge.refunded` debits the refunded share of the tokens (tokens × amount_refunded / amount,
  cumulative, so partial refunds and retries add up once). The debit never takes tokens that are
  held or already spent: it takes what is available and records the rest as the payment's
  `refund_shortfall` (also in the audit log); the balance never goes negative.
- Course seats (a course with a price) use the same intents and webhook: the payment row carries
  `course_id` and no tokens. Its success runs the courses domain's reaction registered by
  `studyhall.wiring` with `on_course_paid` (enroll, once: the status moves from pending under the payer's wallet lock and
  the enrollment row is unique); a full refund runs `on_course_refunded` (the enrollment ends)
  unless another payment of the same student for the same course still stands.
- A seat can also be paid on the provider's hosted Checkout page (`start_hosted_course_checkout`,
  for the web interface, which loads no provider script): its Checkout Session gives the
  PaymentIntent it creates the same metadata, so the same `payment_intent.succeeded` webhook
  enrolls (the payment row is made from that metadata, the intent's id being unknown before).
- Without a secret key (checkout) or webhook secret (webhook) the endpoints answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import stripe
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.billing import repository, service
from studyhall.billing.errors import (
    InvalidWebhook,
    PaymentProviderError,
    PaymentsNotConfigured,
    UnknownPackage,
)
from studyhall.billing.models import Payment, PaymentStatus
from studyhall.config import BillingSettings
from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable
from studyhall.core.ids import new_id
from studyhall.identity import service as identity_service

# How far a webhook's signed timestamp may be from now, either way (Stripe's default tolerance;
# its library only refuses old timestamps, a future one would make a replay window of days).
WEBHOOK_TOLERANCE_S = 300

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Package:
    """What a payment buys, `amount` in the currency's minor unit: a token package from settings,
    or a course seat (id `COURSE_PACKAGE`, no tokens)."""

    id: str
    tokens: int
    amount: int
    currency: str


@dataclass(frozen=True)
class Checkout:
    payment_id: str
    client_secret: str
    publishable_key: str
    package: Package


@dataclass(frozen=True)
class CourseCheckout:
    payment_id: str
    client_secret: str
    publishable_key: str
    course_id: uuid.UUID
    amount: int
    currency: str


@dataclass(frozen=True)
class HostedCourseCheckout:
    """A Checkout Session on the provider's own page: send the student to `url`."""

    session_id: str
    url: str
    course_id: uuid.UUID
    amount: int
    currency: str


# Package id recorded on course payments (they buy a seat, not tokens).
COURSE_PACKAGE = "course"

# The courses domain's reactions to a paid or refunded seat: (session, user_id, course_id).
# `on_course_paid` returns whether it enrolled (False: already enrolled) and raises Unprocessable
# when the seat can never be given (course or student gone): the event is then refused and audited.
CourseSeatHook = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[bool]]
_course_paid_hooks: list[CourseSeatHook] = []
_course_refunded_hooks: list[CourseSeatHook] = []


def on_course_paid(hook: CourseSeatHook) -> None:
    """Register what a succeeded course payment does (`studyhall.wiring`: courses enrolls the
    payer). Registering a hook again changes nothing."""
    if hook not in _course_paid_hooks:
        _course_paid_hooks.append(hook)


def on_course_refunded(hook: CourseSeatHook) -> None:
    """Register what a fully refunded course payment does (the enrollment ends)."""
    if hook not in _course_refunded_hooks:
        _course_refunded_hooks.append(hook)


def course_seat_hooks() -> tuple[tuple[CourseSeatHook, ...], tuple[CourseSeatHook, ...]]:
    """The registered reactions to a paid and to a refunded course seat."""
    return tuple(_course_paid_hooks), tuple(_course_refunded_hooks)


def packages(settings: BillingSettings) -> list[Package]:
    """The configured token packages."""
    return [
        Package(
            id=str(p["id"]),
            tokens=int(p["tokens"]),
            amount=int(p["amount"]),
            currency=str(p.get("currency", "usd")).lower(),
        )
        for p in settings.packages
    ]


def package_for_price(settings: BillingSettings, *, amount: float, currency: str) -> Package | None:
    """The package sold at this price in the currency's major unit (999.00 USD), if any."""
    minor = round(amount * 100)
    currency = currency.lower()
    return next(
        (p for p in packages(settings) if p.amount == minor and p.currency == currency), None
    )


def require_configured(settings: BillingSettings) -> None:
    """503 unless checkout can work (secret and publishable keys set)."""
    if not settings.stripe_secret_key:
        raise PaymentsNotConfigured("STUDYHALL_BILLING__STRIPE_SECRET_KEY")
    if not settings.stripe_publishable_key:
        raise PaymentsNotConfigured("STUDYHALL_BILLING__STRIPE_PUBLISHABLE_KEY")


def _publishable_key(settings: BillingSettings) -> str:
    """The key a client needs to pay (set: checkout starts with `require_configured`)."""
    assert settings.stripe_publishable_key is not None
    return settings.stripe_publishable_key


# One client per (key, base URL, event loop): its connection pool belongs to one loop.
_clients: dict[tuple[str, str | None, int], stripe.StripeClient] = {}


def _client(settings: BillingSettings) -> stripe.StripeClient:
    require_configured(settings)
    assert settings.stripe_secret_key is not None
    cache_key = (
        settings.stripe_secret_key,
        settings.stripe_api_base,
        id(asyncio.get_running_loop()),
    )
    client = _clients.get(cache_key)
    if client is None:
        client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
            http_client=stripe.HTTPXClient(timeout=20),
            max_network_retries=2,
        )
        _clients[cache_key] = client
    return client


@contextlib.contextmanager
def _creating_payment() -> Iterator[None]:
    """The provider failing to create a payment → 502 (logged by kind, never its message)."""
    try:
        yield
    except stripe.StripeError as exc:
        log.warning("stripe_checkout_failed", error_type=type(exc).__name__, status=exc.http_status)
        raise PaymentProviderError(
            "The payment provider could not create the payment; please try again later"
        ) from None


async def _create_intent(
    settings: BillingSettings,
    *,
    amount: int,
    currency: str,
    description: str,
    metadata: dict[str, str],
    idempotency_key: str | None,
) -> tuple[str, str]:
    """Create a PaymentIntent at the provider → (intent id, client secret); 502 on failure."""
    client = _client(settings)
    options: dict[str, Any] = {}
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    with _creating_payment():
        intent = await client.v1.payment_intents.create_async(
            params={
                "amount": amount,
                "currency": currency,
                "automatic_payment_methods": {"enabled": True},
                "description": description,
                "metadata": metadata,  # type: ignore[typeddict-item]
            },
            options=options,  # type: ignore[arg-type]
        )
    if not intent.client_secret:
        raise PaymentProviderError("The payment provider returned no client secret")
    return intent.id, intent.client_secret


async def _open_intent_secret(settings: BillingSettings, intent_id: str) -> str | None:
    """The client secret of a PaymentIntent that can still be paid (None once canceled)."""
    try:
        intent = await _client(settings).v1.payment_intents.retrieve_async(intent_id)
    except stripe.StripeError as exc:
        log.warning("stripe_retrieve_failed", error_type=type(exc).__name__, status=exc.http_status)
        raise PaymentProviderError(
            "The payment provider could not be reached; please try again later"
        ) from None
    if intent.status == "canceled" or not intent.client_secret:
        return None
    return intent.client_secret


def _payment_row(
    *, user_id: uuid.UUID, intent_id: str, package: Package, course_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The pending payment of `package` (a seat of `course_id`) through the intent."""
    now = utcnow()
    return {
        "id": new_id(),
        "user_id": user_id,
        "provider": "stripe",
        "provider_payment_id": intent_id,
        "package_id": package.id,
        "course_id": course_id,
        "tokens": package.tokens,
        "amount": package.amount,
        "currency": package.currency,
        "status": PaymentStatus.pending,
        "amount_refunded": 0,
        "refunded_tokens": 0,
        "refund_shortfall": 0,
        "created_at": now,
        "updated_at": now,
    }


async def start_checkout(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    package_id: str,
    settings: BillingSettings,
    idempotency_key: str | None = None,
) -> Checkout:
    """Create a PaymentIntent for a package and remember it as a pending payment."""
    require_configured(settings)
    package = next((p for p in packages(settings) if p.id == package_id), None)
    if package is None:
        raise UnknownPackage()
    intent_id, client_secret = await _create_intent(
        settings,
        amount=package.amount,
        currency=package.currency,
        description=f"StudyHall token package {package.id}",
        metadata={"user_id": str(user_id), "package_id": package.id, "tokens": str(package.tokens)},
        # Stripe's own idempotency, scoped to the user, so a retried checkout is one intent.
        idempotency_key=(
            f"studyhall-checkout-{user_id}-{idempotency_key}" if idempotency_key else None
        ),
    )
    await repository.insert_payment_if_missing(
        session, _payment_row(user_id=user_id, intent_id=intent_id, package=package)
    )
    return Checkout(
        payment_id=intent_id,
        client_secret=client_secret,
        publishable_key=_publishable_key(settings),
        package=package,
    )


async def start_course_checkout(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    course_id: uuid.UUID,
    course_code: str,
    amount: int,
    settings: BillingSettings,
    idempotency_key: str | None = None,
) -> CourseCheckout:
    """Create a PaymentIntent for a seat in a paid course (amount in minor units), pending."""
    require_configured(settings)
    if not 0 < amount <= service.MAX_AMOUNT:
        raise Unprocessable("The course's price cannot be charged", code="invalid_amount")
    currency = settings.course_currency.lower()
    # A second click, tab or device continues the payment already started (Stripe's advice: one
    # PaymentIntent per purchase), so a student is never charged twice for one seat.
    pending = await repository.pending_course_payment(
        session, user_id=user_id, course_id=course_id, amount=amount, currency=currency
    )
    open_secret = await _open_intent_secret(settings, pending) if pending else None
    if pending and open_secret:
        intent_id, client_secret = pending, open_secret
    else:
        intent_id, client_secret = await _create_intent(
            settings,
            amount=amount,
            currency=currency,
            description=f"StudyHall course {course_code}",
            metadata={"user_id": str(user_id), "course_id": str(course_id)},
            idempotency_key=(
                f"studyhall-course-checkout-{user_id}-{course_id}-{idempotency_key}"
                if idempotency_key
                else None
            ),
        )
        seat = Package(id=COURSE_PACKAGE, tokens=0, amount=amount, currency=currency)
        await repository.insert_payment_if_missing(
            session,
            _payment_row(user_id=user_id, intent_id=intent_id, package=seat, course_id=course_id),
        )
    return CourseCheckout(
        payment_id=intent_id,
        client_secret=client_secret,
        publishable_key=_publishable_key(settings),
        course_id=course_id,
        amount=amount,
        currency=currency,
    )


async def start_hosted_course_checkout(
    *,
    user_id: uuid.UUID,
    course_id: uuid.UUID,
    course_code: str,
    course_title: str,
    amount: int,
    settings: BillingSettings,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> HostedCourseCheckout:
    """A Checkout Session for a seat (amount in minor units) on the provider's hosted page.

    Its PaymentIntent carries the metadata `start_course_checkout` gives its own, so the webhook
    enrolls the payer the same way. `idempotency_key` (one per rendered form) makes a resent
    form the same session; the provider expires an unpaid session after a day."""
    require_configured(settings)
    if not 0 < amount <= service.MAX_AMOUNT:
        raise Unprocessable("The course's price cannot be charged", code="invalid_amount")
    currency = settings.course_currency.lower()
    metadata = {"user_id": str(user_id), "course_id": str(course_id)}
    with _creating_payment():
        hosted = await _client(settings).v1.checkout.sessions.create_async(
            params={
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": currency,
                            "unit_amount": amount,
                            "product_data": {"name": course_title[:250]},
                        },
                    }
                ],
                "payment_intent_data": {
                    "description": f"StudyHall course {course_code}",
                    "metadata": metadata,  # type: ignore[typeddict-item]
                },
                "metadata": metadata,  # type: ignore[typeddict-item]
                "client_reference_id": str(user_id),
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={
                "idempotency_key": (
                    f"studyhall-course-page-{user_id}-{course_id}-{idempotency_key}"
                )
            },
        )
    if not hosted.url:
        raise PaymentProviderError("The payment provider returned no payment page")
    return HostedCourseCheckout(
        session_id=hosted.id, url=hosted.url, course_id=course_id, amount=amount, currency=currency
    )


def verify_webhook(
    settings: BillingSettings, payload: bytes, signature: str | None
) -> dict[str, Any]:
    """The event of a correctly signed webhook body (400 otherwise, 503 without a secret)."""
    if not settings.stripe_webhook_secret:
        raise PaymentsNotConfigured("STUDYHALL_BILLING__STRIPE_WEBHOOK_SECRET")
    if not signature:
        raise InvalidWebhook("Missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, settings.stripe_webhook_secret, tolerance=WEBHOOK_TOLERANCE_S
        )
    except stripe.SignatureVerificationError:
        raise InvalidWebhook("Invalid webhook signature") from None
    except ValueError:
        raise InvalidWebhook("Invalid webhook payload", code="invalid_webhook_payload") from None
    if _signed_at(signature) > utcnow().timestamp() + WEBHOOK_TOLERANCE_S:
        raise InvalidWebhook("Webhook timestamp is in the future")
    return event.to_dict()


def _signed_at(signature: str) -> int:
    """The `t=` timestamp of a Stripe-Signature header the library has already verified."""
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    raise InvalidWebhook("Invalid webhook signature")


async def handle_event(
    session: AsyncSession, *, event: dict[str, Any], settings: BillingSettings
) -> str:
    """Apply a verified event; returns what happened (credited, refunded, duplicate, ignored)."""
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    try:
        if kind == "payment_intent.succeeded":
            return await _payment_succeeded(session, obj, settings)
        if kind == "charge.refunded":
            return await _charge_refunded(session, obj, settings)
    except (Unprocessable, _NeverAccepted) as exc:
        # Signed by the provider but never acceptable here: answering 4xx would have it retried
        # for days. Undo whatever the event wrote, acknowledge it, and leave admins a trace.
        await session.rollback()
        await _refuse(
            session, event, reason=getattr(exc, "code", None) or "unprocessable", why=str(exc)
        )
        return "refused"
    return "ignored"


class _NeverAccepted(Exception):
    """A verified event StudyHall will not apply whatever the number of deliveries."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def _refuse(session: AsyncSession, event: dict[str, Any], *, reason: str, why: str) -> None:
    obj = (event.get("data") or {}).get("object") or {}
    log.warning(
        "stripe_event_refused",
        event_id=event.get("id"),
        event_type=event.get("type"),
        object_id=obj.get("id"),
        reason=reason,
    )
    await record(
        session,
        action="billing.webhook_refused",
        actor_id=None,
        target_type="payment",
        target_id=None,
        details={
            "reason": reason,
            "message": why[:500],
            "event_id": str(event.get("id") or "")[:100],
            "event_type": str(event.get("type") or "")[:100],
            "object_id": str(obj.get("id") or "")[:100],
            "metadata": {k: str(v)[:100] for k, v in (obj.get("metadata") or {}).items()},
        },
    )


async def _payment_succeeded(
    session: AsyncSession, intent: dict[str, Any], settings: BillingSettings
) -> str:
    intent_id = str(intent.get("id") or "")
    payment = await repository.get_payment_by_provider_id(session, intent_id)
    if payment is None:
        # Not created by our checkout in this database (e.g. its row was lost): trust the
        # metadata we set when creating the intent; the event itself is signed.
        row = await _row_from_metadata(session, intent_id, intent)
        if row is None:
            return "ignored"
        await repository.insert_payment_if_missing(session, row)
        payment = await repository.get_payment_by_provider_id(session, intent_id)
        assert payment is not None
    received = int(intent.get("amount_received") or intent.get("amount") or 0)
    if received < payment.amount:
        log.warning("stripe_amount_mismatch", payment_intent=intent_id, received=received)
        return "ignored"
    # Lock first, then re-read: concurrent deliveries of this event queue up here.
    await service.lock_wallet(session, user_id=payment.user_id, settings=settings)
    payment = await repository.get_payment_by_provider_id(session, intent_id)
    assert payment is not None
    if payment.status != PaymentStatus.pending:
        return "duplicate"
    if payment.course_id is not None:
        return await _course_paid(session, payment)
    tokens = payment.tokens - payment.refunded_tokens  # a refund may have arrived first
    entry = None
    if tokens > 0:
        bought = service.ProviderMovement(
            user_id=payment.user_id,
            tokens=tokens,
            reference=intent_id,
            dedupe_key=f"stripe:purchase:{intent_id}",
            reason=f"Token package {payment.package_id}",
        )
        entry = await service.credit_purchase(session, bought, settings=settings)
    payment.status = (
        PaymentStatus.succeeded
        if payment.amount_refunded == 0
        else PaymentStatus.partially_refunded
    )
    payment.succeeded_at = utcnow()
    await session.flush()
    return "credited" if entry is not None else "duplicate"


async def _row_from_metadata(
    session: AsyncSession, intent_id: str, intent: dict[str, Any]
) -> dict[str, Any] | None:
    """A payment row rebuilt from an intent's metadata (None: not one of ours)."""
    metadata = intent.get("metadata") or {}
    try:
        user_id = uuid.UUID(str(metadata["user_id"]))
        course_id = uuid.UUID(str(metadata["course_id"])) if "course_id" in metadata else None
        tokens = 0 if course_id is not None else int(metadata["tokens"])
    except (KeyError, ValueError):
        log.warning("stripe_event_not_ours", payment_intent=intent_id)
        return None
    if course_id is None and not 0 < tokens <= service.MAX_AMOUNT:
        raise _NeverAccepted("invalid_amount", f"tokens must be between 1 and {service.MAX_AMOUNT}")
    if not await identity_service.usernames_by_id(session, user_ids=[user_id]):
        # No wallet (or seat) for nobody: the payment is the provider's to refund by hand.
        raise _NeverAccepted("unknown_user", f"no user {user_id}")
    bought = Package(
        id=COURSE_PACKAGE if course_id else str(metadata.get("package_id", "unknown"))[:64],
        tokens=tokens,
        amount=int(intent.get("amount") or 0),
        currency=str(intent.get("currency") or "usd"),
    )
    return _payment_row(user_id=user_id, intent_id=intent_id, package=bought, course_id=course_id)


async def _course_paid(session: AsyncSession, payment: Payment) -> str:
    """A course payment succeeded (its row is pending and the payer's wallet locked): enroll."""
    assert payment.course_id is not None
    payment.succeeded_at = utcnow()
    if payment.amount_refunded >= payment.amount:
        # Refunded in full before the success arrived (events out of order): no seat.
        payment.status = PaymentStatus.refunded
        await session.flush()
        return "refunded"
    payment.status = (
        PaymentStatus.succeeded
        if payment.amount_refunded == 0
        else PaymentStatus.partially_refunded
    )
    enrolled = False
    for hook in _course_paid_hooks:
        enrolled = await hook(session, payment.user_id, payment.course_id) or enrolled
    await session.flush()
    await record(
        session,
        action="billing.course_purchase",
        actor_id=payment.user_id,
        target_type="course",
        target_id=str(payment.course_id),
        details={
            "payment": payment.provider_payment_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "enrolled": enrolled,
        },
    )
    return "enrolled" if enrolled else "duplicate"


async def _course_refunded(session: AsyncSession, payment: Payment, charge: dict[str, Any]) -> str:
    """A refund of a course payment (wallet locked, row re-read): a full one ends the seat."""
    assert payment.course_id is not None
    amount_refunded = min(int(charge.get("amount_refunded") or 0), payment.amount)
    if amount_refunded <= payment.amount_refunded:
        return "duplicate"
    payment.amount_refunded = amount_refunded
    if payment.status == PaymentStatus.pending:
        # Not succeeded yet (events out of order): the success event sees the refund.
        await session.flush()
        return "refunded"
    full = amount_refunded >= payment.amount
    payment.status = PaymentStatus.refunded if full else PaymentStatus.partially_refunded
    await session.flush()
    ended = False
    # A partial refund is a discount, not a withdrawal; and a second payment for the same seat
    # (two checkouts both paid) keeps the student enrolled while it stands.
    if full and not await repository.has_standing_course_payment(
        session, user_id=payment.user_id, course_id=payment.course_id
    ):
        for hook in _course_refunded_hooks:
            ended = await hook(session, payment.user_id, payment.course_id) or ended
    await record(
        session,
        action="billing.course_refund",
        actor_id=None,
        target_type="course",
        target_id=str(payment.course_id),
        details={
            "payment": payment.provider_payment_id,
            "user_id": str(payment.user_id),
            "amount_refunded": amount_refunded,
            "enrollment_ended": ended,
        },
    )
    return "refunded"


async def _charge_refunded(
    session: AsyncSession, charge: dict[str, Any], settings: BillingSettings
) -> str:
    intent_id = charge.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    payment = await repository.get_payment_by_provider_id(session, str(intent_id or ""))
    if payment is None:
        log.warning("stripe_refund_unknown_payment", payment_intent=intent_id)
        return "ignored"
    await service.lock_wallet(session, user_id=payment.user_id, settings=settings)
    payment = await repository.get_payment_by_provider_id(session, str(intent_id))
    assert payment is not None
    if payment.course_id is not None:
        return await _course_refunded(session, payment, charge)
    amount_refunded = int(charge.get("amount_refunded") or 0)
    charged = int(charge.get("amount") or payment.amount or 0)
    if charged <= 0:
        return "ignored"
    target = min(payment.tokens, payment.tokens * min(amount_refunded, charged) // charged)
    delta = target - payment.refunded_tokens
    if delta <= 0:
        return "duplicate"
    payment.amount_refunded = max(payment.amount_refunded, amount_refunded)
    payment.refunded_tokens = target
    if payment.status == PaymentStatus.pending:
        # Not credited yet (events out of order): the success event will credit less instead.
        await session.flush()
        return "refunded"
    refunded = service.ProviderMovement(
        user_id=payment.user_id,
        tokens=delta,
        reference=payment.provider_payment_id,
        dedupe_key=f"stripe:refund:{payment.provider_payment_id}:{target}",
        reason="Payment refunded",
    )
    result = await service.debit_refund(session, refunded, settings=settings)
    if result is not None:
        payment.refund_shortfall += result.shortfall
    payment.status = (
        PaymentStatus.refunded
        if payment.amount_refunded >= payment.amount
        else PaymentStatus.partially_refunded
    )
    await session.flush()
    return "refunded"
