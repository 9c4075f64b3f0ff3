"""Password hashing, session tokens and the session cookie."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")
SESSION_COOKIE = "session_id"
# Browsers keep a `__Host-` cookie only when it is Secure, with Path=/ and no Domain: no sibling
# subdomain and no plain-http page can set or overwrite it. Without Secure (dev, tests) a browser
# would refuse it, so there the plain name stays.
SECURE_SESSION_COOKIE = "__Host-session_id"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32) is 43 characters


HASH_THREAD_NICENESS = 19


def _lower_thread_priority() -> None:
    """Run this thread at a lower CPU priority than the event loop's (Linux schedules threads
    one by one): on a busy core, hashing then takes the time that reads leave over."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: run as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


class Passwords:
    """argon2id hashing off the event loop, on a few low-priority threads of its own.

    At most `max_concurrent` hashes run at once; each is costly in CPU by design (argon2's time and
    memory cost), so at the event loop's priority a burst of logins would starve every other
    request on the same core.

    Work for requests without a session (sign-ups, logins from browsers without a device cookie,
    share-link passwords) is `anonymous`: it may hold at most `anonymous_slots`, all threads but
    one, and waits for a slot before it reaches the pool. However many anonymous hashes are
    queued, a signed-in user's (a password change, a login from a trusted device) finds a free
    thread at once; with a single thread, it waits behind one anonymous hash at most.
    """

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int, max_concurrent: int) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )
        self.anonymous_slots = max(1, max_concurrent - 1)
        self._anonymous = asyncio.Semaphore(self.anonymous_slots)
        # Unknown emails are verified against this so they cost the same as known ones.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run_in_lane(self, anonymous: bool, fn: Callable[..., T], *args: Any) -> T:
        if not anonymous:
            return await self._run(fn, *args)
        async with self._anonymous:
            return await self._run(fn, *args)

    async def hash(self, password: str, *, anonymous: bool) -> str:
        return await self._run_in_lane(anonymous, self._hasher.hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    async def verify(self, password_hash: str | None, password: str, *, anonymous: bool) -> bool:
        target = password_hash or self._dummy_hash
        ok = await self._run_in_lane(anonymous, self._verify, target, password)
        return ok and password_hash is not None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str | None:
    """SHA-256 of a well-formed token; None for anything that cannot be one."""
    if not _TOKEN_RE.match(token):
        return None
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def session_cookie_name(*, secure: bool) -> str:
    """The session cookie's name: what every reader and writer of it asks."""
    return SECURE_SESSION_COOKIE if secure else SESSION_COOKIE


def session_cookie_header(token: str, *, max_age: int, secure: bool) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, never a Domain."""
    name = session_cookie_name(secure=secure)
    parts = [f"{name}={token}", "HttpOnly", "SameSite=Lax", "Path=/", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_session_cookie_header(*, secure: bool) -> str:
    return session_cookie_header("", max_age=0, secure=secure)
