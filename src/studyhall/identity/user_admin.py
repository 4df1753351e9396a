"""Administration of users (admins), and the look-ups other domains make about users."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.audit.models import AuditLog
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.errors import NotFound
from studyhall.identity import repository
from studyhall.identity.account_audit import record_account_event
from studyhall.identity.credentials import (
    ensure_strong_password,
    hash_secret,
    revoke_access,
)
from studyhall.identity.deletion import delete_account
from studyhall.identity.errors import (
    InvalidCredentials,
    SelfModification,
)
from studyhall.identity.models import (
    Role,
    User,
)
from studyhall.identity.schemas import (
    AdminUserCreate,
    AdminUserUpdate,
)
from studyhall.identity.sign_in import new_password_account
from studyhall.identity.tokens import issue_access_token


async def admin_get_audit_log(session: AsyncSession, *, log_id: uuid.UUID) -> AuditLog:
    """Any audit entry by id."""
    row = await audit.get_log(session, log_id)
    if row is None:
        raise NotFound("Audit log entry not found")
    return row


# Human accounts filtered by role, text and state, a page of them and their total (service
# accounts stay hidden): the repository's query, with nothing to add.
admin_list_users = repository.list_users


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


async def ids_by_email(session: AsyncSession, *, emails: list[str]) -> dict[str, uuid.UUID]:
    """The id of each account with one of these emails (keys lower-cased)."""
    return await repository.ids_by_email(session, emails)


async def existing_user_ids(session: AsyncSession, *, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ids are accounts."""
    return await repository.existing_ids(session, list(set(user_ids)))


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
    user = await new_password_account(session, settings, data=data)
    await record_account_event(
        session, "user.created", user.id, by=actor.id, details={"role": str(user.role)}
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
        revoke_access(user)  # access tokens carry the role claim
        await record_account_event(
            session,
            "user.role_changed",
            user.id,
            by=actor.id,
            details={"from": str(old), "to": str(user.role)},
        )
    if "is_active" in changes and changes["is_active"] != user.is_active:
        user.is_active = changes["is_active"]
        if not user.is_active:
            revoke_access(user)
            await repository.revoke_user_tokens(session, user.id, now=now)
        await record_account_event(
            session,
            "user.blocked" if not user.is_active else "user.unblocked",
            user.id,
            by=actor.id,
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
        await record_account_event(
            session, "user.updated", user.id, by=actor.id, details={"fields": updated}
        )
    await session.flush()
    return user


async def admin_delete_user(session: AsyncSession, *, actor: User, user_id: uuid.UUID) -> None:
    """Delete an account."""
    user = await admin_get_user(session, user_id=user_id)
    if user.id == actor.id:
        raise SelfModification("Delete your own account through DELETE /users/me")
    await record_account_event(
        session, "user.deleted", user.id, by=actor.id, details={"role": str(user.role)}
    )
    await delete_account(session, user)


async def admin_reset_password(
    session: AsyncSession, *, settings: Settings, actor: User, user_id: uuid.UUID, new_password: str
) -> None:
    """Set a user's password; every session of the user ends."""
    user = await admin_get_user(session, user_id=user_id)
    ensure_strong_password(
        settings, new_password, field="new_password", user_inputs=[user.email, user.username]
    )
    user.password_hash = await hash_secret(new_password)
    revoke_access(user)
    await repository.revoke_user_tokens(session, user.id, now=utcnow())
    await record_account_event(session, "user.password_reset", user.id, by=actor.id)
