"""Security fixtures: the world of objects every resource check runs against."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from studyhall.core.db import Database
from tests.security.world import Headers, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database) -> World:
    """Users of every role and one object of every resource (see tests/security/world.py)."""
    return await build_world(client, make_user, auth, db)
