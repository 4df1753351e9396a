"""All SQL of the identity domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.pagination import paginate
from studyhall.core.security import hash_token
from studyhall.identity.models import (
    ApiKey,
    EmailToken,
    EmailTokenPurpose,
    RefreshToken,
    Role,
    SavedPrompt,
    User,
)


def escape_like(value: str) -> str:
    """Make a user's search text match literally inside LIKE."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """A user by id."""
    return await session.get(User, user_id)


async def get_user_by_login(session: AsyncSession, login: str) -> User | None:
    """A user by email (case-insensitive) or username."""
    login = login.strip()
    lowered = login.lower()
    # Usernames are stored lower-case by the API; the exact form covers accounts made otherwise.
    return await session.scalar(
        select(User).where(
            or_(User.email == lowered, User.username == lowered, User.username == login)
        )
    )


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """A user by email (case-insensitive)."""
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def delete_user(session: AsyncSession, user: User) -> None:
    """Delete an account; its tokens, mailed tokens and saved prompts go with it (FK cascade)."""
    await session.delete(user)
    await session.flush()


async def email_taken(
    session: AsyncSession, email: str, *, except_id: uuid.UUID | None = None
) -> bool:
    """Whether another account uses this email."""
    query = select(User.id).where(User.email == email.lower())
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.scalar(query.limit(1))) is not None


async def username_taken(
    session: AsyncSession, username: str, *, except_id: uuid.UUID | None = None
) -> bool:
    """Whether another account uses this username."""
    query = select(User.id).where(User.username == username)
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.scalar(query.limit(1))) is not None


async def list_users(
    session: AsyncSession,
    *,
    role: Role | None,
    search: str | None,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    """Filtered page of human accounts."""
    query = select(User).where(User.is_service.is_(False))
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    if search:
        pattern = f"%{escape_like(search.lower())}%"
        query = query.where(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
                func.lower(User.username).like(pattern, escape="\\"),
            )
        )
    return await paginate(
        session, query, order_by=[User.created_at, User.id], limit=limit, offset=offset
    )


async def count_users_by_role(session: AsyncSession) -> dict[str, int]:
    """Number of human accounts per role."""
    rows = await session.execute(
        select(User.role, func.count()).where(User.is_service.is_(False)).group_by(User.role)
    )
    return {str(role): int(n) for role, n in rows.all()}


async def count_active_users(session: AsyncSession, *, since: datetime) -> int:
    """Human accounts active since a time."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_service.is_(False), User.last_active_at >= since)
        )
        or 0
    )


async def count_new_users(session: AsyncSession, *, role: Role, since: datetime) -> int:
    """Human accounts of a role created since a time."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_service.is_(False), User.role == role, User.created_at >= since)
        )
        or 0
    )


# Refresh tokens


async def get_refresh_token(
    session: AsyncSession, token: str, *, lock: bool = False
) -> RefreshToken | None:
    """A refresh token row by its secret."""
    query = select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def mark_refresh_used(session: AsyncSession, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Consume a refresh token once; False when another request already used it."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, *, now: datetime) -> None:
    """Revoke every token of a login session."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_tokens(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    now: datetime,
    except_family: uuid.UUID | None = None,
) -> None:
    """Revoke every refresh token of a user (optionally keeping the current session)."""
    query = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if except_family is not None:
        query = query.where(RefreshToken.family_id != except_family)
    await session.execute(query.values(revoked_at=now))


# Email tokens


async def get_email_token(
    session: AsyncSession, token: str, purpose: EmailTokenPurpose
) -> EmailToken | None:
    """A mailed token by its secret and purpose."""
    return await session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == hash_token(token), EmailToken.purpose == purpose
        )
    )


async def consume_email_token(session: AsyncSession, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Use a mailed token once; False when it was already used."""
    result = await session.execute(
        update(EmailToken)
        .where(EmailToken.id == token_id, EmailToken.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_email_token_by_id(session: AsyncSession, token_id: uuid.UUID) -> EmailToken | None:
    """A mailed token by id (the mail job renders it)."""
    return await session.get(EmailToken, token_id)


async def invalidate_email_tokens(
    session: AsyncSession, user_id: uuid.UUID, purpose: EmailTokenPurpose, *, now: datetime
) -> None:
    """Retire the earlier tokens of a purpose when a new one is sent."""
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=now)
    )


async def count_email_tokens_since(
    session: AsyncSession, user_id: uuid.UUID, purpose: EmailTokenPurpose, *, since: datetime
) -> int:
    """How many tokens of a purpose the user was sent since a moment (used or not)."""
    count = await session.scalar(
        select(func.count())
        .select_from(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.created_at >= since,
        )
    )
    return int(count or 0)


# Saved prompts


async def list_prompts(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[SavedPrompt], int]:
    """A user's saved prompts."""
    query = select(SavedPrompt).where(SavedPrompt.user_id == user_id)
    return await paginate(
        session,
        query,
        order_by=[SavedPrompt.created_at.desc(), SavedPrompt.id],
        limit=limit,
        offset=offset,
    )


async def get_prompt(
    session: AsyncSession, user_id: uuid.UUID, prompt_id: uuid.UUID
) -> SavedPrompt | None:
    """A saved prompt, only if it belongs to the user."""
    return await session.scalar(
        select(SavedPrompt).where(SavedPrompt.id == prompt_id, SavedPrompt.user_id == user_id)
    )


# API keys


async def find_active_api_key(session: AsyncSession, key: str, *, now: datetime) -> ApiKey | None:
    """The unrevoked, unexpired key with this secret."""
    api_key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_token(key)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return None
    return api_key


async def list_api_keys(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[ApiKey], int]:
    """Unrevoked keys, newest first."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    return await paginate(
        session, query, order_by=[ApiKey.created_at.desc()], limit=limit, offset=offset
    )


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    """An API key by id."""
    return await session.get(ApiKey, key_id)


async def full_names_by_id(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The full name of each user id."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.full_name).where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows.all()}


async def usernames_by_id(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The username (or, without one, the email) of each user id."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User.id, User.username, User.email).where(User.id.in_(user_ids))
    )
    return {user_id: username or email for user_id, username, email in rows.all()}
