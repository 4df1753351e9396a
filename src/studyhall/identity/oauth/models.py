"""External identities, pending authorizations, spent ID tokens and SSO-only email domains."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.models import Base, IdMixin


class OAuthAccount(IdMixin, Base):
    """A user's identity at a provider; (issuer, subject) is what the provider vouches for."""

    __tablename__ = "oauth_accounts"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    # The configured provider's name (settings), kept for display and for unlinking.
    provider: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The address the provider gave at the last sign-in (informational, never used to match).
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class OAuthLoginState(IdMixin, Base):
    """An authorization in progress: state, nonce and PKCE verifier kept server-side, used once."""

    __tablename__ = "oauth_login_states"

    # Only a hash of `state` is stored: a database reader cannot finish someone's sign-in.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    # Set when a signed-in user started the authorization to link this identity to the account.
    link_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class OAuthUsedIdToken(IdMixin, Base):
    """ID tokens already exchanged on the id-token route, kept until they expire (no replay)."""

    __tablename__ = "oauth_used_id_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SSODomain(IdMixin, Base):
    """An email domain whose users must sign in through a provider, never with a password."""

    __tablename__ = "sso_domains"

    domain: Mapped[str] = mapped_column(String(255), unique=True)
    # The provider they are pointed to (informational; any configured provider may sign them in).
    provider: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
