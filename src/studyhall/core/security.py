"""Password hashing, JWTs and opaque secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

JWT_ALGORITHM = "HS256"  # fixed server-side: the token's own "alg" header is never trusted

# OWASP minimum for argon2id: m=19 MiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


@lru_cache
def password_hasher() -> PasswordHash:
    """The argon2id hasher at OWASP's minimum parameters."""
    return PasswordHash(
        (
            Argon2Hasher(
                memory_cost=ARGON2_MEMORY_KIB,
                time_cost=ARGON2_TIME_COST,
                parallelism=ARGON2_PARALLELISM,
            ),
        )
    )


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return password_hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Check a password against its hash in constant time."""
    try:
        return password_hasher().verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed check, never a crash
        return False


@lru_cache
def dummy_hash() -> str:
    """A real hash to verify against when the account does not exist (equal timing)."""
    return hash_password(secrets.token_urlsafe(16))


def new_token(nbytes: int = 32) -> str:
    """An opaque URL-safe secret."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """SHA-256 of a high-entropy opaque token (refresh, reset, API key); enough for lookup."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


def encode_jwt(
    *,
    subject: str,
    token_type: str,
    secret: str,
    issuer: str,
    audience: str,
    now: datetime,
    ttl_s: int,
    claims: dict[str, Any] | None = None,
    jti: str | None = None,
) -> tuple[str, str]:
    """Sign a JWT; returns (token, jti). A given jti (with the same `now`) signs the same token."""
    jti = jti or uuid.uuid4().hex
    payload: dict[str, Any] = {
        "sub": subject,
        "type": token_type,
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
        "jti": jti,
        **(claims or {}),
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), jti


def decode_jwt(
    token: str, *, token_type: str, secret: str, issuer: str, audience: str, now: datetime
) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience, expiry and type; raises jwt.InvalidTokenError."""
    payload = dict(_verified_claims(token, secret, issuer, audience))
    # Expiry is checked against the shared clock so tests can move time (and on every use: the
    # cache below keeps only what cannot change for a given token string).
    if payload["exp"] <= int(now.timestamp()):
        raise jwt.ExpiredSignatureError("token expired")
    if payload.get("type") != token_type:
        raise jwt.InvalidTokenError("wrong token type")
    return payload


# A client sends the same access token on every request until it expires; PyJWT's checks of its
# signature, base64 segments and claims cost ~0.1 ms, a tenth of an authenticated read's CPU.
# The claims of a token string that passed them cannot change, so they are kept per token
# (bounded; expiry and type are still checked on every use, and an invalid token is never kept:
# an exception is not cached). Keyed on the secret, issuer and audience too.
_VERIFIED_TOKENS = 4096


@lru_cache(maxsize=_VERIFIED_TOKENS)
def _verified_claims(token: str, secret: str, issuer: str, audience: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=[JWT_ALGORITHM],
        issuer=issuer,
        audience=audience,
        options={
            "require": ["exp", "iat", "sub", "jti", "type"],
            "verify_exp": False,
            "verify_iat": False,
        },
    )
    return payload
