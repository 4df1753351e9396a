"""The caller's own account: profile, password, deletion, and the audit entries clients write."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.audit.models import AuditLog
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.errors import Forbidden, NotFound
from studyhall.core.ratelimit import RateLimiter
from studyhall.identity import repository
from studyhall.identity.account_audit import record_account_event
from studyhall.identity.credentials import (
    ensure_strong_password,
    flush_unique,
    hash_secret,
    revoke_access,
    verify_secret,
)
from studyhall.identity.deletion import delete_account
from studyhall.identity.errors import (
    EmailTaken,
    IncorrectPassword,
    UsernameTaken,
    WeakPassword,
)
from studyhall.identity.mail_tokens import SEND_EMAIL_JOB, send_verification_mail
from studyhall.identity.models import (
    User,
    default_preferences,
)
from studyhall.identity.schemas import (
    CLIENT_AUDIT_PREFIX,
    ClientAuditIn,
    PasswordChangeIn,
    UserUpdate,
)
from studyhall.jobs.service import enqueue


async def change_password(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    user: User,
    data: PasswordChangeIn,
) -> None:
    """Replace the password; other sessions end (but the one of `data.refresh_token`) and every
    access token must be refreshed."""
    current_password, new_password = data.current_password, data.new_password
    if user.is_service:
        raise Forbidden("Service accounts have no password")
    account = f"user:{user.id}"
    failures = settings.rate_limits.login_failures_per_account
    await limiter.attempt(
        failures, "login-fail", account, message="Too many failed attempts; try again later"
    )
    if not await verify_secret(current_password, user.password_hash):
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
    if data.refresh_token:
        row = await repository.get_refresh_token(session, data.refresh_token)
        if row is not None and row.user_id == user.id and row.revoked_at is None:
            keep = row.family_id
    user.password_hash = await hash_secret(new_password)
    revoke_access(user)
    await repository.revoke_user_tokens(session, user.id, now=utcnow(), except_family=keep)
    await record_account_event(
        session, "auth.password_changed", user.id, details={"kept_session": keep is not None}
    )


def refuse_service(user: User) -> None:
    if user.is_service:
        raise Forbidden("Service accounts are managed through API keys", code="service_account")


async def update_me(
    session: AsyncSession, *, settings: Settings, user: User, data: UserUpdate
) -> User:
    """Change one's profile; a new email must be verified again."""
    refuse_service(user)
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
    await flush_unique(session)
    if email_changed:
        await send_verification_mail(session, settings, user)
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
        await record_account_event(session, "user.email_changed", user.id)
    return user


async def delete_me(session: AsyncSession, *, user: User) -> None:
    """Delete one's own account and personal data (audit rows stay, they hold only ids)."""
    refuse_service(user)
    await record_account_event(session, "user.deleted", user.id, details={"self": True})
    await delete_account(session, user)


def join_names(given: str | None, family: str | None) -> str:
    """The full name of a given and a family name (either may be missing)."""
    return " ".join(part for part in (given, family) if part)


def name_parts(user: User) -> tuple[str, str]:
    """(given, family) name: the stored ones, else the full name split at its first space."""
    if user.given_name is not None or user.family_name is not None:
        return user.given_name or "", user.family_name or ""
    given, _, family = user.full_name.partition(" ")
    return given, family


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
    return await audit.list_logs(session, actor_id=user.id, limit=limit, offset=offset)


async def own_audit_log(session: AsyncSession, *, user: User, log_id: uuid.UUID) -> AuditLog:
    """One entry of the caller's own actions; any other is 404."""
    row = await audit.get_log(session, log_id)
    if row is None or row.actor_id != user.id:
        raise NotFound("Audit log entry not found")
    return row
