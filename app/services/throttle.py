"""Login and sign-up throttling, on the `limits` library's storage (memory, or Redis to share counts).

- Failed logins per email key (app.core.emails; whether or not the account exists): after N consecutive
  failures each attempt waits a delay that doubles per further failure, up to a cap. There is no
  hard lock: an attacker can delay a victim's login by at most the cap.
- Failed logins per client IP in a moving one-minute window; sign-ups per IP per hour.
Only failures count, so a client that keeps signing in successfully is never slowed down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.core.config import Settings
from app.core.emails import email_key
from app.core.errors import TooManyRequests

log = logging.getLogger(__name__)
FAILURE_MEMORY_SECONDS = 24 * 3600  # consecutive failures are forgotten a day after the first


def _email_key(email: str) -> str:
    # Every spelling of an address shares its counters; keys never hold the address itself (they
    # may live in a shared Redis).
    return hashlib.sha256(email_key(email).encode()).hexdigest()[:32]


class AuthThrottle:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.settings = settings
        url = settings.throttle_storage_url
        options = {"implementation": "redispy"} if url.startswith("async+redis") else {}
        self.storage = storage or storage_from_string(url, **options)
        self.window = MovingWindowRateLimiter(self.storage)
        self.ip_failures = RateLimitItemPerMinute(settings.login_failures_per_ip_per_minute, namespace="login-ip")
        self.signups = RateLimitItemPerHour(settings.signups_per_ip_per_hour, namespace="signup-ip")
        self.link_accesses = RateLimitItemPerMinute(settings.link_accesses_per_minute, namespace="link")

    async def check_login(self, *, email: str, ip: str | None) -> None:
        """Raise TooManyRequests while this email is in its delay or this IP is over its limit."""
        lock = f"login-delay:{_email_key(email)}"
        if await self.storage.get(lock) > 0:
            self._refuse("email", await self.storage.get_expiry(lock))
        if ip and not await self.window.test(self.ip_failures, ip):
            stats = await self.window.get_window_stats(self.ip_failures, ip)
            self._refuse("ip", stats.reset_time)

    async def login_failed(self, *, email: str, ip: str | None) -> None:
        key = _email_key(email)
        failures = await self.storage.incr(f"login-fail:{key}", FAILURE_MEMORY_SECONDS)
        if ip:
            await self.window.hit(self.ip_failures, ip)
        over = failures - self.settings.login_failures_before_delay
        if over >= 0:
            delay = min(self.settings.login_delay_base_seconds * 2**over, self.settings.login_delay_cap_seconds)
            lock = f"login-delay:{key}"
            await self.storage.clear(lock)
            await self.storage.incr(lock, int(delay))

    async def login_succeeded(self, *, email: str) -> None:
        key = _email_key(email)
        await self.storage.clear(f"login-fail:{key}")
        await self.storage.clear(f"login-delay:{key}")

    async def check_signup(self, *, ip: str | None) -> None:
        """Count a sign-up attempt from this IP; refuse past the hourly limit."""
        if ip and not await self.window.hit(self.signups, ip):
            stats = await self.window.get_window_stats(self.signups, ip)
            self._refuse("signup-ip", stats.reset_time)

    async def check_link(self, *, token: str) -> None:
        """Count an access to a share link (by token); refuse past the per-minute limit."""
        key = hashlib.sha256(token.encode()).hexdigest()[:32]
        if not await self.window.hit(self.link_accesses, key):
            stats = await self.window.get_window_stats(self.link_accesses, key)
            self._refuse("link", stats.reset_time)

    @staticmethod
    def _refuse(reason: str, until: float) -> None:
        log.info("auth.throttled reason=%s", reason)
        raise TooManyRequests(retry_after=math.ceil(until - time.time()))
