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
_SHADOWED: WeakKeyDictionary[FastAPI, frozenset[str]] = WeakKeyDictionary()


def _segments(template: str) -> list[str | None]:
    """A template's segments: the literal text, or None for a parameter."""
    return [None if part.startswith("{") else part for part in template.strip("/").split("/")]


def _more_specific(a: str, b: str) -> bool:
    """Whether template `a` names some of `b`'s paths more precisely: same length, a literal of
    `a` where `b` has a parameter, and never the other way round (`/courses/enrolled` is more
    specific than `/courses/{course_id}`)."""
    if ":path}" in a or ":path}" in b:
        return False
    sa, sb = _segments(a), _segments(b)
    if len(sa) != len(sb):
        return False
    narrower = False
    for x, y in zip(sa, sb, strict=True):
        if x is not None and y is not None and x != y:
            return False
        if x is None and y is not None:
            return False
        narrower = narrower or (x is not None and y is None)
    return narrower


def _patterns(app: FastAPI) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
    patterns = _PATTERNS.get(app)
    if patterns is None:
        patterns = [
            (compile_path(r.path)[0], r.path, r.methods) for r in iter_routes(app) if r.methods
        ]
        _PATTERNS[app] = patterns
    return patterns


def shadowing_templates(app: FastAPI) -> frozenset[str]:
    """Templates that catch some paths of a more specific resource for the methods that
    resource lacks (`PATCH /courses/enrolled` reaches `PATCH /courses/{course_id}`)."""
    shadowed = _SHADOWED.get(app)
    if shadowed is None:
        templates = {t for _, t, _ in _patterns(app)}
        shadowed = frozenset(
            b for b in templates if any(_more_specific(a, b) for a in templates if a != b)
        )
        _SHADOWED[app] = shadowed
    return shadowed


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the resource a concrete path names (for a 405's `Allow` header).

    Starlette answers 405 with the methods of the first route whose path matched, although
    GET, PATCH and DELETE of one resource are separate routes. The resource is the most
    specific template that matches (`/courses/enrolled`, not `/courses/{course_id}`, for the
    path `/courses/enrolled`), whatever order the routes were registered in.
    """
    matching = [t for regex, t, _ in _patterns(app) if regex.match(path)]
    template = next(
        (t for t in matching if not any(_more_specific(o, t) for o in matching if o != t)),
        None,
    )
    return sorted({m for _, t, methods in _patterns(app) if t == template for m in methods})
