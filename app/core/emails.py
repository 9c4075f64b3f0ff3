"""How an email address is matched: the one key every lookup by email goes through."""

from __future__ import annotations

import unicodedata


def email_key(email: str) -> str:
    """The address trimmed, in NFC, lower-cased: `Ram@Example.com` and `ram@example.com` are one
    account. Not NFKC nor casefold: those merge letters that are distinct in an address (`straße`
    and `strasse`, Greek final and medial sigma)."""
    return unicodedata.normalize("NFC", email.strip()).lower()
