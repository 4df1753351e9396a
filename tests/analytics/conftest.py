"""Analytics fixtures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.courses.helpers import Headers, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, make_user: Any, auth: Headers) -> World:
    """Two teachers, two students, an admin and three courses (see helpers.World)."""
    return await build_world(client, make_user, auth)
