"""Throttle counts in Redis, or in this process's memory while Redis cannot be reached.

Sign-in must not depend on Redis: with it down, every login was a 500. While Redis fails, counts
go to a per-process memory store (each API process then limits on its own, so an attacker gets
at most one process's allowance more); Redis is tried again every `RETRY_SECONDS`. The switch
is logged once per incident (app.core.incidents), loudly: limits are weaker meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from limits.aio.storage import MemoryStorage, MovingWindowSupport, Storage
from limits.errors import StorageError

from app.core.incidents import incident

T = TypeVar("T")
RETRY_SECONDS = 5.0
REDIS_DOWN = incident("throttle_redis_unavailable")


class FallbackStorage(Storage, MovingWindowSupport):
    """`primary` (Redis, raising StorageError when it cannot be reached), else memory."""

    STORAGE_SCHEME = None

    def __init__(self, primary: Storage, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.primary = primary
        self.memory = MemoryStorage()
        self._clock = clock
        self._failed_at: float | None = None

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return StorageError

    async def _use(self, call: Callable[[Storage], Awaitable[T]]) -> T:
        if self._failed_at is not None and self._clock() - self._failed_at < RETRY_SECONDS:
            return await call(self.memory)
        try:
            result = await call(self.primary)
        except StorageError as exc:
            self._failed_at = self._clock()
            REDIS_DOWN.happened(
                f"throttling in this process's memory until Redis answers ({type(exc.storage_error).__name__})"
            )
            return await call(self.memory)
        if self._failed_at is not None:
            self._failed_at = None
            REDIS_DOWN.ended()
        return result

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return await self._use(lambda s: s.incr(key, expiry, amount=amount))

    async def get(self, key: str) -> int:
        return await self._use(lambda s: s.get(key))

    async def get_expiry(self, key: str) -> float:
        return await self._use(lambda s: s.get_expiry(key))

    async def check(self) -> bool:
        return await self.primary.check()

    async def reset(self) -> int | None:
        return await self._use(lambda s: s.reset())

    async def clear(self, key: str) -> None:
        await self._use(lambda s: s.clear(key))

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return await self._use(lambda s: _moving(s).acquire_entry(key, limit, expiry, amount))

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return await self._use(lambda s: _moving(s).get_moving_window(key, limit, expiry))


def _moving(storage: Storage) -> Any:
    assert isinstance(storage, MovingWindowSupport)
    return storage
