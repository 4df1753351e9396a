"""The app's effective routes with their full path templates.

FastAPI 0.16x keeps included routers nested, so `app.routes` no longer lists every endpoint with
its full path; `fastapi.routing.iter_route_contexts` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, compile_path


@dataclass(frozen=True)
class EffectiveRoute:
    path: str
    methods: frozenset[str]
    route: BaseRoute


def iter_routes(app: FastAPI) -> Iterator[EffectiveRoute]:
    """Every endpoint with its full path template and methods."""
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        path = context.path_format or getattr(original, "path", None)
        if path is None:
            continue
        methods = frozenset(getattr(original, "methods", None) or ())
        yield EffectiveRoute(path=path, methods=methods, route=original)


def api_routes(app: FastAPI) -> list[EffectiveRoute]:
    """The JSON API endpoints (APIRoute in the schema), excluding docs, static files and the
    web interface's pages."""
    return [
        r for r in iter_routes(app) if isinstance(r.route, APIRoute) and r.route.include_in_schema
    ]


def route_templates(app: FastAPI) -> dict[int, str]:
    """Map each endpoint object to its full template (for metrics labels)."""
    return {id(r.route): r.path for r in iter_routes(app)}


_PATTERNS: WeakKeyDictionary[FastAPI, list[tuple[re.Pattern[str], str, frozenset[str]]]] = (
    WeakKeyDictionary()
)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the resource a concrete path names (for a 405's `Allow` header).

    Starlette answers 405 with the methods of the first route whose path matched, although
    GET, PATCH and DELETE of one resource are separate routes. The resource is the first
    template that matches, as in routing (`/courses/enrolled` before `/courses/{course_id}`).
    """
    patterns = _PATTERNS.get(app)
    if patterns is None:
        patterns = [
            (compile_path(r.path)[0], r.path, r.methods) for r in iter_routes(app) if r.methods
        ]
        _PATTERNS[app] = patterns
    template = next((t for regex, t, _ in patterns if regex.match(path)), None)
    return sorted({m for _, t, methods in patterns if t == template for m in methods})
