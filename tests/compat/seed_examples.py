"""The example request and response of every endpoint, read from the seed documents themselves.

Each document writes its examples its own way (000: `Response (200):` then JSON; 001: inline
`- Response:` JSON; 002: Python schema names; 003 and 004: fenced JSON), so this reader only
knows the markers and takes the first balanced JSON value after each. Placeholders the
documents use (`{...}`, `[...]`, `, ...]`) read as "an object" / "a list" of any content.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.compat.test_seed_inventory import BASES, ENDPOINT, SECTION, SEEDS, SUBPATH, _shape

# `Response (201):`, `**Response** (201 Created):`, `Response (200 OK - Existing Workspace):`
RESPONSE = re.compile(r"Response\**\s*\((\d{3})([^)]*)\)|- Response(?: \(JSON\))?:")
REQUEST = re.compile(r"Request Body\**:?")
# 002: `- **Request:** `UserCreate`` / `- **Response:** `List[UserResponse]``
SCHEMA_REQUEST = re.compile(r"\*\*Request:\*\* `(\w+)`")
SCHEMA_RESPONSE = re.compile(r"\*\*Response:\*\* `(List\[)?(\w+)\]?`")
LITERAL_RESPONSE = re.compile(r"\*\*Response:\*\* `(\{.*\})`")
PY_CLASS = re.compile(r"^class (\w+)\((\w+)\):")
PY_FIELD = re.compile(r"^\s+(\w+): ([^=]+?)(?:\s*=.*)?$")


@dataclass
class Example:
    """One documented endpoint: `key` is `METHOD /compat/...` with parameters as `{}`."""

    key: str
    request: Any = None
    status: int | None = None
    response: Any = None
    # More than one documented answer (004's workspace: 201 new, 200 existing).
    others: dict[int, Any] = field(default_factory=dict)


def _lenient(text: str) -> str:
    text = re.sub(r"\{\s*\.\.\.\s*\}", "{}", text)
    text = re.sub(r"\[\s*\.\.\.\s*\]", "[]", text)
    return re.sub(r",\s*\.\.\.\s*([\]}])", r"\1", text)


def first_json(text: str) -> Any:
    """The first balanced JSON object or list in `text` (None when there is none)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                try:
                    return json.loads(_lenient(text[start : i + 1]))
                except json.JSONDecodeError:
                    return None
    return None


def _leading_json(text: str) -> Any:
    """The JSON value that starts `text` (past `:`, fences, `json`), None when prose comes first
    (`Response (204): No content`, `Request Body (Form Data):`)."""
    stripped = re.sub(r"^[\s:*`]*(?:json\s)?[\s`]*", "", text)
    return first_json(stripped) if stripped[:1] in ("{", "[") else None


def _python_type_example(annotation: str) -> Any:
    """A value standing for a Python annotation's JSON type (002's schemas)."""
    annotation = annotation.strip()
    optional = annotation.startswith("Optional[")
    inner = annotation[len("Optional[") : -1] if optional else annotation
    value: Any
    if inner.startswith("List["):
        value = []
    elif inner.startswith("Dict["):
        value = {}
    elif inner == "int":
        value = 0
    elif inner == "bool":
        value = True
    else:  # str, EmailStr, uuid.UUID, datetime
        value = ""
    return Nullable(value) if optional else value


@dataclass(frozen=True)
class Nullable:
    """A documented field that may be null (002's `Optional[...]`)."""

    value: Any


def _python_schemas(text: str) -> dict[str, dict[str, Any]]:
    classes: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if (m := PY_CLASS.match(line)) is not None:
            current = dict(classes.get(m.group(2), {}))
            classes[m.group(1)] = current
        elif current is not None and (f := PY_FIELD.match(line)) is not None:
            current[f.group(1)] = _python_type_example(f.group(2))
        elif not line.startswith(" ") and line.strip():
            current = None
    return classes


def _sections(name: str, text: str) -> list[tuple[str, str]]:
    """(endpoint key, the text up to the next endpoint) in document order."""
    base = BASES[name]
    marks: list[tuple[int, str]] = []
    offset, section = 0, None
    for line in text.splitlines(keepends=True):
        if (heading := SECTION.match(line)) is not None:
            section = heading.group(1)
        elif (sub := SUBPATH.match(line)) is not None and section is not None:
            tail = "/" if sub.group(2) == "/" else sub.group(2)
            marks.append((offset, f"{sub.group(1)} {base}{_shape(section + tail)}"))
        else:
            for method, path in ENDPOINT.findall(line):
                if path.rstrip("/") and not path.startswith("//"):
                    marks.append((offset, f"{method} {base}{_shape(path)}"))
        offset += len(line)
    # 004 repeats its endpoints in the closing cURL examples: the first mention is the reference.
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, (start, key) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        # The section ends where the document's closing parts start.
        body = re.split(
            r"\n(?:#+ )?(?:Error Responses|Using with cURL|## .*Response Codes)", text[start:end]
        )[0]
        if key not in seen:
            seen.add(key)
            out.append((key, body))
    return out


def examples(name: str) -> dict[str, Example]:
    """Every endpoint of document `name` with its examples."""
    text = (SEEDS / name).read_text(encoding="utf-8")
    schemas = _python_schemas(text)
    found: dict[str, Example] = {}
    for key, body in _sections(name, text):
        example = Example(key)
        if (req := REQUEST.search(body)) is not None:
            example.request = _leading_json(body[req.end() :])
        elif (sreq := SCHEMA_REQUEST.search(body)) is not None:
            example.request = schemas.get(sreq.group(1))
        responses = list(RESPONSE.finditer(body))
        for i, resp in enumerate(responses):
            end = responses[i + 1].start() if i + 1 < len(responses) else len(body)
            chunk = body[resp.end() : end]
            # 000's "Depends on the chatbot service response. Typically:" precedes its JSON.
            chunk = re.sub(r"^:? Depends on the chatbot service response\. Typically:", "", chunk)
            value = _leading_json(chunk)
            status = int(resp.group(1)) if resp.group(1) else 200
            if example.status is None:
                example.status, example.response = status, value
            else:
                example.others[status] = value
        if (lit := LITERAL_RESPONSE.search(body)) is not None:
            example.status, example.response = 200, first_json(lit.group(1))
        elif (sresp := SCHEMA_RESPONSE.search(body)) is not None:
            fields = schemas.get(sresp.group(2))
            example.status = 200
            example.response = [fields] if sresp.group(1) else fields
        found[key] = example
    return found


def all_examples() -> dict[str, Example]:
    """The examples of every document, by endpoint key."""
    out: dict[str, Example] = {}
    for name in BASES:
        out.update(examples(name))
    return out
