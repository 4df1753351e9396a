"""Registration and sign-in: register, log in, rotate the refresh token, log out."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.ids import new_id
from studyhall.core.ratelimit import RateLimiter
from studyhall.core.security import (
    dummy_hash,
    hash_token,
)
from studyhall.identity import repository
from studyhall.identity.account_audit import record_account_event
from studyhall.identity.credentials import (
    CHECK_EMAIL_LIMIT,
    LOGIN_LIMIT,
    REGISTER_LIMIT,
    ensure_strong_password,
    flush_unique,
    hash_secret,
    limit_per_address,
    revoke_access,
    touch_activity,
    verify_secret,
)
from studyhall.identity.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    UsernameTaken,
)
from studyhall.identity.mail_tokens import send_verification_mail
from studyhall.identity.models import (
    RefreshToken,
    Role,
    User,
    new_user,
)
from studyhall.identity.oauth import service as external_sign_in
from studyhall.identity.refresh_tokens import add_refresh_token, token_pair
from studyhall.identity.schemas import (
    AdminUserCreate,
    EmailExists,
    RegisterIn,
    TokenPair,
    UserOut,
)
from studyhall.identity.tokens import issue_access_token

log = structlog.get_logger(__name__)


# racing itself (two tabs), not a thief: it gets the same new pair instead of ending the session.
REFRESH_REUSE_GRACE = timedelta(seconds=5)


def _successor_refresh_token(settings: Settings, refresh_token: str) -> str:
    """The refresh token that replaces `refresh_token`, derived from it with the secret key.

    Derived rather than random so that a replay within the grace period can hand out the same
    new token again without the server ever storing a usable refresh token.
    """
    digest = hmac.new(
        settings.jwt_secret.encode(), b"refresh-successor\0" + refresh_token.encode(), "sha256"
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _rotated_pair(
    settings: Settings, user: User, *, refresh: str, rotated_at: datetime
) -> TokenPair:
    """The pair a rotation hands out; the same inputs sign the same access token."""
    return TokenPair(
        access_token=issue_access_token(
            settings, user, issued_at=rotated_at, jti=hash_token(refresh)[:32]
        ),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
        user=UserOut.model_validate(user),
    )


# What an account signing in with a password is made of, as its creator typed it.
_PROFILE_FIELDS = {"email", "username", "full_name", "given_name", "family_name", "track"}


async def new_password_account(
    session: AsyncSession,
    settings: Settings,
    *,
    data: RegisterIn | AdminUserCreate,
) -> User:
    """A new account signing in with a password: 409 when the email or username is taken, 422
    for a weak password; the row is flushed, and an unverified one is mailed its verification
    link. A sign-up (`RegisterIn`) is an unverified student; an admin's (`AdminUserCreate`) has
    the role, verification and hint level the admin chose."""
    if await repository.email_taken(session, data.email):
        raise EmailTaken()
    if isinstance(data, AdminUserCreate):
        role, is_verified, hint_level = data.role, data.is_verified, data.hint_level
    else:
        # An SSO-only domain's people sign up through their provider, never with a password
        # (admins create accounts there too).
        await external_sign_in.ensure_password_allowed(session, email=data.email)
        role, is_verified, hint_level = Role.student, False, 3
    if data.username and await repository.username_taken(session, data.username):
        raise UsernameTaken()
    ensure_strong_password(
        settings, data.password, field="password", user_inputs=[data.email, data.username]
    )
    user = new_user(
        **data.model_dump(include=_PROFILE_FIELDS),
        password_hash=await hash_secret(data.password),
        role=role,
        is_verified=is_verified,
        hint_level=hint_level,
    )
    session.add(user)
    await flush_unique(session)
    if not user.is_verified:
        await send_verification_mail(session, settings, user)
    return user


async def register(
    session: AsyncSession, *, settings: Settings, limiter: RateLimiter, data: RegisterIn
) -> User:
    """Create a student account and mail a verification link."""
    await limit_per_address(limiter, settings, REGISTER_LIMIT)
    user = await new_password_account(session, settings, data=data)
    await record_account_event(session, "auth.register", user.id)
    return user


async def login(
    db: Database, *, settings: Settings, limiter: RateLimiter, login: str, password: str
) -> TokenPair:
    """Check a password and open a new session; unknown account and wrong password look alike.

    Runs its own units of work: a failed login is audited although the request fails, and the
    password is checked outside any write transaction (SQLite serializes writers).
    """
    await limit_per_address(limiter, settings, LOGIN_LIMIT)
    limits = settings.rate_limits
    async with db.session(write=False) as session:
        user = await repository.get_user_by_login(session, login)
    if user is not None and user.is_service:
        user = None  # service accounts have no password
    # Unknown accounts are limited by the name tried, so the limit reveals nothing either.
    account = (
        f"user:{user.id}"
        if user is not None
        else "name:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
    )
    # Counted as a failure before the password is checked, so a parallel burst is refused at
    # the limit instead of every request being checked; a right password gives the slot back.
    await limiter.attempt(
        limits.login_failures_per_account,
        "login-fail",
        account,
        message="Too many failed login attempts for this account; try again later",
    )
    # The same argon2 work whether or not the account exists.
    valid = await verify_secret(password, user.password_hash if user is not None else dummy_hash())
    if user is None or not valid:
        await audit.record_separately(
            db.sessionmaker,
            action="auth.login_failed",
            actor_id=user.id if user is not None else None,
            target_type="user" if user is not None else None,
            target_id=user.id if user is not None else None,
            details={"reason": "wrong_password" if user is not None else "unknown_account"},
        )
        raise InvalidCredentials()
    await limiter.give_back(limits.login_failures_per_account, "login-fail", account)
    if not user.is_active:
        await audit.record_separately(
            db.sessionmaker,
            action="auth.login_failed",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            details={"reason": "account_disabled"},
        )
        raise AccountDisabled()
    async with db.session() as session:
        fresh = await repository.get_user(session, user.id)
        # Changed while the password was being checked (blocked, new password): start over.
        if fresh is None or not fresh.is_active or fresh.password_hash != user.password_hash:
            raise InvalidCredentials()
        # The password was right, but this domain's accounts must use single sign-on.
        await external_sign_in.ensure_password_allowed(session, email=fresh.email)
        now = utcnow()
        fresh.last_login_at = now
        fresh.last_active_at = now
        pair = token_pair(session, settings, fresh, family_id=new_id())
        await record_account_event(session, "auth.login", fresh.id)
    return pair


async def refresh(db: Database, *, settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; presenting a used one revokes its whole family (theft signal).

    Within REFRESH_REUSE_GRACE of its rotation, a used token whose successor is still unused
    gets that same successor pair back (two tabs refreshing at once stay signed in).
    """
    reused: RefreshToken | None = None
    async with db.session() as session:
        row = await repository.get_refresh_token(session, refresh_token, lock=True)
        now = utcnow()
        if row is None or row.revoked_at is not None:
            raise InvalidRefreshToken()
        if row.used_at is not None or not await repository.mark_refresh_used(
            session, row.id, now=now
        ):
            reused = row
        else:
            if row.expires_at <= now:
                raise InvalidRefreshToken()
            user = await repository.get_user(session, row.user_id)
            if user is None or not user.is_active or user.is_service:
                raise InvalidRefreshToken()
            touch_activity(user, now)
            successor = _successor_refresh_token(settings, refresh_token)
            add_refresh_token(
                session, settings, user, family_id=row.family_id, refresh=successor, now=now
            )
            return _rotated_pair(settings, user, refresh=successor, rotated_at=now)
    assert reused is not None
    again = await _replay_within_grace(db, settings=settings, refresh_token=refresh_token)
    if again is not None:
        return again
    # Outside the first unit of work: the revocation must commit although the request fails.
    async with db.session() as session:
        await repository.revoke_family(session, reused.family_id, now=utcnow())
        # The thief may hold the family's current access token: end the user's access tokens
        # now (others' sessions just refresh) instead of in up to 15 minutes.
        victim = await repository.get_user(session, reused.user_id)
        if victim is not None:
            revoke_access(victim)
        await record_account_event(
            session,
            "auth.refresh_reused",
            reused.user_id,
            details={"family_id": str(reused.family_id)},
        )
    log.warning("refresh_token_reused", user_id=str(reused.user_id))
    raise InvalidRefreshToken("Refresh token already used; the session has been revoked")


async def _replay_within_grace(
    db: Database, *, settings: Settings, refresh_token: str
) -> TokenPair | None:
    """The pair a used token's rotation gave, when it is replayed within the grace period and
    nothing has happened since (successor unused, family alive, user unchanged)."""
    async with db.session(write=False) as session:
        row = await repository.get_refresh_token(session, refresh_token)
        now = utcnow()
        if (
            row is None
            or row.revoked_at is not None
            or row.used_at is None
            or now - row.used_at > REFRESH_REUSE_GRACE
        ):
            return None
        successor = _successor_refresh_token(settings, refresh_token)
        next_row = await repository.get_refresh_token(session, successor)
        if next_row is None or next_row.used_at is not None or next_row.revoked_at is not None:
            return None
        user = await repository.get_user(session, row.user_id)
        if user is None or not user.is_active or user.is_service:
            return None
        return _rotated_pair(settings, user, refresh=successor, rotated_at=row.used_at)


async def logout(session: AsyncSession, *, user: User, refresh_token: str) -> None:
    """End the session (token family) the refresh token belongs to, and its access token.

    Access tokens are stateless JWTs that carry the user's auth_version, so ending the family's
    one means bumping that version: the user's other sessions keep their refresh tokens and get
    a fresh access token on their next refresh, which clients do on a 401 anyway.
    """
    row = await repository.get_refresh_token(session, refresh_token)
    # Someone else's token is ignored: the answer is the same and nothing is revealed.
    if row is not None and row.user_id == user.id:
        await repository.revoke_family(session, row.family_id, now=utcnow())
        revoke_access(user)


async def check_email(
    session: AsyncSession, *, settings: Settings, limiter: RateLimiter, email: str
) -> EmailExists:
    """Whether an account uses this address (rate-limited: it answers what login hides)."""
    await limit_per_address(limiter, settings, CHECK_EMAIL_LIMIT)
    return EmailExists(exists=await repository.email_taken(session, email))
