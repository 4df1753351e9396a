"""A user's deletion: the other domains' reactions (registered by `studyhall.wiring`) and the
deletion itself, for the account holder and for admins alike."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.identity import repository
from studyhall.identity.models import (
    User,
)


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


async def delete_account(session: AsyncSession, user: User) -> None:
    for hook in _deletion_hooks:
        await hook(session, user_id=user.id)
    await repository.delete_user(session, user)
