"""Error answers documented in OpenAPI from what each route's dependencies can answer.

A dependency that can fail marks itself with `@answers(401)` (or 403, 404 …); every route that
uses it, directly or through other dependencies, then documents those statuses with the
`{detail, code}` body. So a new route gets truthful error documentation from the loaders and role
checks it uses, and the schema cannot drift from the code. Errors raised further down (a
conflict in a service) are still declared on the route with `responses=`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, get_parameterless_sub_dependant
from fastapi.routing import APIRoute

from studyhall.core.schemas import ErrorOut, ValidationErrorOut, declare_nul_free

F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__studyhall_error_statuses__"

DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated: no, an invalid or an expired credential (`WWW-Authenticate: Bearer`)",
    402: "Not enough tokens",
    403: "Not allowed for the caller's role, API key scope or relation to the object",
    404: "Unknown, or not visible to the caller",
    409: "Conflicts with the current state",
    413: "The request body is too large",
    415: "Unsupported content type",
    422: "The request does not match its schema (`detail` list), or breaks a rule (`detail`, "
    "`code`)",
    429: "Too many requests (`Retry-After` says when to retry)",
    502: "An upstream provider failed",
    503: "A required service is unavailable or not configured",
    504: "An upstream provider did not answer in time",
}


def answers(*statuses: int) -> Callable[[F], F]:
    """Mark a dependency with the error statuses it can answer (documented on its routes)."""

    def mark(func: F) -> F:
        setattr(func, _ATTRIBUTE, frozenset(statuses) | getattr(func, _ATTRIBUTE, frozenset()))
        return func

    return mark


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI entry of one error status."""
    model: Any = ValidationErrorOut | ErrorOut if status == 422 else ErrorOut
    return {"model": model, "description": description or DESCRIPTIONS.get(status, "Error")}


def errors(
    *statuses: int, described: Mapping[int, str] | None = None, phrases: bool = False
) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses a route raises itself: the one helper of every
    router.

    `statuses` get the shared wording of `DESCRIPTIONS`, `described` the route's own (which
    error codes it answers); `phrases=True` describes `statuses` by their bare HTTP reason
    phrase ("Unauthorized"), the wording the identity routes have always published.
    """
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entries[status] = (
            {"model": ErrorOut, "description": HTTPStatus(status).phrase}
            if phrases
            else error_response(status)
        )
    for status, description in (described or {}).items():
        entries[status] = error_response(status, description)
    return entries


def _statuses(dependant: Dependant, seen: set[int]) -> set[int]:
    found: set[int] = set()
    call = dependant.call
    if call is not None and id(call) not in seen:
        seen.add(id(call))
        found |= set(getattr(call, _ATTRIBUTE, ()))
    for sub in dependant.dependencies:
        found |= _statuses(sub, seen)
    return found


def _has_params(dependant: Dependant) -> bool:
    if (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    ):
        return True
    return any(_has_params(sub) for sub in dependant.dependencies)


def documented_errors(
    path: str, endpoint: Callable[..., Any], dependencies: Sequence[params.Depends] = ()
) -> set[int]:
    """The error statuses a route can answer, from its dependencies and its path."""
    dependants = [get_dependant(path=path, call=endpoint)]
    dependants += [get_parameterless_sub_dependant(depends=d, path=path) for d in dependencies]
    seen: set[int] = set()
    statuses: set[int] = set()
    for dependant in dependants:
        statuses |= _statuses(dependant, seen)
        if _has_params(dependant):
            statuses.add(422)
    if "{" in path:
        # Every id in a path may be unknown or invisible to the caller.
        statuses.add(404)
    return statuses


class DocumentedRoute(APIRoute):
    """An APIRoute whose OpenAPI responses list the errors its dependencies can answer."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        **kwargs: Any,
    ) -> None:
        merged: dict[int | str, dict[str, Any]] = {
            status: error_response(status)
            for status in sorted(documented_errors(path, endpoint, dependencies or ()))
        }
        for key, entry in (responses or {}).items():
            status: int | str = int(key) if str(key).isdigit() else key
            if status == 422:
                # Both 422 shapes stay documented whatever the route says about its own rules.
                entry = {**entry, "model": ValidationErrorOut | ErrorOut}
            merged[status] = entry
        super().__init__(path, endpoint, responses=merged, dependencies=dependencies, **kwargs)


# An operation anyone may call, whose answer depends on who calls when credentials are sent
# (the public catalog): `{}` beside the declared schemes makes them optional in OpenAPI, so
# clients and schema-driven tools neither demand a token nor flag its absence.
OPTIONAL_CREDENTIALS: dict[str, Any] = {"security": [{}]}

NUL_REFUSAL = "Text holds no NUL character: one in a text field or in the query string is a 422"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def declare_refusals(document: dict[str, Any]) -> dict[str, Any]:
    """What the request middleware refuses for every operation, said in the schema, in place.

    A NUL character anywhere in a query string is a 422 before any route runs (PostgreSQL cannot
    compare text holding one): every text query parameter declares it (`NUL_FREE`), and every
    operation documents the 422, even one without parameters of its own. Bodies declare it
    through their InputSchema models."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, ValidationErrorOut):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in schema.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components.setdefault(model.__name__, schema)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    declare_nul_free(parameter.get("schema"))
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                described = responses["422"].get("description", "").rstrip(". ")
                if NUL_REFUSAL not in described:
                    responses["422"]["description"] = f"{described}. {NUL_REFUSAL}".lstrip(". ")
            else:
                responses["422"] = {
                    "description": f"{DESCRIPTIONS[422]}. {NUL_REFUSAL}",
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [
                                    {"$ref": "#/components/schemas/ValidationErrorOut"},
                                    {"$ref": "#/components/schemas/ErrorOut"},
                                ]
                            }
                        }
                    },
                }
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the app's OpenAPI document with `declare_refusals` applied (once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_refusals(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
