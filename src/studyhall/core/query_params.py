"""Unknown query parameters are refused (422) instead of being silently ignored.

A client that sends `?user_id=` to a route without that filter would otherwise believe it got
a filtered list. The names a route accepts are read once from its FastAPI dependant (its own
query parameters, those of its dependencies, and the fields of a query-parameter model).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from studyhall.core.routes import allowed_methods, route_templates, shadowing_templates

# By route identity: routes are created once, at start-up, and live as long as the app.
_ACCEPTED: dict[int, frozenset[str]] = {}


def _accepted(dependant: Dependant) -> frozenset[str]:
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            names.add(field.alias)
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names.update(info.alias or name for name, info in annotation.model_fields.items())
        pending.extend(current.dependencies)
    return frozenset(names)


async def refuse_unknown_query(request: Request) -> None:
    """Router dependency: 422 when the query string names a parameter the route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    accepted = _ACCEPTED.get(id(route))
    if accepted is None:
        accepted = _ACCEPTED[id(route)] = _accepted(route.dependant)
    unknown = sorted(set(request.query_params) - accepted)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter: this route does not take it",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )


async def refuse_shadowed_methods(request: Request) -> None:
    """Router dependency: 405 for a method the named resource lacks, even when a broader route
    would take the path as a parameter (`PATCH /courses/enrolled` is not `PATCH` of a course
    whose id is "enrolled", which would be a misleading 422)."""
    route = request.scope.get("route")
    app = request.scope.get("app")
    if not isinstance(route, APIRoute) or app is None:
        return
    if _template(app, route) not in shadowing_templates(app):
        return
    allowed = allowed_methods(app, request.url.path)
    if allowed and request.method not in allowed and request.method != "OPTIONS":
        raise StarletteHTTPException(status_code=405)


def _template(app: FastAPI, route: APIRoute) -> str:
    templates = _TEMPLATES.get(app)
    if templates is None:
        templates = _TEMPLATES[app] = route_templates(app)
    return templates.get(id(route), route.path)


_TEMPLATES: WeakKeyDictionary[FastAPI, dict[int, str]] = WeakKeyDictionary()
