"""Running a documented endpoint's example and checking the answer against its document.

A case (one per endpoint, in `tests/compat/cases_*.py`) prepares what the example needs (users,
a subject, a session) and sends the document's own example request with fresh values through
`Trial.send`; the runner then checks the documented status, every field of the documented
response with its JSON type, and the body against the response schema the dialect declares in
its own OpenAPI (which is how an endpoint the document gives no example for is still checked
field by field).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
from fastapi import FastAPI

from studyhall.identity.models import Role, User
from tests.compat.seed_examples import Example, Nullable
from tests.compat.test_seed_inventory import _shape
from tests.conftest import MakeUser

DOCUMENT = object()  # "send the document's example body"


@dataclass
class Trial:
    """What a case has at hand: the app, its client, users, and the document's example."""

    app: FastAPI
    client: httpx.AsyncClient
    make_user: MakeUser
    auth: Callable[[User], dict[str, str]]
    example: Example

    async def user(self, role: Role = Role.student, **fields: Any) -> tuple[User, dict[str, str]]:
        made = await self.make_user(role, **fields)
        return made, self.auth(made)

    def body(self, **changes: Any) -> Any:
        """The document's example request body, with `changes` (fresh values) applied."""
        base = copy.deepcopy(self.example.request) or {}
        # 002 gives schemas, not values: an `Optional[...]` field sends its default.
        base = {k: v.value if isinstance(v, Nullable) else v for k, v in base.items()}
        base.update(changes)
        return base

    def path(self, *ids: Any) -> str:
        path = self.example.key.split(" ", 1)[1]
        for value in ids:
            path = path.replace("{}", str(value), 1)
        assert "{}" not in path, f"{self.example.key}: a path parameter is missing"
        return path

    async def send(
        self,
        *ids: Any,
        headers: dict[str, str] | None = None,
        json: Any = DOCUMENT,
        **kwargs: Any,
    ) -> httpx.Response:
        """The endpoint called with the document's method and path (`ids` fill its parameters)."""
        method = self.example.key.split(" ", 1)[0]
        if json is DOCUMENT:
            json = self.body() if self.example.request is not None else None
        if json is not None:
            kwargs["json"] = json
        return await self.client.request(method, self.path(*ids), headers=headers, **kwargs)


CaseFn = Callable[[Trial], Awaitable[httpx.Response]]


@dataclass
class Case:
    """How one endpoint's example is run: `status` when the answer documented is not the
    example's (an engine absent: 503 in the document's error shape), `expect` the documented
    body it is checked against instead of the example (where the example's keys are sample
    data, not fields)."""

    key: str
    run: CaseFn
    status: int | None = None
    expect: Any = None
    nullable: frozenset[str] = field(default_factory=frozenset)


CASES: dict[str, Case] = {}


def case(
    key: str, *, status: int | None = None, expect: Any = None, nullable: tuple[str, ...] = ()
) -> Callable[[CaseFn], CaseFn]:
    """Register the case of the endpoint `key` (`METHOD /compat/...`, parameters as `{}`)."""

    def register(fn: CaseFn) -> CaseFn:
        assert key not in CASES, f"two cases for {key}"
        CASES[key] = Case(key, fn, status, expect, frozenset(nullable))
        return fn

    return register


def shape_problems(doc: Any, actual: Any, where: str, nullable: frozenset[str]) -> list[str]:
    """How `actual` departs from the documented example `doc`: a documented field missing, or
    of another JSON type (numbers are one type; `{}`/`[]` in a document mean any content)."""
    name = where.rsplit(".", 1)[-1].split("[")[0]
    if (name == "id" or name.endswith("_id")) and isinstance(actual, str):
        # StudyHall's identifiers are UUIDs: a document's numeric `id` (004) is one as a string,
        # as the dialect's OpenAPI description says.
        return []
    if isinstance(doc, Nullable):
        if actual is None:
            return []
        doc = doc.value
    if actual is None and name in nullable:
        return []
    if isinstance(doc, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        for key, value in doc.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += shape_problems(value, actual[key], f"{where}.{key}", nullable)
        return problems
    if isinstance(doc, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        if not doc:
            return []
        return [
            p
            for i, item in enumerate(actual)
            for p in shape_problems(doc[0], item, f"{where}[{i}]", nullable)
        ]
    if isinstance(doc, bool):
        ok = isinstance(actual, bool)
    elif isinstance(doc, int | float):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
    elif isinstance(doc, str):
        ok = isinstance(actual, str)
    else:
        ok = True
    return [] if ok else [f"{where}: expected {type(doc).__name__}, got {actual!r}"]


def declared_schema(app: FastAPI, key: str, status: int) -> dict[str, Any] | None:
    """The JSON schema the dialect's OpenAPI declares for this endpoint's `status` answer."""
    method, path = key.split(" ", 1)
    for route in app.routes:
        mount = getattr(route, "path", "")
        sub = getattr(route, "app", None)
        if not isinstance(sub, FastAPI) or not path.startswith(mount + "/"):
            continue
        spec = sub.openapi()
        relative = path[len(mount) :]
        for candidate, operations in spec["paths"].items():
            if _shape(candidate) != relative:
                continue
            operation = operations.get(method.lower(), {})
            content = operation.get("responses", {}).get(str(status), {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema:
                return {**schema, "components": spec.get("components", {})}
    return None


async def run_case(trial: Trial, entry: Case) -> dict[str, Any]:
    """Run the case and check its answer; the body, for what a case checks beyond shapes."""
    example = trial.example
    response = await entry.run(trial)
    status = entry.status or example.status or 200
    assert response.status_code == status, f"{entry.key}: {response.status_code} {response.text}"
    expected = entry.expect if entry.expect is not None else example.response
    if entry.status is not None and entry.expect is None:
        expected = example.others.get(status)
    body: Any = (
        response.json()
        if response.content and "json" in response.headers.get("content-type", "")
        else None
    )
    if expected is not None:
        problems = shape_problems(expected, body, "body", entry.nullable)
        assert not problems, f"{entry.key}: {problems}"
    schema = declared_schema(trial.app, entry.key, status)
    if schema is not None and body is not None:
        jsonschema.validate(body, schema)
    return {"body": body}


def fresh(prefix: str = "user") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
