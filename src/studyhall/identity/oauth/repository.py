"""All SQL of external sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.pagination import paginate
from studyhall.core.security import hash_token
from studyhall.identity.oauth.models import (
    OAuthAccount,
    OAuthLoginState,
    OAuthUsedIdToken,
    SSODomain,
)


async def get_account(session: AsyncSession, issuer: str, subject: str) -> OAuthAccount | None:
    """The identity a provider vouches for, by (issuer, subject)."""
    return await session.scalar(
        select(OAuthAccount).where(OAuthAccount.issuer == issuer, OAuthAccount.subject == subject)
    )


async def list_accounts(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[OAuthAccount], int]:
    """A user's linked identities, oldest first."""
    query = select(OAuthAccount).where(OAuthAccount.user_id == user_id)
    return await paginate(
        session,
        query,
        order_by=[OAuthAccount.created_at, OAuthAccount.id],
        limit=limit,
        offset=offset,
    )


async def count_accounts(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many identities a user has linked."""
    total = await session.scalar(
        select(func.count()).select_from(OAuthAccount).where(OAuthAccount.user_id == user_id)
    )
    return int(total or 0)


async def get_user_account(
    session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID
) -> OAuthAccount | None:
    """One of a user's identities (another user's is None)."""
    return await session.scalar(
        select(OAuthAccount).where(OAuthAccount.id == account_id, OAuthAccount.user_id == user_id)
    )


async def delete_expired_states(session: AsyncSession, *, now: datetime) -> None:
    """Drop authorizations that can no longer come back."""
    await session.execute(delete(OAuthLoginState).where(OAuthLoginState.expires_at <= now))


async def get_state(session: AsyncSession, state: str) -> OAuthLoginState | None:
    """A pending authorization by its state value."""
    return await session.scalar(
        select(OAuthLoginState).where(OAuthLoginState.state_hash == hash_token(state))
    )


async def use_state(session: AsyncSession, state_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark a state used; False when another request used it first (single use under races)."""
    result = await session.execute(
        update(OAuthLoginState)
        .where(OAuthLoginState.id == state_id, OAuthLoginState.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def spend_id_token(session: AsyncSession, id_token: str, *, expires_at: datetime) -> bool:
    """Record an ID token as used; False when it was already (a replay)."""
    token_hash = hash_token(id_token)
    exists = await session.scalar(
        select(OAuthUsedIdToken.id).where(OAuthUsedIdToken.token_hash == token_hash)
    )
    if exists is not None:
        return False
    session.add(OAuthUsedIdToken(token_hash=token_hash, expires_at=expires_at))
    await session.flush()
    return True


async def delete_spent_id_tokens(session: AsyncSession, *, now: datetime) -> None:
    """Forget used ID tokens that have expired anyway."""
    await session.execute(delete(OAuthUsedIdToken).where(OAuthUsedIdToken.expires_at <= now))


async def get_sso_domain(session: AsyncSession, domain: str) -> SSODomain | None:
    """The SSO requirement of an email domain, if any."""
    return await session.scalar(select(SSODomain).where(SSODomain.domain == domain.lower()))


async def get_sso_domain_by_id(session: AsyncSession, domain_id: uuid.UUID) -> SSODomain | None:
    """An SSO requirement by id."""
    return await session.get(SSODomain, domain_id)


async def list_sso_domains(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[SSODomain], int]:
    """Domains that must use single sign-on, alphabetically."""
    query = select(SSODomain)
    return await paginate(session, query, order_by=[SSODomain.domain], limit=limit, offset=offset)
