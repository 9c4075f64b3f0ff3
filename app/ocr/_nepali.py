"""Conservative clean-up of Tesseract's Nepali output, and script tests for text layers."""

from __future__ import annotations

import re
import unicodedata

# Devanagari letters and signs (not digits, not the dandas themselves).
_DEVANAGARI_LETTER = "\u0900-\u0963\u0971-\u097f\ua8e0-\ua8ff"
_DANDA = re.compile(rf"(?<=[{_DEVANAGARI_LETTER}])([ \t]*)(\|\|?)")
_NUMBER = re.compile(r"[0-9\u0966-\u096f]+(?:[/.,:\-][0-9\u0966-\u096f]+)*")
_LATIN_TO_DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
_DEVANAGARI = re.compile(r"[\u0900-\u097f\ua8e0-\ua8ff]")
_LATIN_DIGIT = re.compile(r"[0-9]")
_DEVANAGARI_DIGIT = re.compile(r"[\u0966-\u096f]")


def clean_nepali(text: str) -> str:
    """Return text with OCR's ASCII stand-ins fixed: '|' after a word is a danda, stray Latin digits in numbers."""
    text = unicodedata.normalize("NFC", text)
    text = _DANDA.sub(lambda m: m.group(1) + ("॥" if m.group(2) == "||" else "।"), text)
    return _NUMBER.sub(_unify_digits, text)


def _unify_digits(match: re.Match[str]) -> str:
    # A run that is mostly Devanagari digits was written in Devanagari; a tie is left alone.
    run = match.group(0)
    latin, devanagari = len(_LATIN_DIGIT.findall(run)), len(_DEVANAGARI_DIGIT.findall(run))
    return run.translate(_LATIN_TO_DEVANAGARI) if 0 < latin < devanagari else run


def has_devanagari(text: str) -> bool:
    """Return True if text contains any Devanagari character."""
    return _DEVANAGARI.search(text) is not None
