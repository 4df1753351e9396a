"""Users and their credentials."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.models import Base, IdMixin, TimestampMixin


class Role(enum.StrEnum):
    student = "student"
    teacher = "teacher"
    admin = "admin"


def default_preferences() -> dict[str, Any]:
    """Preferences of a new account."""
    return {"theme": "system", "notifications": True, "language": "en"}


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Given and family name, for clients that keep them apart; when set, full_name is both.
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, validate_strings=True), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    is_verified: Mapped[bool] = mapped_column(default=False)
    # Service accounts stand behind API keys; they cannot log in and are hidden from user lists.
    is_service: Mapped[bool] = mapped_column(default=False)
    hint_level: Mapped[int] = mapped_column(default=3)
    # A bootcamp's programme the learner follows (e.g. "DP"); free text chosen at sign-up.
    track: Mapped[str | None] = mapped_column(String(32))
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=default_preferences)
    # Bumped on password change/reset and block: access tokens carry it and die at once.
    auth_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]
    last_active_at: Mapped[datetime | None]


def new_user(
    *,
    email: str,
    full_name: str,
    password_hash: str,
    role: Role,
    is_verified: bool,
    username: str | None = None,
    is_service: bool = False,
    hint_level: int = 3,
    given_name: str | None = None,
    family_name: str | None = None,
    track: str | None = None,
) -> User:
    """A new active account, with what every way of creating one shares (preferences, version).

    The columns have defaults too; setting them here keeps the object complete before its first
    flush, as each creator (sign-up, admin, invitation, SSO, API key) did on its own before.
    """
    return User(
        email=email,
        username=username,
        full_name=full_name,
        given_name=given_name,
        family_name=family_name,
        password_hash=password_hash,
        role=role,
        is_active=True,
        is_verified=is_verified,
        is_service=is_service,
        hint_level=hint_level,
        track=track,
        preferences=default_preferences(),
        auth_version=1,
    )


class RefreshToken(IdMixin, Base):
    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class EmailTokenPurpose(enum.StrEnum):
    verify_email = "verify_email"
    reset_password = "reset_password"


class EmailToken(IdMixin, Base):
    """Single-use, expiring tokens sent by mail."""

    __tablename__ = "email_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[EmailTokenPurpose] = mapped_column(
        Enum(EmailTokenPurpose, native_enum=False, length=32)
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SavedPrompt(IdMixin, TimestampMixin, Base):
    __tablename__ = "saved_prompts"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    prompt_text: Mapped[str] = mapped_column(Text)


class ApiKey(IdMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_prefix", "prefix"),)

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    acts_as_role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    service_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


# External sign-in tables live in identity/oauth; importing them here registers them with the
# metadata wherever identity's models are loaded (Alembic, the test harness).
from studyhall.identity.oauth import models as _oauth_models  # noqa: E402, F401
