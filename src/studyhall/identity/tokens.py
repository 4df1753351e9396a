"""Access tokens (JWT) for users."""

from __future__ import annotations

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.security import encode_jwt
from studyhall.identity.models import User


def issue_access_token(settings: Settings, user: User) -> str:
    """A short-lived access JWT carrying the role and the user's auth version."""
    token, _ = encode_jwt(
        subject=str(user.id),
        token_type="access",
        secret=settings.jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        now=utcnow(),
        ttl_s=settings.access_token_ttl_s,
        claims={"role": str(user.role), "ver": user.auth_version},
    )
    return token
