"""Access tokens whose claims were verified once are still checked on every use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from studyhall.core.security import decode_jwt, encode_jwt

SECRET = "a-test-secret-0123456789-abcdefghijklmnop"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _token(**overrides: object) -> str:
    fields: dict[str, object] = {
        "subject": "user-1",
        "token_type": "access",
        "secret": SECRET,
        "issuer": "studyhall",
        "audience": "studyhall-api",
        "now": NOW,
        "ttl_s": 60,
    }
    fields.update(overrides)
    token, _ = encode_jwt(**fields)  # type: ignore[arg-type]
    return token


def _decode(token: str, *, now: datetime = NOW, **overrides: str) -> dict[str, object]:
    fields = {
        "token_type": "access",
        "secret": SECRET,
        "issuer": "studyhall",
        "audience": "studyhall-api",
    }
    fields.update(overrides)
    return decode_jwt(token, now=now, **fields)


def test_a_token_accepted_once_is_refused_once_expired() -> None:
    token = _token()
    assert _decode(token)["sub"] == "user-1"
    with pytest.raises(jwt.ExpiredSignatureError):
        _decode(token, now=NOW + timedelta(seconds=61))


def test_a_token_accepted_once_is_refused_as_another_type_or_under_another_key() -> None:
    token = _token()
    assert _decode(token)["sub"] == "user-1"
    with pytest.raises(jwt.InvalidTokenError):
        _decode(token, token_type="refresh")
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(token, secret="another-secret-0123456789-abcdefghijklmnop")
    with pytest.raises(jwt.InvalidAudienceError):
        _decode(token, audience="another-audience")


def test_a_tampered_copy_of_an_accepted_token_is_refused() -> None:
    token = _token()
    _decode(token)
    header, _payload, signature = token.split(".")
    forged_payload = _token(subject="user-2").split(".")[1]
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(f"{header}.{forged_payload}.{signature}")


def test_callers_cannot_change_what_the_next_use_sees() -> None:
    token = _token()
    _decode(token)["sub"] = "someone-else"
    assert _decode(token)["sub"] == "user-1"
