"""Analytics fixtures: mount the analytics router when the app does not (yet) include it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from studyhall.analytics.router import router as analytics_router
from tests.courses.helpers import API, Headers, World, build_world

ANALYTICS_PATH = f"{API}/courses/{{course_id}}/analytics"


@pytest.fixture(autouse=True)
def _analytics_mounted(app: Any) -> None:
    """The lead mounts analytics in api.py; until then the tests mount it on their app."""
    if ANALYTICS_PATH not in {getattr(route, "path", None) for route in app.routes}:
        app.include_router(analytics_router, prefix=API)


@pytest.fixture
async def world(client: httpx.AsyncClient, make_user: Any, auth: Headers) -> World:
    """Two teachers, two students, an admin and three courses (see helpers.World)."""
    return await build_world(client, make_user, auth)
