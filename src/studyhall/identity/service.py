"""Identity use cases: accounts, sessions, mailed tokens, saved prompts, API keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from limits import parse_many
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.audit.models import AuditLog
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.context import current_context
from studyhall.core.db import Database
from studyhall.core.errors import Conflict, Forbidden, NotFound
from studyhall.core.ids import new_id
from studyhall.core.mail import MailMessage
from studyhall.core.ratelimit import RateLimiter
from studyhall.core.security import (
    dummy_hash,
    hash_password,
    hash_token,
    new_token,
    verify_password,
)
from studyhall.identity import emails, repository
from studyhall.identity.errors import (
    AccountDisabled,
    AlreadyVerified,
    EmailTaken,
    FieldInvalid,
    IncorrectPassword,
    InvalidCredentials,
    InvalidEmailToken,
    InvalidRefreshToken,
    SelfModification,
    UsernameTaken,
    WeakPassword,
)
from studyhall.identity.models import (
    ApiKey,
    EmailToken,
    EmailTokenPurpose,
    RefreshToken,
    Role,
    SavedPrompt,
    User,
    default_preferences,
)
from studyhall.identity.oauth import service as external_sign_in
from studyhall.identity.passwords import password_problem
from studyhall.identity.schemas import (
    CLIENT_AUDIT_PREFIX,
    AdminUserCreate,
    AdminUserUpdate,
    ApiKeyCreate,
    ClientAuditIn,
    EmailExists,
    PromptIn,
    PromptUpdate,
    RegisterIn,
    TokenPair,
    UserOut,
    UserUpdate,
    VerifiedOut,
)
from studyhall.identity.tokens import issue_access_token
from studyhall.jobs.service import enqueue

log = structlog.get_logger(__name__)

SEND_EMAIL_JOB = "identity.send_email"
PASSWORD_RESET_JOB = "identity.password_reset_request"
# last_active_at is written at most this often per user, so activity tracking stays cheap.
ACTIVITY_RESOLUTION = timedelta(minutes=1)
# RFC 9700 §4.14.2: a refresh token presented again this soon after its rotation is a client
# racing itself (two tabs), not a thief: it gets the same new pair instead of ending the session.
REFRESH_REUSE_GRACE = timedelta(seconds=5)
_UNUSABLE_PASSWORD = "!service-account-no-password"


class UserDeletionHook(Protocol):
    """A domain's reaction to a user's deletion, run in the deleting unit of work."""

    def __call__(self, session: AsyncSession, *, user_id: uuid.UUID) -> Awaitable[None]: ...


_deletion_hooks: list[UserDeletionHook] = []


def on_user_deleted(hook: UserDeletionHook) -> None:
    """Register a domain's clean-up, run in the deleting unit of work before the user row goes.

    Other domains hold soft links to users (no foreign keys across domains), so each removes or
    anonymises its own personal data; `studyhall.wiring` registers them all. Registering a hook
    again changes nothing (the wiring runs once per app, and tests build many apps).
    """
    if hook not in _deletion_hooks:
        _deletion_hooks.append(hook)


def user_deletion_hooks() -> tuple[UserDeletionHook, ...]:
    """The registered reactions to a user's deletion, in the order they run."""
    return tuple(_deletion_hooks)


# Helpers


def _client_key() -> str:
    return current_context().ip or "unknown"


async def _hash(password: str) -> str:
    # argon2 takes tens of milliseconds and releases the GIL: keep it off the event loop.
    return await asyncio.to_thread(hash_password, password)


async def _verify(password: str, password_hash: str) -> bool:
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


def _mail_token(settings: Settings, token_id: uuid.UUID) -> str:
    """The secret of a mailed token, derived from its id with the server key.

    Only its hash is stored, and the mail job re-derives it from the id: no secret sits in the
    jobs table, and a retried job mails the same link.
    """
    digest = hmac.new(
        settings.jwt_secret.encode(), b"studyhall-email-token:" + token_id.bytes, hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _send_token_mail(
    session: AsyncSession,
    settings: Settings,
    *,
    user: User,
    purpose: EmailTokenPurpose,
    email: str,
    template: str | None = None,
) -> None:
    """Retire the user's earlier tokens of this purpose, make a new one and queue its mail.

    `template` "invitation" mails a set-password link to an account someone else created: it
    lives as long as a verification link (the invitee may read it days later).
    """
    now = utcnow()
    ttl = (
        settings.password_reset_ttl_s
        if purpose == EmailTokenPurpose.reset_password and template is None
        else settings.email_token_ttl_s
    )
    await repository.invalidate_email_tokens(session, user.id, purpose, now=now)
    token_id = new_id()
    session.add(
        EmailToken(
            id=token_id,
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(_mail_token(settings, token_id)),
            email=email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    await session.flush()
    await enqueue(
        session,
        kind=SEND_EMAIL_JOB,
        payload={"template": template or str(purpose), "email_token_id": str(token_id)},
    )


async def render_email(
    session: AsyncSession, *, settings: Settings, payload: dict[str, Any]
) -> MailMessage | None:
    """The mail a send_email job delivers, or None when it is no longer due (token used/expired)."""
    template = payload.get("template")
    if template == "email_changed":
        return emails.email_changed_notice(
            settings,
            to=str(payload["to"]),
            full_name=str(payload["full_name"]),
            new_email=str(payload["new_email"]),
        )
    token = await repository.get_email_token_by_id(
        session, uuid.UUID(str(payload["email_token_id"]))
    )
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        return None
    user = await repository.get_user(session, token.user_id)
    if user is None:
        return None
    secret = _mail_token(settings, token.id)
    if template == "invitation" and token.purpose == EmailTokenPurpose.reset_password:
        return emails.invitation_email(
            settings, to=user.email, full_name=user.full_name, token=secret
        )
    if token.purpose == EmailTokenPurpose.reset_password:
        return emails.password_reset_email(
            settings, to=user.email, full_name=user.full_name, token=secret
        )
    if user.email != token.email:
        return None  # the address changed again; a newer token went to the newer address
    return emails.verification_email(
        settings, to=token.email, full_name=user.full_name, token=secret
    )


async def _use_email_token(
    session: AsyncSession, token: str, purpose: EmailTokenPurpose
) -> EmailToken:
    row = await repository.get_email_token(session, token, purpose)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidEmailToken()
    return row


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


def _add_refresh_token(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    family_id: uuid.UUID,
    refresh: str,
    now: datetime,
) -> None:
    ctx = current_context()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_token(refresh),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
            ip=ctx.ip,
            user_agent=ctx.user_agent,
        )
    )


def _token_pair(
    session: AsyncSession, settings: Settings, user: User, *, family_id: uuid.UUID
) -> TokenPair:
    """A new access token and a new refresh token in the given session family."""
    refresh = new_token(32)
    _add_refresh_token(session, settings, user, family_id=family_id, refresh=refresh, now=utcnow())
    return TokenPair(
        access_token=issue_access_token(settings, user),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
        user=UserOut.model_validate(user),
    )


def _touch_activity(user: User, now: datetime) -> None:
    if user.last_active_at is None or now - user.last_active_at >= ACTIVITY_RESOLUTION:
        user.last_active_at = now


def _revoke_access(user: User) -> None:
    """Every access token issued so far stops working (they carry the old version)."""
    user.auth_version += 1


async def _flush_unique(session: AsyncSession) -> None:
    """Flush; a unique violation that slipped past the checks (a race) is a 409."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("The email address or username is already in use") from None


# Registration and login


async def register(
    session: AsyncSession, *, settings: Settings, limiter: RateLimiter, data: RegisterIn
) -> User:
    """Create a student account and mail a verification link."""
    await limiter.hit(
        settings.rate_limits.register_per_ip,
        "register-ip",
        _client_key(),
        message="Too many sign-ups from this address; try again later",
    )
    if await repository.email_taken(session, data.email):
        raise EmailTaken()
    # An SSO-only domain's people sign up through their provider, never with a password.
    await external_sign_in.ensure_password_allowed(session, email=data.email)
    if data.username and await repository.username_taken(session, data.username):
        raise UsernameTaken()
    ensure_strong_password(
        settings, data.password, field="password", user_inputs=[data.email, data.username]
    )
    user = User(
        email=data.email,
        username=data.username,
        full_name=data.full_name,
        given_name=data.given_name,
        family_name=data.family_name,
        password_hash=await _hash(data.password),
        role=Role.student,
        is_active=True,
        is_verified=False,
        is_service=False,
        hint_level=3,
        track=data.track,
        preferences=default_preferences(),
        auth_version=1,
    )
    session.add(user)
    await _flush_unique(session)
    await _send_token_mail(
        session, settings, user=user, purpose=EmailTokenPurpose.verify_email, email=user.email
    )
    await audit.record(
        session, action="auth.register", actor_id=user.id, target_type="user", target_id=user.id
    )
    return user


async def login(
    db: Database, *, settings: Settings, limiter: RateLimiter, login: str, password: str
) -> TokenPair:
    """Check a password and open a new session; unknown account and wrong password look alike.

    Runs its own units of work: a failed login is audited although the request fails, and the
    password is checked outside any write transaction (SQLite serializes writers).
    """
    limits = settings.rate_limits
    await limiter.hit(
        limits.login_per_ip,
        "login-ip",
        _client_key(),
        message="Too many login attempts; try again later",
    )
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
    valid = await _verify(password, user.password_hash if user is not None else dummy_hash())
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
        pair = _token_pair(session, settings, fresh, family_id=new_id())
        await audit.record(
            session, action="auth.login", actor_id=fresh.id, target_type="user", target_id=fresh.id
        )
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
            _touch_activity(user, now)
            successor = _successor_refresh_token(settings, refresh_token)
            _add_refresh_token(
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
            _revoke_access(victim)
        await audit.record(
            session,
            action="auth.refresh_reused",
            actor_id=reused.user_id,
            target_type="user",
            target_id=reused.user_id,
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
        _revoke_access(user)


# Mailed tokens


async def verify_email(session: AsyncSession, *, token: str) -> VerifiedOut:
    """Mark the address the token was sent to as verified."""
    row = await _use_email_token(session, token, EmailTokenPurpose.verify_email)
    user = await repository.get_user(session, row.user_id)
    if user is None or user.email != row.email:
        raise InvalidEmailToken()
    if not await repository.consume_email_token(session, row.id, now=utcnow()):
        raise InvalidEmailToken()
    user.is_verified = True
    await audit.record(
        session,
        action="auth.email_verified",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
    )
    return VerifiedOut(email=user.email)


async def resend_verification(
    session: AsyncSession, *, settings: Settings, limiter: RateLimiter, user: User
) -> None:
    """Mail a new verification link (the earlier ones stop working)."""
    if user.is_verified:
        raise AlreadyVerified()
    if user.is_service:
        raise Forbidden("Service accounts have no mailbox")
    await limiter.hit(
        settings.rate_limits.verify_email_per_user,
        "verify-resend",
        str(user.id),
        message="Too many verification mails; try again later",
    )
    await _send_token_mail(
        session, settings, user=user, purpose=EmailTokenPurpose.verify_email, email=user.email
    )


async def forgot_password(
    session: AsyncSession, *, settings: Settings, limiter: RateLimiter, email: str
) -> None:
    """Queue a reset request; the caller learns nothing about the account.

    The account lookup, its limit and the mail happen in a job, so the answer for an existing
    address runs the very same statements as for an unknown one (the attack measured 41 vs
    21 ms when the lookup and the token were made here).
    """
    await limiter.hit(
        settings.rate_limits.password_reset_per_ip,
        "reset-ip",
        _client_key(),
        message="Too many password reset requests; try again later",
    )
    await enqueue(session, kind=PASSWORD_RESET_JOB, payload={"email": email})


async def process_password_reset_request(
    session: AsyncSession, *, settings: Settings, email: str
) -> None:
    """The job behind forgot_password: mail a reset link when the account exists and its
    per-account limit (counted on the reset tokens it was sent) allows one more."""
    user = await repository.get_user_by_email(session, email)
    if user is None or user.is_service or not user.is_active:
        return
    now = utcnow()
    for item in parse_many(settings.rate_limits.password_reset_per_account):
        since = now - timedelta(seconds=item.get_expiry())
        sent = await repository.count_email_tokens_since(
            session, user.id, EmailTokenPurpose.reset_password, since=since
        )
        if sent >= item.amount:
            log.info("password_reset_limited", user_id=str(user.id))
            return  # the mails already sent are enough
    await _send_token_mail(
        session, settings, user=user, purpose=EmailTokenPurpose.reset_password, email=user.email
    )


async def reset_password(
    session: AsyncSession, *, settings: Settings, token: str, new_password: str
) -> None:
    """Set a new password from a mailed token; every session of the user ends."""
    row = await _use_email_token(session, token, EmailTokenPurpose.reset_password)
    user = await repository.get_user(session, row.user_id)
    if user is None or user.is_service:
        raise InvalidEmailToken()
    ensure_strong_password(
        settings, new_password, field="new_password", user_inputs=[user.email, user.username]
    )
    now = utcnow()
    if not await repository.consume_email_token(session, row.id, now=now):
        raise InvalidEmailToken()
    await repository.invalidate_email_tokens(
        session, user.id, EmailTokenPurpose.reset_password, now=now
    )
    user.password_hash = await _hash(new_password)
    if row.email == user.email:
        user.is_verified = True  # the link reached this mailbox: the address is proven
    _revoke_access(user)
    await repository.revoke_user_tokens(session, user.id, now=now)
    await audit.record(
        session,
        action="auth.password_reset",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
    )


async def change_password(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    user: User,
    current_password: str,
    new_password: str,
    keep_refresh_token: str | None,
) -> None:
    """Replace the password; other sessions end and every access token must be refreshed."""
    if user.is_service:
        raise Forbidden("Service accounts have no password")
    account = f"user:{user.id}"
    failures = settings.rate_limits.login_failures_per_account
    await limiter.attempt(
        failures, "login-fail", account, message="Too many failed attempts; try again later"
    )
    if not await _verify(current_password, user.password_hash):
        raise IncorrectPassword()
    await limiter.give_back(failures, "login-fail", account)
    if new_password == current_password:
        raise WeakPassword(
            "The new password must differ from the current one", field="new_password"
        )
    ensure_strong_password(
        settings, new_password, field="new_password", user_inputs=[user.email, user.username]
    )
    keep: uuid.UUID | None = None
    if keep_refresh_token:
        row = await repository.get_refresh_token(session, keep_refresh_token)
        if row is not None and row.user_id == user.id and row.revoked_at is None:
            keep = row.family_id
    user.password_hash = await _hash(new_password)
    _revoke_access(user)
    await repository.revoke_user_tokens(session, user.id, now=utcnow(), except_family=keep)
    await audit.record(
        session,
        action="auth.password_changed",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"kept_session": keep is not None},
    )


async def check_email(
    session: AsyncSession, *, settings: Settings, limiter: RateLimiter, email: str
) -> EmailExists:
    """Whether an account uses this address (rate-limited: it answers what login hides)."""
    await limiter.hit(
        settings.rate_limits.check_email_per_ip,
        "check-email-ip",
        _client_key(),
        message="Too many requests; try again later",
    )
    return EmailExists(exists=await repository.email_taken(session, email))


# The caller's own account


def _refuse_service(user: User) -> None:
    if user.is_service:
        raise Forbidden("Service accounts are managed through API keys", code="service_account")


async def update_me(
    session: AsyncSession, *, settings: Settings, user: User, data: UserUpdate
) -> User:
    """Change one's profile; a new email must be verified again."""
    _refuse_service(user)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "username" in changes and changes["username"] != user.username:
        if await repository.username_taken(session, changes["username"], except_id=user.id):
            raise UsernameTaken()
        user.username = changes["username"]
    if "given_name" in changes or "family_name" in changes:
        user.given_name = changes.get("given_name", user.given_name)
        user.family_name = changes.get("family_name", user.family_name)
        user.full_name = join_names(user.given_name, user.family_name) or user.full_name
    if "full_name" in changes:
        user.full_name = changes["full_name"]
    if "preferences" in changes:
        preferences = {
            **default_preferences(),
            **(user.preferences or {}),
            **changes["preferences"],
        }
        user.preferences = preferences  # a new dict, so the JSON column is seen as changed
    old_email = user.email
    email_changed = "email" in changes and changes["email"] != old_email
    if email_changed:
        if await repository.email_taken(session, changes["email"], except_id=user.id):
            raise EmailTaken()
        user.email = changes["email"]
        user.is_verified = False
    await _flush_unique(session)
    if email_changed:
        await _send_token_mail(
            session, settings, user=user, purpose=EmailTokenPurpose.verify_email, email=user.email
        )
        await enqueue(
            session,
            kind=SEND_EMAIL_JOB,
            payload={
                "template": "email_changed",
                "to": old_email,
                "full_name": user.full_name,
                "new_email": user.email,
            },
        )
        await audit.record(
            session,
            action="user.email_changed",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
    return user


async def _delete_account(session: AsyncSession, user: User) -> None:
    for hook in _deletion_hooks:
        await hook(session, user_id=user.id)
    await repository.delete_user(session, user)


async def delete_me(session: AsyncSession, *, user: User) -> None:
    """Delete one's own account and personal data (audit rows stay, they hold only ids)."""
    _refuse_service(user)
    await audit.record(
        session,
        action="user.deleted",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"self": True},
    )
    await _delete_account(session, user)


# Saved prompts


async def list_prompts(
    session: AsyncSession, *, user: User, limit: int, offset: int
) -> tuple[list[SavedPrompt], int]:
    """The caller's saved prompts, newest first."""
    return await repository.list_prompts(session, user.id, limit=limit, offset=offset)


async def get_prompt(session: AsyncSession, *, user: User, prompt_id: uuid.UUID) -> SavedPrompt:
    """One of the caller's prompts; another user's is 404."""
    prompt = await repository.get_prompt(session, user.id, prompt_id)
    if prompt is None:
        raise NotFound("Prompt not found")
    return prompt


async def create_prompt(session: AsyncSession, *, user: User, data: PromptIn) -> SavedPrompt:
    """Save a prompt."""
    prompt = SavedPrompt(user_id=user.id, title=data.title, prompt_text=data.prompt_text)
    session.add(prompt)
    await session.flush()
    return prompt


async def update_prompt(
    session: AsyncSession, *, user: User, prompt_id: uuid.UUID, data: PromptUpdate
) -> SavedPrompt:
    """Edit a saved prompt."""
    prompt = await get_prompt(session, user=user, prompt_id=prompt_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "title" in changes:
        prompt.title = changes["title"]
    if "prompt_text" in changes:
        prompt.prompt_text = changes["prompt_text"]
    await session.flush()
    return prompt


async def delete_prompt(session: AsyncSession, *, user: User, prompt_id: uuid.UUID) -> None:
    """Delete a saved prompt."""
    prompt = await get_prompt(session, user=user, prompt_id=prompt_id)
    await session.delete(prompt)
    await session.flush()


# Names


def join_names(given: str | None, family: str | None) -> str:
    """The full name of a given and a family name (either may be missing)."""
    return " ".join(part for part in (given, family) if part)


def name_parts(user: User) -> tuple[str, str]:
    """(given, family) name: the stored ones, else the full name split at its first space."""
    if user.given_name is not None or user.family_name is not None:
        return user.given_name or "", user.family_name or ""
    given, _, family = user.full_name.partition(" ")
    return given, family


# Audit entries written by clients


async def record_client_event(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    user: User,
    data: ClientAuditIn,
) -> AuditLog:
    """Append an entry the client writes about the caller's own action (`client.<action>`)."""
    await limiter.hit(
        settings.rate_limits.client_audit_per_user,
        "client-audit",
        str(user.id),
        message="Too many audit entries; try again later",
    )
    row = await audit.record(
        session,
        action=CLIENT_AUDIT_PREFIX + data.action,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        details=data.details,
    )
    await session.flush()
    return row


async def own_audit_logs(
    session: AsyncSession, *, user: User, limit: int, offset: int
) -> tuple[list[AuditLog], int]:
    """The audit entries of the caller's own actions (theirs and StudyHall's), newest first."""
    return await list_audit_logs(
        session,
        actor_id=user.id,
        action=None,
        target_type=None,
        since=None,
        until=None,
        limit=limit,
        offset=offset,
    )


async def own_audit_log(session: AsyncSession, *, user: User, log_id: uuid.UUID) -> AuditLog:
    """One entry of the caller's own actions; any other is 404."""
    row = await audit.get_log(session, log_id)
    if row is None or row.actor_id != user.id:
        raise NotFound("Audit log entry not found")
    return row


async def admin_get_audit_log(session: AsyncSession, *, log_id: uuid.UUID) -> AuditLog:
    """Any audit entry by id."""
    row = await audit.get_log(session, log_id)
    if row is None:
        raise NotFound("Audit log entry not found")
    return row


# Administration of users


async def admin_list_users(
    session: AsyncSession,
    *,
    role: Role | None,
    search: str | None,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    """Human accounts, filtered; service accounts stay hidden."""
    return await repository.list_users(
        session, role=role, search=search, is_active=is_active, limit=limit, offset=offset
    )


async def count_users_by_role(session: AsyncSession) -> dict[str, int]:
    """Number of human accounts per role (platform stats)."""
    return await repository.count_users_by_role(session)


async def count_active_users(session: AsyncSession, *, since: datetime) -> int:
    """Human accounts active (logged in or refreshed a session) since a time."""
    return await repository.count_active_users(session, since=since)


async def count_new_users(session: AsyncSession, *, role: Role, since: datetime) -> int:
    """Human accounts of a role created since a time (platform stats)."""
    return await repository.count_new_users(session, role=role, since=since)


async def admin_get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User:
    """A human account by id or 404."""
    user = await repository.get_user(session, user_id)
    if user is None or user.is_service:
        raise NotFound("User not found")
    return user


async def admin_get_user_by_login(session: AsyncSession, *, login: str) -> User:
    """A human account by email or username, or 404 (documents that name users this way)."""
    user = await repository.get_user_by_login(session, login)
    if user is None or user.is_service:
        raise NotFound("User not found")
    return user


async def usernames_by_id(
    session: AsyncSession, *, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """How documents that name users by username show these ids (the email when none is set)."""
    return await repository.usernames_by_id(session, list(set(user_ids)))


async def full_names_by_id(
    session: AsyncSession, *, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """How documents that show people by name show these ids (instructors, students)."""
    return await repository.full_names_by_id(session, list(set(user_ids)))


async def access_token_with_claims(
    session: AsyncSession, *, settings: Settings, user_id: uuid.UUID, claims: dict[str, Any]
) -> str:
    """An access token for a user signed in a moment ago, with a client's informational claims."""
    user = await repository.get_user(session, user_id)
    if user is None or not user.is_active or user.is_service:
        raise InvalidCredentials()
    return issue_access_token(settings, user, extra_claims=claims)


async def admin_create_user(
    session: AsyncSession, *, settings: Settings, actor: User, data: AdminUserCreate
) -> User:
    """Create an account of any role."""
    if await repository.email_taken(session, data.email):
        raise EmailTaken()
    if data.username and await repository.username_taken(session, data.username):
        raise UsernameTaken()
    ensure_strong_password(
        settings, data.password, field="password", user_inputs=[data.email, data.username]
    )
    user = User(
        email=data.email,
        username=data.username,
        full_name=data.full_name,
        password_hash=await _hash(data.password),
        role=data.role,
        is_active=True,
        is_verified=data.is_verified,
        is_service=False,
        hint_level=data.hint_level,
        preferences=default_preferences(),
        auth_version=1,
    )
    session.add(user)
    await _flush_unique(session)
    if not user.is_verified:
        await _send_token_mail(
            session, settings, user=user, purpose=EmailTokenPurpose.verify_email, email=user.email
        )
    await audit.record(
        session,
        action="user.created",
        actor_id=actor.id,
        target_type="user",
        target_id=user.id,
        details={"role": str(user.role)},
    )
    return user


async def admin_update_user(
    session: AsyncSession, *, actor: User, user_id: uuid.UUID, data: AdminUserUpdate
) -> User:
    """Change role, block/unblock, hint level or name; blocking ends every session at once."""
    user = await admin_get_user(session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if user.id == actor.id and (
        changes.get("is_active") is False or changes.get("role", Role.admin) != Role.admin
    ):
        raise SelfModification("You cannot block or demote your own account")
    now = utcnow()
    if "role" in changes and changes["role"] != user.role:
        old = user.role
        user.role = changes["role"]
        _revoke_access(user)  # access tokens carry the role claim
        await audit.record(
            session,
            action="user.role_changed",
            actor_id=actor.id,
            target_type="user",
            target_id=user.id,
            details={"from": str(old), "to": str(user.role)},
        )
    if "is_active" in changes and changes["is_active"] != user.is_active:
        user.is_active = changes["is_active"]
        if not user.is_active:
            _revoke_access(user)
            await repository.revoke_user_tokens(session, user.id, now=now)
        await audit.record(
            session,
            action="user.blocked" if not user.is_active else "user.unblocked",
            actor_id=actor.id,
            target_type="user",
            target_id=user.id,
        )
    updated = {}
    if "hint_level" in changes and changes["hint_level"] != user.hint_level:
        updated["hint_level"] = {"from": user.hint_level, "to": changes["hint_level"]}
        user.hint_level = changes["hint_level"]
    if "full_name" in changes and changes["full_name"] != user.full_name:
        updated["full_name"] = {}
        user.full_name = changes["full_name"]
    if "track" in changes and changes["track"] != user.track:
        updated["track"] = {"from": user.track, "to": changes["track"]}
        user.track = changes["track"]
    if updated:
        await audit.record(
            session,
            action="user.updated",
            actor_id=actor.id,
            target_type="user",
            target_id=user.id,
            details={"fields": updated},
        )
    await session.flush()
    return user


async def admin_delete_user(session: AsyncSession, *, actor: User, user_id: uuid.UUID) -> None:
    """Delete an account."""
    user = await admin_get_user(session, user_id=user_id)
    if user.id == actor.id:
        raise SelfModification("Delete your own account through DELETE /users/me")
    await audit.record(
        session,
        action="user.deleted",
        actor_id=actor.id,
        target_type="user",
        target_id=user.id,
        details={"role": str(user.role)},
    )
    await _delete_account(session, user)


async def admin_reset_password(
    session: AsyncSession, *, settings: Settings, actor: User, user_id: uuid.UUID, new_password: str
) -> None:
    """Set a user's password; every session of the user ends."""
    user = await admin_get_user(session, user_id=user_id)
    ensure_strong_password(
        settings, new_password, field="new_password", user_inputs=[user.email, user.username]
    )
    user.password_hash = await _hash(new_password)
    _revoke_access(user)
    await repository.revoke_user_tokens(session, user.id, now=utcnow())
    await audit.record(
        session,
        action="user.password_reset",
        actor_id=actor.id,
        target_type="user",
        target_id=user.id,
    )


async def list_audit_logs(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    action: str | None,
    target_type: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[AuditLog], int]:
    """The audit log, newest first."""
    return await audit.list_logs(
        session,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


# API keys


def _new_api_key() -> tuple[str, str]:
    """(prefix, full key `sh_<prefix>_<secret>`); the prefix identifies the key in lists."""
    prefix = secrets.token_hex(4)
    return prefix, f"sh_{prefix}_{new_token(32)}"


async def create_api_key(
    session: AsyncSession, *, actor: User, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    """Issue a service key acting through its own service account; the secret is returned once."""
    if current_context().api_key_id is not None:
        # A leaked key must not be able to mint itself successors.
        raise Forbidden("API keys cannot create API keys", code="api_key_scope")
    now = utcnow()
    if data.expires_at is not None and data.expires_at <= now:
        raise FieldInvalid("The expiry must be in the future", field="expires_at")
    prefix, key = _new_api_key()
    service_user = User(
        email=f"key-{prefix}@service.invalid",
        username=None,
        full_name=f"API key: {data.name}"[:200],
        password_hash=_UNUSABLE_PASSWORD,
        role=data.acts_as_role,
        is_active=True,
        is_verified=True,
        is_service=True,
        hint_level=3,
        preferences=default_preferences(),
        auth_version=1,
    )
    session.add(service_user)
    await session.flush()
    api_key = ApiKey(
        name=data.name,
        prefix=prefix,
        key_hash=hash_token(key),
        scopes=list(data.scopes),
        acts_as_role=data.acts_as_role,
        service_user_id=service_user.id,
        created_by=actor.id,
        created_at=now,
        expires_at=data.expires_at,
    )
    session.add(api_key)
    await session.flush()
    await audit.record(
        session,
        action="api_key.created",
        actor_id=actor.id,
        target_type="api_key",
        target_id=api_key.id,
        details={
            "name": data.name,
            "scopes": list(data.scopes),
            "acts_as_role": str(data.acts_as_role),
        },
    )
    return api_key, key


async def list_api_keys(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[ApiKey], int]:
    """Keys that are not revoked, without secrets."""
    return await repository.list_api_keys(session, limit=limit, offset=offset)


async def revoke_api_key(session: AsyncSession, *, actor: User, key_id: uuid.UUID) -> None:
    """Revoke a key at once and disable its service account."""
    api_key = await repository.get_api_key(session, key_id)
    if api_key is None:
        raise NotFound("API key not found")
    if api_key.revoked_at is not None:
        return
    api_key.revoked_at = utcnow()
    service_user = await repository.get_user(session, api_key.service_user_id)
    if service_user is not None:
        service_user.is_active = False
        _revoke_access(service_user)
    await audit.record(
        session,
        action="api_key.revoked",
        actor_id=actor.id,
        target_type="api_key",
        target_id=api_key.id,
        details={"name": api_key.name},
    )
