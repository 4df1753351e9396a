"""Password policy: a minimum length and no guessable passwords (NIST SP 800-63B style)."""

from __future__ import annotations

import string
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

MAX_PASSWORD_LENGTH = 256  # argon2 takes any length; the cap keeps hashing cost bounded
_EDGE_CHARS = string.digits + string.punctuation + " "
_MIN_DISTINCT_CHARS = 5


@lru_cache
def common_passwords() -> frozenset[str]:
    """The bundled list of the most common passwords, lower-cased."""
    text = resources.files("studyhall.identity").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def password_problem(
    password: str, *, min_length: int, user_inputs: Iterable[str | None] = ()
) -> str | None:
    """Why a password is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"Password must be at least {min_length} characters long"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters long"
    lowered = password.lower()
    # "Password2024!" is as guessable as "password": compare the core without digits and symbols
    # at the ends too.
    core = lowered.strip(_EDGE_CHARS)
    common = common_passwords()
    if lowered in common or (len(core) >= 4 and core in common):
        return "This password is too common; choose a less guessable one"
    if len(set(lowered)) < _MIN_DISTINCT_CHARS:
        return "Password uses too few different characters"
    for value in user_inputs:
        if not value:
            continue
        word = value.lower().split("@", 1)[0]
        if len(word) >= 4 and word in lowered:
            return "Password must not contain your email address or username"
    return None
