"""The app's effective routes with their full path templates.

FastAPI 0.16x keeps included routers nested, so `app.routes` no longer lists every endpoint with
its full path; `fastapi.routing.iter_route_contexts` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute


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
    """The JSON API endpoints (APIRoute), excluding docs and static helpers."""
    return [r for r in iter_routes(app) if isinstance(r.route, APIRoute)]


def route_templates(app: FastAPI) -> dict[int, str]:
    """Map each endpoint object to its full template (for metrics labels)."""
    return {id(r.route): r.path for r in iter_routes(app)}
