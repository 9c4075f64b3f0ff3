"""Records that no answer waits for (a reader's "recent" row and `document.view` event): run
after the response, so that no read depends on a write.

Best effort: a failure is logged, never raised. While failures of one kind keep coming (a locked
or full database), one line per `QUIET` says how many there were, rather than one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
QUIET = 60.0  # seconds: after a failure is logged, the next ones of its kind are only counted till then
Work = Callable[[], Awaitable[object]]


class BestEffort:
    """Wraps the work of one kind (`what`, as the log names it) so that it never raises."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._quiet_until = 0.0
        self._unlogged = 0

    def __call__(self, work: Work) -> Callable[[], Awaitable[None]]:
        async def attempt() -> None:
            try:
                await work()
            except Exception as exc:
                self._failed(exc)

        return attempt

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            self._unlogged += 1
            return
        self._quiet_until = now + QUIET
        earlier, self._unlogged = self._unlogged, 0
        also = f" ({earlier} more not recorded since the last report)" if earlier else ""
        log.warning("%s not recorded: %s: %s%s", self.what, type(exc).__name__, exc, also, exc_info=not earlier)
