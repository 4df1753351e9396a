"""Forged, expired and misused access tokens are all 401 with WWW-Authenticate: Bearer."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from studyhall.config import Settings
from studyhall.core.clock import clock, utcnow
from studyhall.identity.models import User
from studyhall.identity.tokens import issue_access_token
from tests.identity.conftest import API, Login, bearer


def _claims(settings: Settings, user: User, **overrides: Any) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "type": "access",
        "role": "admin",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "ver": user.auth_version,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(settings: Settings, claims: dict[str, Any], **kwargs: Any) -> str:
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256", **kwargs)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


Forge = Callable[[Settings, User], str]


def _alg_none(settings: Settings, user: User) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings, user))}."


def _alg_none_pyjwt(settings: Settings, user: User) -> str:
    return jwt.encode(_claims(settings, user), None, algorithm="none")  # type: ignore[arg-type]


def _wrong_key(settings: Settings, user: User) -> str:
    return jwt.encode(
        _claims(settings, user), "another-secret-of-sufficient-length", algorithm="HS256"
    )


def _other_algorithm(settings: Settings, user: User) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test secret is short for HS512; irrelevant here
        return jwt.encode(_claims(settings, user), settings.jwt_secret, algorithm="HS512")


def _wrong_audience(settings: Settings, user: User) -> str:
    return _sign(settings, _claims(settings, user, aud="another-api"))


def _wrong_issuer(settings: Settings, user: User) -> str:
    return _sign(settings, _claims(settings, user, iss="evil-issuer"))


def _refresh_type(settings: Settings, user: User) -> str:
    return _sign(settings, _claims(settings, user, type="refresh"))


def _no_type(settings: Settings, user: User) -> str:
    claims = _claims(settings, user)
    del claims["type"]
    return _sign(settings, claims)


def _expired_claims(settings: Settings, user: User) -> str:
    past = int(utcnow().timestamp()) - 3600
    return _sign(settings, _claims(settings, user, iat=past - 900, exp=past))


def _tampered(settings: Settings, user: User) -> str:
    header, payload, signature = issue_access_token(settings, user).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(uuid.uuid4())
    return f"{header}.{_b64(claims)}.{signature}"


def _unknown_subject(settings: Settings, user: User) -> str:
    return _sign(settings, _claims(settings, user, sub=str(uuid.uuid4())))


def _malformed_subject(settings: Settings, user: User) -> str:
    return _sign(settings, _claims(settings, user, sub="not-a-uuid"))


def _stale_version(settings: Settings, user: User) -> str:
    return _sign(settings, _claims(settings, user, ver=user.auth_version - 1))


def _garbage(settings: Settings, user: User) -> str:
    return "not.a.jwt"


FORGERIES: dict[str, Forge] = {
    "alg_none": _alg_none,
    "alg_none_pyjwt": _alg_none_pyjwt,
    "wrong_key": _wrong_key,
    "other_algorithm": _other_algorithm,
    "wrong_audience": _wrong_audience,
    "wrong_issuer": _wrong_issuer,
    "refresh_type": _refresh_type,
    "no_type": _no_type,
    "expired": _expired_claims,
    "tampered": _tampered,
    "unknown_subject": _unknown_subject,
    "malformed_subject": _malformed_subject,
    "stale_version": _stale_version,
    "garbage": _garbage,
}


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_tokens_are_refused(
    name: str, client: httpx.AsyncClient, settings: Settings, admin: User
) -> None:
    token = FORGERIES[name](settings, admin)
    for path in ("/users/me", "/admin/users"):
        response = await client.get(f"{API}{path}", headers=bearer(token))
        assert response.status_code == 401, (name, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] in ("invalid_token", "token_revoked")


async def test_the_genuine_token_works(
    client: httpx.AsyncClient, settings: Settings, admin: User
) -> None:
    response = await client.get(
        f"{API}/admin/users", headers=bearer(_sign(settings, _claims(settings, admin)))
    )
    assert response.status_code == 200


async def test_token_expires_with_the_clock(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    pair = await login(student.email)
    clock.advance(timedelta(seconds=pair["expires_in"] + 1))
    response = await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, student: User, login: Login
) -> None:
    pair = await login(student.email)
    response = await client.get(f"{API}/users/me", headers=bearer(pair["refresh_token"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_access_token_claims(settings: Settings, student: User, login: Login) -> None:
    pair = await login(student.email)
    claims = jwt.decode(
        pair["access_token"],
        settings.jwt_secret,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert set(claims) >= {"sub", "role", "exp", "iat", "jti", "type", "iss", "aud", "ver"}
    assert claims["type"] == "access" and claims["role"] == "student"
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_s
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "HS256"
