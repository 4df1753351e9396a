"""Waiting until a freshly started workspace answers HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

_POLL_S = 0.2


async def wait_until_serving(
    url: str, *, timeout_s: float, still_alive: Callable[[], Awaitable[bool]]
) -> bool:
    """True once `url` gives any HTTP answer; False when the workspace died or time ran out."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                await client.get(url)
            except httpx.TransportError:
                if not await still_alive():
                    return False
                await asyncio.sleep(_POLL_S)
            else:
                return True
    return False
