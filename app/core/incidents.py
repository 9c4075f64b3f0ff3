"""Faults logged once per incident, not once per request.

A database that stops answering fails every request until it comes back: one error line each
would bury the log (and the one line that says what happened). An `Incident` logs its start once,
counts what follows quietly, repeats itself at most once per `remind_after` seconds while it
lasts, and logs its end with how long it took and how many requests it touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("lekhamudra.incident")


class Incident:
    """One kind of fault of this process (`database_unavailable`, `redis_unavailable`...)."""

    def __init__(self, name: str, *, remind_after: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.remind_after = remind_after
        self._clock = clock
        self._lock = threading.Lock()  # reported from the event loop and from worker threads alike
        self._started: float | None = None
        self._reminded = 0.0
        self._count = 0

    @property
    def active(self) -> bool:
        return self._started is not None

    def happened(self, reason: str) -> None:
        """The fault was seen (again): logged if it starts an incident, or once per `remind_after`."""
        now = self._clock()
        with self._lock:
            self._count += 1
            if self._started is None:
                self._started, self._reminded, self._count = now, now, 1
                log.error("incident.start %s: %s", self.name, reason)
            elif now - self._reminded >= self.remind_after:
                self._reminded = now
                log.error(
                    "incident.ongoing %s for %.0fs, %d times: %s", self.name, now - self._started, self._count, reason
                )

    def ended(self) -> None:
        """The fault is over (a call that needed the component succeeded): logged once."""
        if self._started is None:  # the common case, without the lock
            return
        with self._lock:
            if self._started is None:
                return
            took, count = self._clock() - self._started, self._count
            self._started, self._count = None, 0
        log.warning("incident.end %s after %.1fs, %d times", self.name, took, count)


_incidents: dict[str, Incident] = {}


def incident(name: str) -> Incident:
    """The process's one incident of that name."""
    return _incidents.setdefault(name, Incident(name))
