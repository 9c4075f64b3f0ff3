"""Throttling of password guesses and sign-ups, on the `limits` library's storage (memory, or Redis
to share counts between API processes).

- Failed logins per email key (app.core.emails; whether or not the account exists) from browsers
  without a device cookie for that account: the first N are free, then one attempt per delay that
  doubles per further failure, up to a cap. There is no hard lock.
- A browser with a device cookie for the account (app.core.signing) is not held by that: its
  own failures count against its cookie alone, with the same delays. So an attacker who keeps
  an email throttled does not keep its owner out (OWASP's device cookies).
- A wrong current password on a password change counts against that session alone.
- Failed logins per client IP in a sliding one-minute window (browsers with a device cookie
  for the account they sign in to are not counted); sign-ups per IP per hour.
- Wrong passwords per share link: delayed like an email's failed logins, so the link stays
  usable with the right password once the delay has passed, never dead. Refused opens per
  client IP (unknown tokens, wrong passwords, expired or revoked links) in a sliding minute,
  checked before the token is even looked up. Successful opens are never counted.
- One budget per client IP, in a sliding minute, for the password hashes that requests without
  a session cause: logins from untrusted browsers, share-link passwords, sign-ups. Successful
  checks give theirs back. (Together with app.core.security.Passwords's anonymous slots, this is
  what keeps wrong share-link passwords from slowing everyone's logins.)

With Redis unreachable, counts go to this process's memory until it answers again
(app.services._fallback): sign-in keeps answering 200 and 401, never 500.

Each attempt is counted before its password is checked (app.services._counters), so concurrent
guesses cannot all slip past a limit, and given back when it succeeds: only failures count, so
a client that keeps signing in (or opening a link) successfully is never slowed down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from limits import RateLimitItemPerHour
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.core.config import Settings
from app.core.emails import email_key
from app.core.errors import TooManyRequests
from app.services._counters import FailureDelay, Refused, SlidingWindow
from app.services._fallback import FallbackStorage

log = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 2.0


def _key(value: str) -> str:
    # Keys never hold the address or token itself (they may live in a shared Redis).
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _async_storage(url: str, **options: str | float | bool) -> Storage:
    """`limits` storage for an `async+` URL (Settings.throttle_storage_url gives only those)."""
    storage = storage_from_string(url, **options)
    if not isinstance(storage, Storage):
        raise TypeError(f"{type(storage).__name__} is synchronous: the throttle needs an async+ URL")
    return storage


def _storage_of(url: str, key_prefix: str) -> Storage:
    """Memory, or Redis falling back to memory while it cannot be reached (app.services._fallback);
    a Redis that stops answering is given up on after REDIS_TIMEOUT_SECONDS, not waited for."""
    if not url.startswith("async+redis"):
        return _async_storage(url)
    redis = _async_storage(
        url,
        implementation="redispy",
        key_prefix=key_prefix,
        wrap_exceptions=True,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return FallbackStorage(redis)


def _email_key(email: str) -> str:
    # Every spelling of an address shares its counters (app.core.emails).
    return _key(email_key(email))


@dataclass
class Attempt:
    """A password check under way, already counted: say how it ended."""

    delay: FailureDelay
    ident: str
    turn: bool
    held: list[tuple[SlidingWindow, str]] = field(default_factory=list)

    async def failed(self) -> None:
        await self.delay.failed(self.ident, turn=self.turn)

    async def succeeded(self) -> None:
        await self.delay.succeeded(self.ident)
        for window, key in self.held:
            await window.give_back(key)


class AuthThrottle:
    """Every limit above, on one storage; each `begin_*` counts an attempt or raises TooManyRequests."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage | None = None,
        *,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "LIMITS",
    ) -> None:
        self.settings = settings
        self.storage = storage or _storage_of(settings.throttle_storage_url, key_prefix)
        delays = {"base": settings.login_delay_base_seconds, "cap": settings.login_delay_cap_seconds}
        free = settings.login_failures_before_delay
        self.emails = FailureDelay(self.storage, "login-email", free=free, **delays)
        self.devices = FailureDelay(self.storage, "login-device", free=free, **delays)
        self.sessions = FailureDelay(self.storage, "password-session", free=free, **delays)
        self.links = FailureDelay(self.storage, "link-token", free=settings.link_failures_before_delay, **delays)
        self.ip_login_failures = SlidingWindow(
            self.storage, "login-ip", settings.login_failures_per_ip_per_minute, clock
        )
        self.ip_hashes = SlidingWindow(self.storage, "hash-ip", settings.anonymous_hashes_per_ip_per_minute, clock)
        self.ip_link_failures = SlidingWindow(self.storage, "link-ip", settings.link_failures_per_ip_per_minute, clock)
        self.window = MovingWindowRateLimiter(self.storage)
        self.signups = RateLimitItemPerHour(settings.signups_per_ip_per_hour, namespace="signup-ip")

    async def begin_login(self, *, email: str, ip: str | None, device: str | None = None) -> Attempt:
        """Count a login attempt before its password is checked: against the device cookie's nonce
        when the browser has one for this account, else against this IP and this email;
        TooManyRequests (nothing counted) while any is at its limit."""
        if device is not None:
            return await self._begin(self.devices, _key(device))
        return await self._begin(self.emails, _email_key(email), ip, (self.ip_login_failures, self.ip_hashes))

    async def begin_password_change(self, *, session_id: str) -> Attempt:
        """Count a check of the current password against this session alone: whoever keeps the
        account's email throttled cannot stop its owner changing the password."""
        return await self._begin(self.sessions, _key(session_id))

    async def begin_link_password(self, *, link_id: str, ip: str | None) -> Attempt:
        """Count a share-link password check before it runs: its hash against this IP's budget, the
        guess against the link's delay; TooManyRequests (nothing counted) while either is at its limit."""
        return await self._begin(self.links, link_id, ip, (self.ip_hashes,))

    async def _begin(
        self, delay: FailureDelay, ident: str, ip: str | None = None, windows: tuple[SlidingWindow, ...] = ()
    ) -> Attempt:
        held: list[tuple[SlidingWindow, str]] = []
        try:
            for window in windows:
                if ip:
                    held.append((window, await window.take(ip)))
            turn = await delay.take(ident)
        except Refused as refused:
            for window, key in held:
                await window.give_back(key)
            self._refuse(refused.limit, refused.retry_after)
        return Attempt(delay, ident, turn, held)

    async def check_signup(self, *, ip: str | None) -> None:
        """Count a sign-up attempt from this IP, and the hash it will cost; refuse past either limit."""
        if not ip:
            return
        try:
            hashed = await self.ip_hashes.take(ip)
        except Refused as refused:
            self._refuse(refused.limit, refused.retry_after)
        if not await self.window.hit(self.signups, ip):
            await self.ip_hashes.give_back(hashed)
            stats = await self.window.get_window_stats(self.signups, ip)
            self._refuse("signup-ip", stats.reset_time - time.time())

    async def check_link_opener(self, *, ip: str | None) -> None:
        """Refuse a client IP past its refused share-link opens, before any look-up."""
        if ip:
            try:
                await self.ip_link_failures.check(ip)
            except Refused as refused:
                self._refuse(refused.limit, refused.retry_after)

    async def link_refused(self, *, ip: str | None) -> None:
        """An open was refused (unknown, expired, revoked, trashed, wrong password): count it."""
        if ip:
            await self.ip_link_failures.add(ip)

    @staticmethod
    def _refuse(reason: str, retry_after: float) -> NoReturn:
        log.info("auth.throttled reason=%s", reason)
        raise TooManyRequests(retry_after=math.ceil(retry_after))
