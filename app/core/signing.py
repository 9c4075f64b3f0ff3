"""The server's secret key, and the device cookies it signs.

A device cookie (OWASP, "Slow Down Online Guessing Attacks with Device Cookies") says "this
browser once signed in as this user". It is issued at every successful sign-in, and a login that
presents one for the account it names is not held by that account's delay for untrusted
browsers: an attacker guessing someone's password cannot keep its owner out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from itsdangerous import BadSignature, TimestampSigner

from app.core.config import Settings

KEY_FILE = "secret_key"
DEVICE_COOKIE = "device"
# Sent only to the routes that sign in, never with every API request.
DEVICE_COOKIE_PATH = "/api/v1/auth"
DEVICE_COOKIE_MAX_AGE = timedelta(days=365)
_MAX_COOKIE_CHARS = 200  # a real one is about 90


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or (dev and test only: settings refuse a missing key in prod) the key kept in
    DATA_DIR, made on first use. Created aside and linked into place, so that of several
    processes starting at once exactly one writes it and all read the same key."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return path.read_text(encoding="ascii").strip()


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        # Another process may have got there first: then its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


class DeviceCookies:
    """Signed `<user id>.<nonce>` values with their issue time; the nonce names the device for
    its own failure count."""

    def __init__(self, key: str) -> None:
        self._signer = TimestampSigner(key, salt="lekhamudra.device-cookie", digest_method=hashlib.sha256)

    def issue(self, user_id: uuid.UUID) -> str:
        return self._signer.sign(f"{user_id.hex}.{secrets.token_urlsafe(16)}").decode("ascii")

    def device_of(self, cookie: str | None, user_id: uuid.UUID | None) -> str | None:
        """The device's nonce when `cookie` is a live device cookie of this user; else None."""
        if not cookie or user_id is None or len(cookie) > _MAX_COOKIE_CHARS:
            return None
        try:
            value = self._signer.unsign(cookie, max_age=int(DEVICE_COOKIE_MAX_AGE.total_seconds()))
        except BadSignature:  # also an expired one, or anything that is not ours
            return None
        owner, _, nonce = value.decode("ascii", errors="replace").partition(".")
        return nonce if owner == user_id.hex and nonce else None


def device_cookie_header(value: str, *, secure: bool) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, scoped to the sign-in routes, long-lived."""
    max_age = int(DEVICE_COOKIE_MAX_AGE.total_seconds())
    parts = [f"{DEVICE_COOKIE}={value}", "HttpOnly", "SameSite=Lax", f"Path={DEVICE_COOKIE_PATH}", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
