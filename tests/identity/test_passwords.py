"""The password policy and hashing parameters."""

from __future__ import annotations

from typing import Any

import pytest

from studyhall.core.security import hash_password
from studyhall.identity.passwords import MAX_PASSWORD_LENGTH, common_passwords, password_problem


def test_common_list_is_bundled_and_large() -> None:
    common = common_passwords()
    assert len(common) >= 1000
    assert {"123456", "password", "qwerty", "iloveyou", "1q2w3e4r"} <= common
    assert all(p == p.lower() and p.strip() == p for p in common)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 10"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most"),
        ("1234567890", "too common"),
        ("QWERTYUIOP", "too common"),
        ("Password2024!", "too common"),
        ("!!monkey12345", "too common"),
        ("abababababab", "too few different"),
        ("1111122222", "too few different"),
        ("johnsmith-rules-42", "email address or username"),
        ("I-am-Jsmith-2024", "email address or username"),
    ],
)
def test_refused(password: str, problem: str) -> None:
    message = password_problem(
        password, min_length=10, user_inputs=["johnsmith@example.org", "jsmith", None]
    )
    assert message is not None and problem in message


@pytest.mark.parametrize(
    "password",
    ["Correct-Horse-Battery-42", "tangerine lamp violet", "Zx9!qLm2#Rt7", "ünïcödé-pässwörd"],
)
def test_accepted(password: str) -> None:
    assert password_problem(password, min_length=10, user_inputs=["johnsmith@example.org"]) is None


def test_min_length_is_a_setting() -> None:
    assert password_problem("Zx9!qLm2", min_length=8) is None
    assert password_problem("Zx9!qLm2", min_length=12) is not None


def test_short_user_inputs_are_ignored() -> None:
    # A two-letter username would refuse half of all passwords; only 4+ characters count.
    assert password_problem("Correct-Horse-Battery-42", min_length=10, user_inputs=["or"]) is None


def test_argon2id_at_owasp_minimum() -> None:
    encoded = hash_password("Correct-Horse-Battery-42")
    params: dict[str, Any] = dict(item.split("=") for item in encoded.split("$")[3].split(","))
    assert encoded.startswith("$argon2id$")
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1
