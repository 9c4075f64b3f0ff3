"""Field types shared by the schemas: text PostgreSQL can store, emails, passwords."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict, StringConstraints
from pydantic_core import PydanticCustomError

from app.core.emails import email_key
from app.schemas.password_rules import password_refusal

MAX_CONTENT_BYTES = 5 * 1024 * 1024
MAX_INT32 = 2**31 - 1
MAX_EMAIL_LENGTH = 320


def valid_unicode(value: str) -> str:
    """Refuse text that cannot be encoded as UTF-8 (lone surrogates from JSON escapes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _storable(value: str) -> str:
    """Text both databases can store: valid Unicode without NUL (PostgreSQL refuses it)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return valid_unicode(value)


def _valid_email(value: str) -> str:
    """The address as typed, trimmed (matching goes through its key, app.core.emails)."""
    value = value.strip()
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    if len(email_key(value)) > MAX_EMAIL_LENGTH:  # lower-casing `İ` gives two characters
        raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters")
    return value


def _content_size(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise ValueError(f"must be at most {MAX_CONTENT_BYTES} bytes of UTF-8")
    return value


def _acceptable_password(value: str) -> str:
    refusal = password_refusal(value)
    if refusal is not None:
        raise PydanticCustomError(refusal.code, refusal.message)
    return value


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


_Store = AfterValidator(_storable)
Email = Annotated[str, StringConstraints(max_length=MAX_EMAIL_LENGTH), _Store, AfterValidator(_valid_email)]
# Any spelling: matched through its key, so an unknown one simply finds no account.
LoginEmail = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_EMAIL_LENGTH), _Store]
# Any Unicode, never trimmed; text that cannot be encoded (lone surrogates) is refused, and so is
# what app.schemas.password_rules refuses without knowing the account.
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=128),
    AfterValidator(valid_unicode),
    AfterValidator(_acceptable_password),
]
FullName = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=255), _Store] | None,
    BeforeValidator(_blank_to_none),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), _Store]
Content = Annotated[str, _Store, AfterValidator(_content_size)]
# The version a client says it edited: a JSON integer only (`true`, `"2"` and `3.0` are 422, not
# versions 1, 2 and 3: a client that sends them has a bug worth hearing about).
ExpectedVersion = Annotated[int, Strict(), Field(ge=1, le=MAX_INT32)]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last representable day in UTC
        raise ValueError("must be a date and time that exists in UTC (before year 10000)") from None


# An aware date and time, converted to UTC (what the UTC columns store).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
