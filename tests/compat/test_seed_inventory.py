"""Every path the five seed documents name is a route of its dialect.

The endpoints are read from the documents themselves (../shared/seeds), not from a list kept
here, so a route a document names and no dialect serves fails this test. Path parameters are
compared by position, whatever their names (`{id}` in a document, `{textbook_id}` here).
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from tests.conftest import SHARED_DATA
from tests.security.compat_access import dialect_route_keys

SEEDS = SHARED_DATA.parent / "seeds"

# Document -> the dialect's base: its mount plus the prefix the document puts before its paths.
BASES = {
    "000_60ac29601d0b4b66.txt": "/compat/subject-tutor",
    "001_13480c020053a1c4.txt": "/compat/bacmr",
    "002_c5ea0c5b58272b3d.txt": "/compat/chat-prompts",
    "003_46542229f230f869.txt": "/compat/elearning/api/v1",
    "004_c958e318857f11b0.txt": "/compat/apranova",
}

METHOD = r"\b(GET|POST|PUT|PATCH|DELETE)\b"
# `POST /chat`, `POST http://localhost:8000/token`, `GET ${API_BASE}/content/modules`.
ENDPOINT = re.compile(METHOD + r"[ \t]+(?:https?://[^/\s]+|\$\{API_BASE\})?(/[^\s`\"'?)]*)")
# Document 002 lists `### POST `/user_id`` under `## Users (`/api/v1/users`)`.
SECTION = re.compile(r"^## .*\(`(/[^`]+)`\)")
SUBPATH = re.compile(r"^### " + METHOD + r" `(/[^`]*)`")


def _segment(part: str) -> str:
    # 002 writes a parameter as its bare name (`/user_id`), the others in braces.
    if part.startswith("{") or part == "id" or part.endswith("_id"):
        return "{}"
    return part


def _shape(path: str) -> str:
    return "/".join(_segment(p) for p in path.split("/"))


def documented(name: str, text: str) -> set[str]:
    """`METHOD /compat/...path` of every endpoint the document names, parameters as `{}`."""
    base = BASES[name]
    found = set()
    section = None
    for line in text.splitlines():
        if (heading := SECTION.match(line)) is not None:
            section = heading.group(1)
        elif (sub := SUBPATH.match(line)) is not None and section is not None:
            tail = "/" if sub.group(2) == "/" else sub.group(2)
            found.add(f"{sub.group(1)} {base}{_shape(section + tail)}")
            continue
        for method, path in ENDPOINT.findall(line):
            if path.rstrip("/") and not path.startswith("//"):
                found.add(f"{method} {base}{_shape(path)}")
    return found


@pytest.fixture
def seeds() -> dict[str, str]:
    if not SEEDS.is_dir():
        pytest.skip(f"seed documents not found at {SEEDS}")
    return {name: (SEEDS / name).read_text(encoding="utf-8") for name in BASES}


def test_every_documented_endpoint_is_a_dialect_route(app: FastAPI, seeds: dict[str, str]) -> None:
    served = {_shape_key(key) for key in dialect_route_keys(app)}
    missing = {}
    for name, text in seeds.items():
        endpoints = documented(name, text)
        assert len(endpoints) >= 10, f"{name}: the endpoints were not recognised"
        if absent := sorted(endpoints - served):
            missing[name] = absent
    assert not missing, f"documented endpoints no dialect serves: {missing}"


def _shape_key(key: str) -> str:
    method, path = key.split(" ", 1)
    return f"{method} {_shape(path)}"


def test_the_reader_finds_each_notation() -> None:
    # Braces, a host before the path, ${API_BASE}, a query string, and 002's sections.
    text = "\n".join(
        [
            "POST http://localhost:8000/token",
            "GET ${API_BASE}/content/users_progress/?lesson_id={lesson_id}",
            "GET /curriculum/textbooks/{id}",
            "## Users (`/api/v1/users`)",
            "### POST `/`",
            "### GET `/user_id/quota`",
        ]
    )
    assert documented("002_c5ea0c5b58272b3d.txt", text) == {
        "POST /compat/chat-prompts/token",
        "GET /compat/chat-prompts/content/users_progress/",
        "GET /compat/chat-prompts/curriculum/textbooks/{}",
        "POST /compat/chat-prompts/api/v1/users/",
        "GET /compat/chat-prompts/api/v1/users/{}/quota",
    }
