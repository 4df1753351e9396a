"""The error cases and error bodies the seed documents show, read from the documents.

Each document writes them its own way:
- 000 lists each endpoint's errors (`Errors:` then `401: Not authenticated403: ...`) and shows
  the body of each status once, under `Error Responses`;
- 003 and 004 name the token each endpoint needs (`Authorization: Bearer {admin_token}`): without
  one the call is their 401, with a lesser role's their 403 (003 names the role in the token);
  003's request bodies are refused as its `Validation Error Response`, 004's registration as its
  `Validation Error` (DRF field lists, 400), its login as its `Authentication Error` and
  `Permission Error`, its workspace as the section's own `Error Response (503)`;
- 001 and 002 document no error at all (nothing here to test against their text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.compat.seed_examples import _sections, first_json
from tests.compat.test_seed_inventory import BASES, SEEDS

# 000: `Errors:` then one line `401: Not authenticated403: Insufficient permissions`.
ERRORS_LINE = re.compile(r"^Errors:\s*\n(.+)$", re.MULTILINE)
ERROR_ITEM = re.compile(r"(\d{3}): (.*?)(?=\d{3}: |$)")
# 003 `Authorization: Bearer {admin_token}`, 004 `Authorization: Bearer <access_token>`.
BEARER = re.compile(r"Authorization: Bearer [{<](\w+)[}>]")
# 004's workspace: `**Error Response** (503 Service Unavailable):`.
ERROR_RESPONSE = re.compile(r"\*\*Error Response\*\* \((\d{3})")
# 003's tokens that name a role: who may call, and so who is refused.
ROLE_TOKENS = {"admin_token", "admin_or_teacher_token", "teacher_token", "student_token"}


@dataclass(frozen=True)
class DocumentedError:
    """One documented failure of an endpoint: `says` is the document's own words for it."""

    key: str
    status: int
    says: str


def _errors_000(key: str, body: str) -> list[DocumentedError]:
    line = ERRORS_LINE.search(body)
    if line is None:
        return []
    return [
        DocumentedError(key, int(status), says.strip())
        for status, says in ERROR_ITEM.findall(line.group(1))
    ]


def _errors_by_token(name: str, key: str, body: str) -> list[DocumentedError]:
    found = []
    if (bearer := BEARER.search(body)) is not None:
        token = bearer.group(1)
        found.append(DocumentedError(key, 401, f"needs a bearer {token}"))
        if token in ROLE_TOKENS:
            found.append(DocumentedError(key, 403, f"needs a bearer {token}"))
    if name.startswith("003") and isinstance(first_json(_request_part(body)), dict):
        found.append(DocumentedError(key, 422, "Validation Error Response"))
    for status in ERROR_RESPONSE.findall(body):
        found.append(DocumentedError(key, int(status), "Error Response"))
    return found


def _request_part(body: str) -> str:
    """The request body example of an 003 section (empty when it has none)."""
    parts = re.split(r"Request Body:?", body, maxsplit=1)
    if len(parts) < 2:
        return ""
    return re.split(r"Response \(", parts[1], maxsplit=1)[0]


# 004's `Common Errors`, which name no endpoint: the endpoints whose failure they show.
_COMMON_004 = {
    "Authentication Error": ("POST /compat/apranova/api/users/login/", 401),
    "Permission Error": ("POST /compat/apranova/api/users/login/", 403),
    "Validation Error": ("POST /compat/apranova/api/auth/registration/", 400),
}


def documented_errors() -> dict[tuple[str, int], DocumentedError]:
    """Every documented (endpoint, status) failure of every document."""
    out: dict[tuple[str, int], DocumentedError] = {}
    for name in BASES:
        text = (SEEDS / name).read_text(encoding="utf-8")
        for key, body in _sections(name, text):
            found = _errors_000(key, body) if name.startswith("000") else []
            found += _errors_by_token(name, key, body)
            for error in found:
                out.setdefault((error.key, error.status), error)
    for title, (key, status) in _COMMON_004.items():
        out[(key, status)] = DocumentedError(key, status, title)
    return out


def _after(text: str, heading: str) -> Any:
    at = text.index(heading)
    return first_json(text[at + len(heading) :])


def error_bodies() -> dict[str, dict[int | str, Any]]:
    """Each document's own error bodies: by status, `"default"` for every other status."""
    t000 = (SEEDS / "000_60ac29601d0b4b66.txt").read_text(encoding="utf-8")
    section = t000[t000.index("Error Responses") :]
    by_status_000: dict[int | str, Any] = {}
    for match in re.finditer(r"^(\d{3}) [A-Za-z ]+:\s*$", section, re.MULTILINE):
        by_status_000[int(match.group(1))] = first_json(section[match.end() :])
    by_status_000["default"] = by_status_000[400]
    t003 = (SEEDS / "003_46542229f230f869.txt").read_text(encoding="utf-8")
    t004 = (SEEDS / "004_c958e318857f11b0.txt").read_text(encoding="utf-8")
    return {
        "000": by_status_000,
        "003": {
            422: _after(t003, "### **Validation Error Response**"),
            "default": _after(t003, "### **Standard Error Response**"),
        },
        "004": {
            "default": _after(t004, "### Standard Error Format"),
            "Authentication Error": _after(t004, "#### Authentication Error"),
            "Permission Error": _after(t004, "#### Permission Error"),
            "Validation Error": _after(t004, "#### Validation Error"),
        },
    }
