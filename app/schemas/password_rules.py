"""What a new password may not be (OWASP ASVS 5.0, 6.2): one of the most common passwords, one
character repeated, whitespace only, or anything containing the product's name or the account's
email. Each refusal has a code of its own (a 422's `errors[].type`) and a message.

The rules that need no context run in the `Password` type; the email rule runs where the email is
known: the sign-up model (the API and `lekhamudra user create`) and the password change.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

PRODUCT_NAMES = ("lekhamudra", "लेखमुद्रा")
# Shorter local parts ("ram", "hari") are pieces of too many words and passphrases to refuse.
MIN_EMAIL_NAME = 4
_JOINERS = {ord("\u200c"): None, ord("\u200d"): None}


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30 000 most common passwords from real breaches (loaded once, on first use).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _folded(text: str) -> str:
    """For finding words in a password, however they are cased, widened or joined."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_JOINERS)


def password_refusal(password: str, *, email: str | None = None) -> Refusal | None:
    """Why `password` may not be used (by the account `email`, when given); None if it may."""
    if password.isspace():
        return Refusal("password_whitespace_only", "must not be whitespace only")
    if len(set(password)) == 1:
        return Refusal("password_one_character", "must not be one character repeated")
    if password.casefold() in _common_passwords():
        return Refusal("password_common", "is one of the most common passwords; choose another")
    folded = _folded(password)
    if any(name in folded for name in PRODUCT_NAMES):
        return Refusal("password_contains_product_name", "must not contain the product's name (Lekhamudra)")
    if email is not None:
        address = _folded(email.strip())
        name = address.rpartition("@")[0]
        if address in folded or (len(name) >= MIN_EMAIL_NAME and name in folded):
            return Refusal("password_contains_email", "must not contain your email address or the name before its @")
    return None
