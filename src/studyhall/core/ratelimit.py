"""Rate limits on top of `limits`: in memory by default, Redis when configured."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from studyhall.core.errors import RateLimited


class RateLimiter:
    """Named limits in the `limits` notation ("10/minute;100/hour"), keyed by caller."""

    def __init__(self, redis_url: str | None = None, *, namespace: str = "studyhall") -> None:
        self.storage: Storage
        if redis_url:
            storage = storage_from_string(
                redis_url if redis_url.startswith("async+") else "async+" + redis_url,
                key_prefix=namespace,
            )
            assert isinstance(storage, Storage)
            self.storage = storage
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    @staticmethod
    def _items(spec: str) -> list[RateLimitItem]:
        return parse_many(spec)

    async def hit(self, spec: str, *key: str, message: str = "Too many requests") -> None:
        """Count one request; raise 429 with Retry-After when any window is full."""
        for item in self._items(spec):
            if not await self.strategy.hit(item, *key):
                raise RateLimited(message, retry_after=await self._retry_after(item, key))

    async def check(self, spec: str, *key: str, message: str = "Too many requests") -> None:
        """Raise 429 if a window is already full, without counting this request."""
        for item in self._items(spec):
            if not await self.strategy.test(item, *key):
                raise RateLimited(message, retry_after=await self._retry_after(item, key))

    async def count(self, spec: str, *key: str) -> None:
        """Count one event (e.g. a failed login) without refusing it."""
        for item in self._items(spec):
            await self.strategy.hit(item, *key)

    async def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self.strategy.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        """Forget every counter (tests, operator command)."""
        await self.storage.reset()

    async def ready(self) -> bool:
        """Whether the backing store answers."""
        return bool(await self.storage.check())
