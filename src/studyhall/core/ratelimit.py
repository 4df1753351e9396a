"""Rate limits on top of `limits`: in memory by default, Redis when configured."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
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
        # Counters that must be taken before the work and given back after (attempt/give_back):
        # a fixed window is one atomic INCR in Redis, and INCR by -1 returns a slot.
        self.counter = FixedWindowRateLimiter(self.storage)

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

    async def attempt(self, spec: str, *key: str, message: str = "Too many requests") -> None:
        """Count an attempt BEFORE doing the work, atomically; 429 once past the limit.

        For limits on failures (wrong passwords): checking first and counting the failure
        afterwards lets a parallel burst through, since every request checks before any of them
        has failed. Here each request takes its slot first (one INCR, atomic in Redis across
        processes) and the caller gives it back with `give_back` when the attempt succeeded.
        """
        for item in self._items(spec):
            if not await self.counter.hit(item, *key):
                stats = await self.counter.get_window_stats(item, *key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(message, retry_after=retry_after)

    async def give_back(self, spec: str, *key: str) -> None:
        """Return the slot an `attempt` took (the attempt did not fail)."""
        for item in self._items(spec):
            await self.storage.incr(item.key_for(*key), item.get_expiry(), amount=-1)

    async def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self.strategy.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        """Forget every counter (tests, operator command)."""
        await self.storage.reset()

    async def ready(self) -> bool:
        """Whether the backing store answers."""
        return bool(await self.storage.check())
