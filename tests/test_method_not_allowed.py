"""A method a resource lacks is 405 with `Allow`, even where a broader route would take the
path as a parameter (`PATCH /courses/enrolled` is not a PATCH of a course named "enrolled")."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from studyhall.core.routes import _more_specific, iter_routes, shadowing_templates
from tests.conftest import MakeUser

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


async def test_patch_of_the_enrolled_list_is_405_not_422(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student: dict[str, str] = auth(await make_user("student"))
    anonymous: dict[str, str] = {}
    for headers in (student, anonymous):
        response = await client.patch("/api/v1/courses/enrolled", headers=headers, json={})
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "GET"
        assert response.json()["code"] == "method_not_allowed"
    # The course resource itself still takes PATCH (here: refused for want of a token).
    response = await client.patch(f"/api/v1/courses/{uuid.uuid4()}", json={})
    assert response.status_code == 401, response.text


async def test_every_shadowed_resource_answers_405_for_the_methods_it_lacks(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    admin = auth(await make_user("admin"))
    api = [r for r in iter_routes(app) if r.path.startswith("/api/v1/") and r.methods]
    methods: dict[str, set[str]] = {}
    for route in api:
        methods.setdefault(route.path, set()).update(route.methods)
    broad = shadowing_templates(app)
    assert "/api/v1/courses/{course_id}" in broad
    checked = 0
    for narrow, own in methods.items():
        if not any(_more_specific(narrow, b) for b in broad):
            continue
        path = "/".join(
            str(uuid.uuid4()) if part.startswith("{") else part for part in narrow.split("/")
        )
        for method in METHODS:
            if method in own or (method == "HEAD" and "GET" in own):
                continue
            response = await client.request(method, path, headers=admin)
            assert response.status_code == 405, (method, narrow, response.text)
            assert set(response.headers["allow"].split(", ")) == own, (method, narrow)
            checked += 1
    assert checked >= 4
