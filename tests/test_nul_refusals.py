"""Text holds no NUL character, and the OpenAPI schema says so (issue 11, Schemathesis finding).

The server answers a NUL in a text field or anywhere in the query string with 422; before, no
schema declared it (a client, or Schemathesis with its default generation, found out by a 422
the schema did not allow). Now every text query parameter and every text field of a body
validated by an InputSchema carries the `NUL_FREE` pattern, and every operation documents the
422. tests/system/test_schemathesis.py runs Schemathesis generating NUL characters to check that
schema and server agree.
"""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.core.schemas import NUL_FREE

_NO_TEXT_FORMATS = {"binary", "uuid", "date-time", "date", "time", "uri"}
# Request fields that are not stored nor compared in SQL and are not refused: the schema must not
# claim a refusal for them. (The OAuth2 form's scope and client fields are ignored by the server
# and its grant_type pattern admits no NUL anyway; a CSV roster is any text, each bad line
# reported as invalid.)
NOT_DECLARED = {
    "POST /api/v1/auth/token application/x-www-form-urlencoded .grant_type",
    "POST /api/v1/auth/token application/x-www-form-urlencoded .scope",
    "POST /api/v1/auth/token application/x-www-form-urlencoded .client_id",
    "POST /api/v1/auth/token application/x-www-form-urlencoded .client_secret",
    "POST /api/v1/courses/{course_id}/students/import text/csv ",
}


def _declares(schema: dict[str, Any]) -> bool:
    return schema.get("pattern") == NUL_FREE or {"pattern": NUL_FREE} in schema.get("allOf", [])


def _text_leaves(
    schema: Any, components: dict[str, Any], where: str, seen: frozenset[str] = frozenset()
) -> list[tuple[str, dict[str, Any]]]:
    """(location, schema) of every text string of a schema, references followed."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return (
            [] if name in seen else _text_leaves(components[name], components, where, seen | {name})
        )
    found: list[tuple[str, dict[str, Any]]] = []
    if (
        schema.get("type") == "string"
        and "enum" not in schema
        and "const" not in schema
        and schema.get("format") not in _NO_TEXT_FORMATS
    ):
        found.append((where, schema))
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            found += _text_leaves(option, components, where, seen)
    if isinstance(schema.get("items"), dict):
        found += _text_leaves(schema["items"], components, f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _text_leaves(schema["additionalProperties"], components, f"{where}{{}}", seen)
    for name, value in (schema.get("properties") or {}).items():
        found += _text_leaves(value, components, f"{where}.{name}", seen)
    return found


async def test_the_schema_declares_that_text_holds_no_nul(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            operations += 1
            # Any operation: a NUL in its query string is a 422 before the route runs.
            assert "NUL" in operation["responses"]["422"]["description"], f"{method} {path}"
    assert operations > 150
    assert set(_undeclared_text(spec)) == NOT_DECLARED


async def test_a_nul_is_refused_where_the_schema_declares_it(
    client: httpx.AsyncClient, auth: Any, student: Any
) -> None:
    """The declaration is true: a query string on an operation without parameters, a form field
    and a JSON field, each with a NUL, are 422s."""
    headers = auth(student)
    assert (await client.get("/health", params={"x": "a\x00"})).status_code == 422
    assert (await client.get("/api/v1/users/me?note=%00", headers=headers)).status_code == 422
    token = await client.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "x"})
    assert token.status_code == 422
    prompt = await client.post(
        "/api/v1/users/me/prompts", json={"title": "a\x00", "prompt_text": "x"}, headers=headers
    )
    assert prompt.status_code == 422


async def test_a_quiz_import_with_a_nul_is_a_422_not_a_500(
    client: httpx.AsyncClient, auth: Any, teacher: Any
) -> None:
    """Before: import records were plain models, so a NUL reached PostgreSQL (500 there, stored
    on SQLite); after: they refuse it like every InputSchema, on both databases."""
    course = await client.post(
        "/api/v1/courses", json={"title": "Imports", "is_published": True}, headers=auth(teacher)
    )
    assert course.status_code == 201, course.text
    records = [
        {"question": "a\x00b?", "correct_answer": "x", "distractor1": "y", "distractor2": "z"},
        {"prompt": "Which?", "options": ["a", "b\x00"], "answer": 0},
    ]
    for record in records:
        r = await client.post(
            f"/api/v1/courses/{course.json()['id']}/quizzes/import",
            json={"items": [record]},
            headers=auth(teacher),
        )
        assert r.status_code == 422, r.text


# The dialects (issue 18): the same refusal, declared in each dialect's own document and error
# shape (compat/base.py: `DialectIn`, `declare_dialect_refusals`).
DIALECTS = {
    "subject-tutor": 422,
    "bacmr": 422,
    "chat-prompts": 422,
    "elearning": 422,
    "apranova": 400,  # its document's validation errors are DRF's 400 field lists
}


def _undeclared_text(spec: dict[str, Any]) -> list[str]:
    components = spec.get("components", {}).get("schemas", {})
    undeclared = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    for where, leaf in _text_leaves(parameter["schema"], components, ""):
                        if not _declares(leaf):
                            undeclared.append(f"{key} ?{parameter['name']}{where}")
            for media, content in (operation.get("requestBody") or {}).get("content", {}).items():
                for where, leaf in _text_leaves(content["schema"], components, ""):
                    if not _declares(leaf):
                        undeclared.append(f"{key} {media} {where}")
    return undeclared


async def test_each_dialect_schema_declares_that_text_holds_no_nul(
    client: httpx.AsyncClient,
) -> None:
    for name, status in DIALECTS.items():
        spec = (await client.get(f"/compat/{name}/openapi.json")).json()
        assert _undeclared_text(spec) == [], name
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                declared = operation["responses"][str(status)]
                assert "NUL" in declared["description"], (name, method, path)


async def test_a_dialect_refuses_a_nul_in_its_own_error_shape(
    client: httpx.AsyncClient, auth: Any, student: Any
) -> None:
    headers = auth(student)
    # A JSON field, BacMR's envelope.
    r = await client.patch("/compat/bacmr/me", json={"full_name": "a\x00b"}, headers=headers)
    assert r.status_code == 422 and r.json()["success"] is False
    # The query string, before the route runs, in the dialect's shape (not the canonical one).
    r = await client.get("/compat/bacmr/curriculum/textbooks?grade=%00")
    assert r.status_code == 422 and r.json()["success"] is False
    r = await client.get("/compat/elearning/api/v1/users/me?x=%00", headers=headers)
    assert r.status_code == 422 and r.json()["error_code"] == "VALIDATION_ERROR"
    # A form field (the OAuth2 password form of 000).
    r = await client.post(
        "/compat/subject-tutor/token", data={"username": "a\x00", "password": "x"}
    )
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    # A list of text (002's stored answers) and a nested one (000's chat history).
    r = await client.post(
        "/compat/chat-prompts/api/v1/user_prompts/",
        json={"prompt_text": "a\x00", "user_id": str(student.id)},
        headers=headers,
    )
    assert r.status_code == 422
    r = await client.post(
        "/compat/subject-tutor/chat",
        json={
            "id": "6f1c0c1e-7c1a-4a55-9a43-7b0d5c2b8f10",
            "asignatura": "INF001",
            "content": "Hi",
            "messages": [{"role": "user", "content": "x\x00"}],
        },
        headers=headers,
    )
    assert r.status_code == 422
    # ApraNova's validation errors are DRF's 400 field lists.
    r = await client.post("/compat/apranova/api/users/check-email/", json={"email": "a\x00@b.c"})
    assert r.status_code == 400 and list(r.json()) == ["email"]
