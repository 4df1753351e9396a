"""Accounts made for someone else: a teacher adds a student who has no account yet.

The account is a verified-on-first-use student: it gets an unguessable password nobody knows and
a mailed set-password link; following that link proves the address (as a password reset does).
"""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import Settings
from studyhall.identity import repository
from studyhall.identity.account_audit import record_account_event
from studyhall.identity.credentials import flush_unique, hash_secret
from studyhall.identity.mail_tokens import send_token_mail
from studyhall.identity.models import EmailTokenPurpose, Role, User, new_user


async def find_or_invite(
    session: AsyncSession, *, settings: Settings, actor: User, email: str, full_name: str | None
) -> tuple[User, bool]:
    """The account with this email, or a new invited student account (True when created)."""
    existing = await repository.get_user_by_email(session, email)
    if existing is not None:
        return existing, False
    user = new_user(
        email=email,
        full_name=(full_name or email.split("@", 1)[0])[:200],
        password_hash=await hash_secret(secrets.token_urlsafe(32)),
        role=Role.student,
        is_verified=False,
    )
    session.add(user)
    await flush_unique(session)
    await send_token_mail(
        session,
        settings,
        user=user,
        purpose=EmailTokenPurpose.reset_password,
        email=user.email,
        template="invitation",
    )
    await record_account_event(session, "user.invited", user.id, by=actor.id)
    return user, True
