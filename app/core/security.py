"""Password hashing, session tokens and the session cookie."""

from __future__ import annotations

import hashlib
import re
import secrets

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "session_id"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32) is 43 characters


class Passwords:
    """argon2id hashing off the event loop, with a bound on concurrent hashes."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int, max_concurrent: int) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        # Unknown emails are verified against this so they cost the same as known ones.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        target = password_hash or self._dummy_hash
        ok = await anyio.to_thread.run_sync(self._verify, target, password, limiter=self._limiter)
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


def session_cookie_header(token: str, *, max_age: int, secure: bool) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, never a Domain."""
    parts = [f"{SESSION_COOKIE}={token}", "HttpOnly", "SameSite=Lax", "Path=/", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_session_cookie_header(*, secure: bool) -> str:
    return session_cookie_header("", max_age=0, secure=secure)
