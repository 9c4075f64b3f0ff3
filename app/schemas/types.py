"""Field types shared by the schemas: text PostgreSQL can store, normalized emails."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, StringConstraints

MAX_CONTENT_BYTES = 5 * 1024 * 1024


def normalize_email(value: str) -> str:
    """The one spelling of an email we store and compare: NFKC, stripped, casefolded."""
    return unicodedata.normalize("NFKC", value.strip()).casefold()


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it on every database alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _valid_email(value: str) -> str:
    normalized = normalize_email(value)
    try:
        validate_email(normalized, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    return normalized


def _content_size(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise ValueError(f"must be at most {MAX_CONTENT_BYTES} bytes of UTF-8")
    return value


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


SafeText = Annotated[str, AfterValidator(_no_nul)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_no_nul), AfterValidator(_valid_email)]
LoginEmail = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalize_email)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
FullName = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=255), AfterValidator(_no_nul)] | None,
    BeforeValidator(_blank_to_none),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), AfterValidator(_no_nul)]
Content = Annotated[str, AfterValidator(_no_nul), AfterValidator(_content_size)]
