"""The app's injectable clock (`app.state.clock`) as tests set it: no test waits for time to pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """Fixed until a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class TickingClock(Clock):
    """Each reading is one second after the last, so "newest first" never meets a tie."""

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
