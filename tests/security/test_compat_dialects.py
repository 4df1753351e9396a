"""The compatibility dialects keep StudyHall's function-level authorization (OWASP API5, API9).

Every dialect route is in compat_access.py, names a canonical twin that exists, and lets
through exactly the roles its twin does: anonymous callers get 401 with `WWW-Authenticate`,
other roles 403/404, in the dialect's own error shape.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from studyhall.config import DIALECT_NAMES
from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.security.access import ACCESS, ANONYMOUS, ROLES
from tests.security.compat_access import (
    BODY_CREDENTIAL,
    ENGINE_ABSENT,
    TWINS,
    dialect_route_keys,
    expected_roles,
)


async def test_every_dialect_route_is_in_the_twin_table(app: FastAPI) -> None:
    routes = set(dialect_route_keys(app))
    missing = sorted(routes - TWINS.keys())
    stale = sorted(TWINS.keys() - routes)
    assert not missing, f"dialect routes without an entry in compat_access.py: {missing}"
    assert not stale, f"entries for dialect routes that do not exist: {stale}"
    twins = [t for t in TWINS.values() if isinstance(t, str)]
    assert not [t for t in twins if t not in ACCESS], "twins must be canonical routes"


async def test_each_dialect_has_its_own_schema_listing_exactly_its_routes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    keys = dialect_route_keys(app)
    mounted = {key.split(" ", 1)[1].split("/")[2] for key in keys}
    assert mounted <= set(DIALECT_NAMES)
    for name in mounted:
        spec = (await client.get(f"/compat/{name}/openapi.json")).json()
        documented = sorted(
            f"{method.upper()} /compat/{name}{path}"
            for path, item in spec["paths"].items()
            for method in item
        )
        assert documented == [k for k in keys if k.split(" ", 1)[1].startswith(f"/compat/{name}/")]
        for item in spec["paths"].values():
            for operation in item.values():
                assert operation.get("summary") and operation.get("responses")


async def _send(client: httpx.AsyncClient, key: str, headers: dict[str, str]) -> httpx.Response:
    method, path = key.split(" ", 1)
    if method in ("POST", "PUT", "PATCH"):
        return await client.request(method, path, json={}, headers=headers)
    return await client.request(method, path, headers=headers)


@pytest.mark.parametrize("role", ROLES)
async def test_dialect_routes_let_through_exactly_their_twins_roles(
    role: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth: Any,
) -> None:
    headers: dict[str, str] = {}
    if role != ANONYMOUS:
        headers = auth(await make_user(Role(role)))
    problems = []
    for key in dialect_route_keys(app):
        response = await _send(client, key, headers)
        status = response.status_code
        if role in expected_roles(key):
            refused = (403,) if key in BODY_CREDENTIAL else (401, 403)
            ok = status not in refused and (
                status < 500 or (key in ENGINE_ABSENT and status == 503)
            )
        elif role == ANONYMOUS:
            ok = status == 401 and response.headers.get("www-authenticate") == "Bearer"
        else:
            ok = status in (403, 404)
        if not ok:
            problems.append(f"{key} as {role}: {status} {response.text[:150]}")
    assert not problems, "\n".join(problems)
