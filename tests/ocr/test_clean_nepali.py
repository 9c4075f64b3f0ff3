"""clean_nepali rewrites only what OCR predictably gets wrong in Nepali, and nothing else."""

from __future__ import annotations

import unicodedata

import pytest

from app.ocr import clean_nepali


@pytest.mark.parametrize(
    ("ocr_text", "expected"),
    [
        # misread: a pipe after a Devanagari word is a danda, a double pipe a double danda
        ("अनुरोध छ|", "अनुरोध छ।"),
        ("अनुरोध छ |", "अनुरोध छ ।"),
        ("समाप्त भयो||", "समाप्त भयो॥"),
        ("पहिलो| दोस्रो|", "पहिलो। दोस्रो।"),
        ("नमस्ते|\nनयाँ लाइन", "नमस्ते।\nनयाँ लाइन"),
        # misread: Latin digits inside a mostly-Devanagari number follow the run's script
        ("२०8१", "२०८१"),
        ("मिति २०८१/०4/१५", "मिति २०८१/०४/१५"),
        ("फोन ०१-४२६१8००", "फोन ०१-४२६१८००"),
        # correct text is left alone
        ("अनुरोध छ।", "अनुरोध छ।"),
        ("समाप्त भयो॥", "समाप्त भयो॥"),
        ("2081", "2081"),
        ("२०८१ 2081", "२०८१ 2081"),
        ("Form 2081 र २०८१", "Form 2081 र २०८१"),
        ("20८1", "20८1"),  # mostly Latin: not ours to guess
        ("२8", "२8"),  # a tie is ambiguous
        ("a | b", "a | b"),  # pipes between Latin words are pipes
        ("cat file | grep नेपाल", "cat file | grep नेपाल"),
        ("| सुरु", "| सुरु"),  # nothing Devanagari before the pipe
        ("Passport (राहदानी)", "Passport (राहदानी)"),
        ("", ""),
    ],
)
def test_clean_nepali(ocr_text: str, expected: str) -> None:
    assert clean_nepali(ocr_text) == expected


def test_clean_nepali_returns_nfc() -> None:
    # U+0958 QA is excluded from composition, so NFC spells it KA + NUKTA; é composes.
    assert clean_nepali("\u0958 Cafe\u0301") == "\u0915\u093c Caf\u00e9"
    assert unicodedata.is_normalized("NFC", clean_nepali("\u0958 Cafe\u0301"))
