"""What every identity use case shares: password hashing off the event loop, password strength,
activity stamps, revoking access tokens, flushes that turn a unique violation into a 409."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import RateLimitSettings, Settings
from studyhall.core.context import current_context
from studyhall.core.errors import AppError, Conflict
from studyhall.core.ratelimit import RateLimiter
from studyhall.core.security import (
    hash_password,
    verify_password,
)
from studyhall.identity.errors import (
    WeakPassword,
)
from studyhall.identity.models import (
    User,
)
from studyhall.identity.passwords import password_problem

# last_active_at is written at most this often per user, so activity tracking stays cheap.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


def client_key() -> str:
    return current_context().ip or "unknown"


@dataclass(frozen=True)
class AddressLimit:
    """A limit of what anyone may try without an account, counted per caller address: the
    setting that holds its rate, the counter's name and the 429's message."""

    rate: Callable[[RateLimitSettings], str]
    name: str
    message: str


REGISTER_LIMIT = AddressLimit(
    lambda limits: limits.register_per_ip,
    "register-ip",
    "Too many sign-ups from this address; try again later",
)
LOGIN_LIMIT = AddressLimit(
    lambda limits: limits.login_per_ip, "login-ip", "Too many login attempts; try again later"
)
CHECK_EMAIL_LIMIT = AddressLimit(
    lambda limits: limits.check_email_per_ip, "check-email-ip", "Too many requests; try again later"
)
PASSWORD_RESET_LIMIT = AddressLimit(
    lambda limits: limits.password_reset_per_ip,
    "reset-ip",
    "Too many password reset requests; try again later",
)


async def limit_per_address(limiter: RateLimiter, settings: Settings, limit: AddressLimit) -> None:
    """Count one more request from the caller's address against `limit` (429 beyond it)."""
    await limiter.hit(
        limit.rate(settings.rate_limits), limit.name, client_key(), message=limit.message
    )


async def hash_secret(password: str) -> str:
    # argon2 takes tens of milliseconds and releases the GIL: keep it off the event loop.
    return await asyncio.to_thread(hash_password, password)


async def verify_secret(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)


def ensure_strong_password(
    settings: Settings, password: str, *, field: str, user_inputs: list[str | None]
) -> None:
    """Raise a 422 on the field when the password is short, common or contains the user's name."""
    problem = password_problem(
        password, min_length=settings.password_min_length, user_inputs=user_inputs
    )
    if problem:
        raise WeakPassword(problem, field=field)


def touch_activity(user: User, now: datetime) -> None:
    if user.last_active_at is None or now - user.last_active_at >= ACTIVITY_RESOLUTION:
        user.last_active_at = now


def revoke_access(user: User) -> None:
    """Every access token issued so far stops working (they carry the old version)."""
    user.auth_version += 1


async def flush_unique(session: AsyncSession, conflict: AppError | None = None) -> None:
    """Flush; a unique violation that slipped past the checks (a race) is `conflict`, by default
    the 409 of an email address or username in use."""
    try:
        await session.flush()
    except IntegrityError:
        raise conflict or Conflict("The email address or username is already in use") from None
