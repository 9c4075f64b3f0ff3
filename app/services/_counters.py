"""Two counters on the `limits` library's storage (this process's memory, or Redis shared by
every API process), each taken with one atomic increment *before* the work it limits.

A check followed later by an increment lets every concurrent request pass the check before
any of them counts; an increment first gives each request its own place in line. An attempt
that turns out not to count (a success, or one another limit refused) gives its place back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits.aio.storage import Storage

# Consecutive failures are forgotten this long after the first of them.
FAILURE_MEMORY_SECONDS = 24 * 3600


class Refused(Exception):
    """Over a limit: `limit` names it (for logs), `retry_after` is in seconds."""

    def __init__(self, limit: str, retry_after: float) -> None:
        super().__init__(limit)
        self.limit = limit
        self.retry_after = max(1, math.ceil(retry_after))


class SlidingWindow:
    """At most `limit` a minute per identity: the current minute's count plus the previous
    minute's, weighted by how much of it the sliding minute still covers."""

    PERIOD = 60

    def __init__(self, storage: Storage, name: str, limit: int, clock: Callable[[], float] = time.time) -> None:
        self.storage, self.name, self.limit, self.clock = storage, name, limit, clock

    def _keys(self, ident: str) -> tuple[str, str, float]:
        index, into = divmod(self.clock(), self.PERIOD)
        return f"{self.name}:{ident}:{int(index)}", f"{self.name}:{ident}:{int(index) - 1}", into

    async def _total(self, current: int, previous_key: str, into: float) -> float:
        return await self.storage.get(previous_key) * (1 - into / self.PERIOD) + current

    async def take(self, ident: str) -> str:
        """Count one now; the key to give it back with. Refused (and not counted) past the limit."""
        key, previous, into = self._keys(ident)
        place = await self.storage.incr(key, 2 * self.PERIOD)
        if await self._total(place, previous, into) > self.limit:
            await self.give_back(key)
            raise Refused(self.name, self.PERIOD - into)
        return key

    async def give_back(self, key: str) -> None:
        await self.storage.incr(key, 2 * self.PERIOD, amount=-1)

    async def check(self, ident: str) -> None:
        """Refuse if the limit is reached, counting nothing (for work that costs little)."""
        key, previous, into = self._keys(ident)
        if await self._total(await self.storage.get(key), previous, into) >= self.limit:
            raise Refused(self.name, self.PERIOD - into)

    async def add(self, ident: str) -> None:
        """Count one that already happened."""
        await self.storage.incr(self._keys(ident)[0], 2 * self.PERIOD)


class FailureDelay:
    """Consecutive failures per identity: `free` attempts, then one attempt per delay, which starts
    at `base` seconds and doubles with each further failure up to `cap`. There is no hard lock.

    An attempt past the free ones must hold the turn (an increment that only its first caller
    sees at 1) while it runs, and the next waits out the delay after it failed. A success
    forgets everything.
    """

    TURN_SECONDS = 60  # a turn its holder never ended (a process that died mid-attempt) lapses

    def __init__(self, storage: Storage, name: str, *, free: int, base: int, cap: int) -> None:
        self.storage, self.name, self.free, self.base, self.cap = storage, name, free, base, cap

    def _delay(self, attempt: int) -> int:
        return min(self.base * 2 ** min(max(attempt - self.free, 0), 32), self.cap)

    async def take(self, ident: str) -> bool:
        """Start an attempt, counted as a failure until `succeeded`; whether it holds the turn.
        Refused (uncounted) while this identity waits out its delay or another attempt runs."""
        attempt = await self.storage.incr(f"{self.name}:n:{ident}", FAILURE_MEMORY_SECONDS)
        if attempt < self.free:
            return False
        rest, turn = f"{self.name}:rest:{ident}", f"{self.name}:turn:{ident}"
        if await self._resting(rest):
            await self.give_back(ident)
            raise Refused(self.name, await self.storage.get_expiry(rest) - time.time())
        if await self.storage.incr(turn, self.TURN_SECONDS) != 1:
            await self.give_back(ident)
            # Another attempt runs; if it fails, the delay starts then.
            raise Refused(self.name, self._delay(attempt))
        # The holder before may have failed (and so started a delay) between the first look and
        # taking the turn: it starts the delay before it lets the turn go, so look again.
        if await self._resting(rest):
            await self.storage.clear(turn)
            await self.give_back(ident)
            raise Refused(self.name, await self.storage.get_expiry(rest) - time.time())
        return True

    async def _resting(self, rest: str) -> bool:
        return await self.storage.get(rest) > 0

    async def give_back(self, ident: str) -> None:
        """Uncount an attempt that never ran (another limit refused it)."""
        await self.storage.incr(f"{self.name}:n:{ident}", FAILURE_MEMORY_SECONDS, amount=-1)

    async def failed(self, ident: str, *, turn: bool) -> None:
        """The attempt failed; if it held the turn, the next waits a full delay from now."""
        if not turn:
            return
        rest = f"{self.name}:rest:{ident}"
        await self.storage.clear(rest)
        await self.storage.incr(rest, self._delay(await self.storage.get(f"{self.name}:n:{ident}")))
        await self.storage.clear(f"{self.name}:turn:{ident}")

    async def succeeded(self, ident: str) -> None:
        for part in ("n", "rest", "turn"):
            await self.storage.clear(f"{self.name}:{part}:{ident}")
