"""The audit entries identity writes: about an account (target type `user`), and about what an
administrator changes in sign-in itself (API keys, SSO-only domains)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.audit.models import AuditLog
from studyhall.identity.models import ApiKey, User
from studyhall.identity.oauth.models import SSODomain


async def record_account_event(
    session: AsyncSession,
    action: str,
    user_id: uuid.UUID,
    *,
    by: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """One audit row about an account, in the caller's unit of work: done by `by` (an
    administrator), or by the account's owner when `by` is not given."""
    return await audit.record(
        session,
        action=action,
        actor_id=user_id if by is None else by,
        target_type="user",
        target_id=user_id,
        details=details,
    )


# The audit log's name for each kind of object an administrator changes in sign-in.
_TARGET_TYPES: dict[type[ApiKey | SSODomain], str] = {ApiKey: "api_key", SSODomain: "sso_domain"}


async def record_admin_change(
    session: AsyncSession,
    action: str,
    admin: User,
    target: ApiKey | SSODomain,
    *,
    details: dict[str, Any],
) -> None:
    """One audit row about what an administrator did to an API key or an SSO-only domain, in
    the caller's unit of work."""
    await audit.record_on(session, admin, _TARGET_TYPES[type(target)], target, action, details)
