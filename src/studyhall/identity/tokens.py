"""Access tokens (JWT) for users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.security import encode_jwt
from studyhall.identity.models import User

# Claims a client's document may add to its tokens; never the ones that authenticate.
# The cookie a signed-in browser carries its access token in (set by the web pages, also read by
# the workspace proxy, which browsers reach with the same session).
ACCESS_COOKIE = "sh_access"
_RESERVED = frozenset({"sub", "type", "iss", "aud", "iat", "exp", "jti", "ver"})


def issue_access_token(
    settings: Settings,
    user: User,
    *,
    extra_claims: dict[str, Any] | None = None,
    issued_at: datetime | None = None,
    jti: str | None = None,
) -> str:
    """A short-lived access JWT carrying the role and the user's auth version.

    `extra_claims` are informational claims an older client reads from its token (a display
    role, the user's subjects); the server authorizes from the user row, never from them.
    """
    extra = {k: v for k, v in (extra_claims or {}).items() if k not in _RESERVED}
    token, _ = encode_jwt(
        subject=str(user.id),
        token_type="access",
        secret=settings.jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        now=issued_at or utcnow(),
        ttl_s=settings.access_token_ttl_s,
        claims={"role": str(user.role), **extra, "ver": user.auth_version},
        jti=jti,
    )
    return token
