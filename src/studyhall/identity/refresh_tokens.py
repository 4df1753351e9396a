"""A new session: its refresh token row and the token pair handed out (password and SSO sign-in,
refresh rotation)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.context import current_context
from studyhall.core.security import hash_token, new_token
from studyhall.identity.models import RefreshToken, User
from studyhall.identity.schemas import TokenPair, UserOut
from studyhall.identity.tokens import issue_access_token


def add_refresh_token(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    family_id: uuid.UUID,
    refresh: str,
    now: datetime,
) -> None:
    """Store a refresh token of the session family (its hash only), with the caller's address."""
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


def token_pair(
    session: AsyncSession, settings: Settings, user: User, *, family_id: uuid.UUID
) -> TokenPair:
    """A new access token and a new refresh token in the given session family."""
    refresh = new_token(32)
    add_refresh_token(session, settings, user, family_id=family_id, refresh=refresh, now=utcnow())
    return TokenPair(
        access_token=issue_access_token(settings, user),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
        user=UserOut.model_validate(user),
    )
