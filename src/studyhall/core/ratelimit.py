"""Rate limits on top of `limits`: in memory by default, Redis when configured.

When Redis is configured but does not answer, every limit fails open to this process's memory
(issue 11, finding 5): a warning is logged once per outage, each decision taken in memory is
counted in `studyhall_rate_limit_fallbacks_total`, and Redis is tried again every
`retry_redis_s` seconds, so the shared limits come back by themselves. The alternative, 503 for
every limited route, would lock everybody out of logging in for the length of a cache outage;
per-process limits still stop a single client's burst.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from studyhall.core.errors import RateLimited
from studyhall.core.metrics import RATE_LIMIT_FALLBACKS

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class _Backend:
    storage: Storage
    # Sliding windows for plain limits.
    strategy: MovingWindowRateLimiter
    # Counters that must be taken before the work and given back after (attempt/give_back):
    # a fixed window is one atomic INCR in Redis, and INCR by -1 returns a slot.
    counter: FixedWindowRateLimiter

    @classmethod
    def on(cls, storage: Storage) -> _Backend:
        return cls(storage, MovingWindowRateLimiter(storage), FixedWindowRateLimiter(storage))


class RateLimiter:
    """Named limits in the `limits` notation ("10/minute;100/hour"), keyed by caller."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        namespace: str = "studyhall",
        retry_redis_s: float = 5.0,
    ) -> None:
        self._memory = _Backend.on(MemoryStorage())
        self._redis: _Backend | None = None
        if redis_url:
            storage = storage_from_string(
                redis_url if redis_url.startswith("async+") else "async+" + redis_url,
                key_prefix=namespace,
                # Driver errors arrive as limits.errors.StorageError, whatever the driver.
                wrap_exceptions=True,
            )
            assert isinstance(storage, Storage)
            self._redis = _Backend.on(storage)
        self.retry_redis_s = retry_redis_s
        self._redis_down_until: float | None = None

    async def _on(
        self, pick: Callable[[_Backend], Callable[..., Awaitable[T]]], *args: object, **kw: object
    ) -> T:
        """`pick(backend)(*args)` on Redis when configured and answering, else in memory."""
        redis = self._redis
        now = time.monotonic()
        if redis is not None and (self._redis_down_until is None or now >= self._redis_down_until):
            try:
                result = await pick(redis)(*args, **kw)
            except StorageError as exc:
                if self._redis_down_until is None:
                    log.warning(
                        "rate_limit_redis_unavailable",
                        error=str(exc.storage_error)[:300],
                        fallback="memory",
                    )
                self._redis_down_until = now + self.retry_redis_s
            else:
                if self._redis_down_until is not None:
                    log.warning("rate_limit_redis_recovered")
                    self._redis_down_until = None
                return result
        if redis is not None:
            RATE_LIMIT_FALLBACKS.inc()
        return await pick(self._memory)(*args, **kw)

    @staticmethod
    def _items(spec: str) -> list[RateLimitItem]:
        return parse_many(spec)

    async def hit(self, spec: str, *key: str, message: str = "Too many requests") -> None:
        """Count one request; raise 429 with Retry-After when any window is full."""
        for item in self._items(spec):
            if not await self._on(lambda b: b.strategy.hit, item, *key):
                raise RateLimited(message, retry_after=await self._retry_after(item, key))

    async def check(self, spec: str, *key: str, message: str = "Too many requests") -> None:
        """Raise 429 if a window is already full, without counting this request."""
        for item in self._items(spec):
            if not await self._on(lambda b: b.strategy.test, item, *key):
                raise RateLimited(message, retry_after=await self._retry_after(item, key))

    async def count(self, spec: str, *key: str) -> None:
        """Count one event (e.g. a failed login) without refusing it."""
        for item in self._items(spec):
            await self._on(lambda b: b.strategy.hit, item, *key)

    async def attempt(self, spec: str, *key: str, message: str = "Too many requests") -> None:
        """Count an attempt BEFORE doing the work, atomically; 429 once past the limit.

        For limits on failures (wrong passwords): checking first and counting the failure
        afterwards lets a parallel burst through, since every request checks before any of them
        has failed. Here each request takes its slot first (one INCR, atomic in Redis across
        processes) and the caller gives it back with `give_back` when the attempt succeeded.
        """
        for item in self._items(spec):
            if not await self._on(lambda b: b.counter.hit, item, *key):
                stats = await self._on(lambda b: b.counter.get_window_stats, item, *key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(message, retry_after=retry_after)

    async def give_back(self, spec: str, *key: str) -> None:
        """Return the slot an `attempt` took (the attempt did not fail)."""
        for item in self._items(spec):
            await self._on(
                lambda b: b.storage.incr, item.key_for(*key), item.get_expiry(), amount=-1
            )

    async def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self._on(lambda b: b.strategy.get_window_stats, item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        """Forget every counter (tests, operator command)."""
        await self._memory.storage.reset()
        if self._redis is not None:
            await self._redis.storage.reset()

    async def ready(self) -> bool:
        """Whether the backing store answers (Redis when configured)."""
        backend = self._redis or self._memory
        try:
            return bool(await backend.storage.check())
        except StorageError:
            return False
