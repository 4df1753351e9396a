"""Unknown query parameters are refused on every API route; known ones still work."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import MakeUser

API = "/api/v1"


async def test_unknown_query_parameters_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student = auth(await make_user("student"))
    for url in (
        "/chat/sessions?user_id=00000000-0000-0000-0000-000000000000",
        "/courses?grade=3",
        "/library/textbooks?grade=7",  # a textbook's grade is its `level`
        "/courses/00000000-0000-0000-0000-000000000000/quizzes?lesson=1",  # it is `lesson_id`
        "/courses?limit=5&sort=title",
        "/system/info?debug=1",
    ):
        response = await client.get(API + url, headers=student)
        assert response.status_code == 422, (url, response.text)
        [error] = response.json()["detail"]
        assert error["type"] == "extra_forbidden" and error["loc"][0] == "query"
    # Declared parameters, including those of dependencies (paging), pass.
    response = await client.get(f"{API}/courses?limit=5&offset=0", headers=student)
    assert response.status_code == 200, response.text
    assert (await client.get(f"{API}/chat/sessions?limit=2", headers=student)).status_code == 200


async def test_every_route_accepts_what_its_schema_declares(client: httpx.AsyncClient) -> None:
    # The check reads the same dependants as the OpenAPI schema: every documented query
    # parameter of every route is accepted (a wrong value is the route's own 4xx, never
    # "unknown parameter").
    schema = (await client.get("/openapi.json")).json()
    checked = 0
    for path, operations in schema["paths"].items():
        if "{" in path:
            path = path.replace("{", "").replace("}", "")
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            if not names:
                continue
            response = await client.request(method.upper(), path, params=dict.fromkeys(names, "1"))
            if response.status_code == 422:
                for error in response.json().get("detail", []):
                    assert error.get("type") != "extra_forbidden", (method, path, error)
            checked += 1
    assert checked > 10
