"""Service API keys, each acting through a service account of its own."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.context import current_context
from studyhall.core.errors import Forbidden, NotFound
from studyhall.core.security import (
    hash_token,
    new_token,
)
from studyhall.identity import repository
from studyhall.identity.account_audit import record_admin_change
from studyhall.identity.credentials import revoke_access
from studyhall.identity.errors import (
    FieldInvalid,
)
from studyhall.identity.models import (
    ApiKey,
    User,
    new_user,
)
from studyhall.identity.schemas import (
    ApiKeyCreate,
)

_UNUSABLE_PASSWORD = "!service-account-no-password"


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
    service_user = new_user(
        email=f"key-{prefix}@service.invalid",
        full_name=f"API key: {data.name}"[:200],
        password_hash=_UNUSABLE_PASSWORD,
        role=data.acts_as_role,
        is_verified=True,
        is_service=True,
    )
    session.add(service_user)
    await session.flush()
    api_key = ApiKey(
        # The request's fields (name, scopes, acts_as_role, expires_at) are the key's own.
        **data.model_dump(),
        prefix=prefix,
        key_hash=hash_token(key),
        service_user_id=service_user.id,
        created_by=actor.id,
        created_at=now,
    )
    session.add(api_key)
    await session.flush()
    await record_admin_change(
        session,
        "api_key.created",
        actor,
        api_key,
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
        revoke_access(service_user)
    await record_admin_change(
        session, "api_key.revoked", actor, api_key, details={"name": api_key.name}
    )
