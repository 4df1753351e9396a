"""Each dialect's own docs page and schema at /compat/<name>/docs; the canonical /docs stays clean."""

from __future__ import annotations

import httpx
import pytest

from studyhall.compat import MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
async def test_each_dialect_serves_its_own_docs(client: httpx.AsyncClient, name: str) -> None:
    page = await client.get(f"/compat/{name}/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert f"/compat/{name}/openapi.json" in page.text
    spec = (await client.get(f"/compat/{name}/openapi.json")).json()
    # Its deviations from the document are written in its own description.
    assert spec["info"]["title"].startswith("StudyHall compatibility") and spec["paths"]
    assert "StudyHall" in spec["info"]["description"]


async def test_the_canonical_schema_lists_no_dialect_route(client: httpx.AsyncClient) -> None:
    canonical = (await client.get("/openapi.json")).json()
    assert not [path for path in canonical["paths"] if path.startswith("/compat")]
