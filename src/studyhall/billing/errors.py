"""Errors of the billing domain."""

from __future__ import annotations

from studyhall.core.errors import (
    AppError,
    NotFound,
    PaymentRequired,
    RateLimited,
    ServiceUnavailable,
    Unprocessable,
)


class InsufficientTokens(PaymentRequired):
    code = "insufficient_tokens"

    def __init__(self, *, requested: int, available: int) -> None:
        super().__init__(f"Not enough tokens: {requested} requested, {available} available")
        self.requested = requested
        self.available = available


class CourseBudgetExhausted(PaymentRequired):
    """The course has spent (or holds) its whole token budget: the tutor stops for all its users."""

    code = "course_budget_exhausted"

    def __init__(self, *, budget: int, spent: int, held: int, requested: int) -> None:
        super().__init__(
            f"This course's token budget is spent ({spent} of {budget} tokens used, {held} held; "
            f"{requested} more needed): ask its teacher or an admin to raise it"
        )


class DailyLimitReached(RateLimited):
    def __init__(
        self, message: str, *, retry_after: int, code: str = "daily_limit_reached"
    ) -> None:
        super().__init__(message, retry_after=retry_after, code=code)


class ReservationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Reservation not found", code="reservation_not_found")


class UnknownTier(Unprocessable):
    def __init__(self, tier: str, known: list[str]) -> None:
        super().__init__(
            f"Unknown tier {tier!r}; known tiers: {', '.join(sorted(known))}", code="unknown_tier"
        )


class AdjustmentTooLarge(Unprocessable):
    def __init__(self, *, requested: int, available: int) -> None:
        super().__init__(
            f"Cannot debit {requested} tokens: only {available} are available (not reserved)",
            code="adjustment_exceeds_available",
        )


class PaymentsNotConfigured(ServiceUnavailable):
    code = "payments_not_configured"

    def __init__(self, what: str = "STUDYHALL_BILLING__STRIPE_SECRET_KEY") -> None:
        super().__init__(f"Payments are not configured on this server ({what} is not set)")


class UnknownPackage(NotFound):
    def __init__(self) -> None:
        super().__init__("Token package not found", code="package_not_found")


class PaymentProviderError(AppError):
    status_code = 502
    code = "payment_provider_error"


class InvalidWebhook(AppError):
    """400 (AppError's own status): a webhook body that is not the provider's, signed."""

    code = "invalid_webhook_signature"


class ExceedsReservation(Unprocessable):
    """More than the hold was asked for: refused, as a payment provider refuses an over-capture."""

    def __init__(self, *, actual: int, reserved: int) -> None:
        super().__init__(
            f"Cannot charge {actual} tokens on a reservation of {reserved}: "
            "charge at most the reserved amount",
            code="exceeds_reservation",
        )
