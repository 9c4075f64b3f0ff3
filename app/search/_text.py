"""The one normalizer, tokenizer and stemmer: index and query time, both engines.

A token is a run of letters, digits and combining marks, so a Devanagari word keeps its vowel
signs, virama and nukta (काम and कम stay apart). The engines only ever see our tokens, joined by
spaces: neither SQLite's nor PostgreSQL's word parser decides what a word is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from itertools import chain

import snowballstemmer

# A longer "word" is noise (a hash, base64); PostgreSQL also refuses lexemes over 2 KiB.
MAX_TOKEN_CHARS = 64

# Taken out or replaced before NFC: the joiners, and the Devanagari digits (by ASCII digits).
_REPLACE = {"\u200c": "", "\u200d": ""} | {chr(0x0966 + i): str(i) for i in range(10)}
_MARKS = "\u0300-\u036f\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
# Letters, digits and marks, as one character class (several times faster than an alternation):
# `\w` is letters, digits and "_", so `words` turns "_" into a space first. The marks are listed
# because `\w` leaves most of them out.
_TOKEN = re.compile(rf"[\w{_MARKS}]+")
# The same, over raw text: joiners may sit inside a word (गर्‍यो) and stay part of it.
_RAW_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARKS}\u200c\u200d])+")
RAW_WORD_CHAR = re.compile(rf"(?:[^\W_]|[{_MARKS}\u200c\u200d])")
_DEVANAGARI = re.compile("[\u0900-\u097f]")
_BASE = re.compile(r"[^\W_]")  # a letter or digit, not a mark
_MIN_STEM_LETTERS = 2

_nepali = snowballstemmer.stemmer("nepali")
_english = snowballstemmer.stemmer("english")


_NEEDS_TRANSLATE = re.compile("[\u200c\u200d\u0966-\u096f]")


def normalize(text: str) -> str:
    """No ZWJ/ZWNJ, ASCII digits, then NFC (a joiner between a letter and its mark would keep
    them from composing), case-folded."""
    # One str.replace (a loop in C) per character present; str.translate would call into Python
    # for every character of the text.
    if _NEEDS_TRANSLATE.search(text):
        for old, new in _REPLACE.items():
            if old in text:
                text = text.replace(old, new)
    return unicodedata.normalize("NFC", text).casefold()


@lru_cache(maxsize=200_000)
def stem(token: str) -> str:
    """Nepali Snowball for Devanagari words, English Snowball for the rest; digits stay as they are."""
    if token.isdigit():
        return token
    stemmer = _nepali if _DEVANAGARI.search(token) else _english
    # Snowball Nepali strips one suffix of a stack per pass (महानगरपालिकाको -> महानगरपालिका, which
    # itself stems to महानगरपालि): repeating until nothing changes gives every form one stem.
    # A word that is all suffix (को, ले) would stem to nothing: it stays itself. A stem of one
    # letter is no stem (it strips दी from नदी, नदीमा, नदीको: न would match every word stemmed
    # to न): then only a postposition is taken off (नदीमा -> नदी), if one is there.
    for _ in range(3):
        stemmed = stemmer.stemWord(token) or token
        if len(_BASE.findall(stemmed)) < _MIN_STEM_LETTERS:
            stemmed = _without_postposition(token)
        if stemmed == token:
            break
        token = stemmed
    return token


# Case markers and the plural, longest first; taken off only where Snowball would over-stem.
_POSTPOSITIONS = sorted(
    [
        "हरूले",
        "हरूलाई",
        "हरूको",
        "हरूमा",
        "हरूबाट",
        "हरू",
        "हरु",
        "लाई",
        "बाट",
        "देखि",
        "सँग",
        "सम्म",
        "भन्दा",
        "ले",
        "मा",
        "को",
        "का",
        "की",
    ],
    key=len,
    reverse=True,
)


def _without_postposition(token: str) -> str:
    for suffix in _POSTPOSITIONS:
        rest = token.removesuffix(suffix)
        if rest != token and len(_BASE.findall(rest)) >= _MIN_STEM_LETTERS:
            return rest
    return token


def words(normalized: str) -> list[str]:
    """The unstemmed tokens of normalized text; a run of marks with no base character is dropped."""
    return [
        token[:MAX_TOKEN_CHARS]
        for token in _TOKEN.findall(normalized.replace("_", " "))
        if token[0].isalnum() or _BASE.search(token)  # isalnum() is what `[^\W_]` matches
    ]


def tokens(text: str) -> list[str]:
    """What gets indexed: the stems of the words of `text`, in order.

    No token holds whitespace, so each whitespace-separated piece of the text is tokenized alone,
    and a short piece (a word with the punctuation next to it) recurs: its stems are remembered,
    so a text's words are found and stemmed once per distinct piece, not once per occurrence (a
    1.6 kB document's tokens: 48 -> 26 µs). A long piece (text with no spaces: Chinese, base64,
    minified JSON) is tokenized without being remembered."""
    pieces = normalize(text).split()
    all_short = max(map(len, pieces), default=0) <= _REMEMBERED_PIECE_CHARS
    return list(chain.from_iterable(map(_remembered_piece_tokens if all_short else _any_piece_tokens, pieces)))


# At most 20 000 pieces of at most 64 characters: a few MB, the most recently used.
_REMEMBERED_PIECE_CHARS = 64


def _piece_tokens(piece: str) -> tuple[str, ...]:
    return tuple(map(stem, words(piece)))


_remembered_piece_tokens = lru_cache(maxsize=20_000)(_piece_tokens)


def _any_piece_tokens(piece: str) -> tuple[str, ...]:
    return _remembered_piece_tokens(piece) if len(piece) <= _REMEMBERED_PIECE_CHARS else _piece_tokens(piece)


@lru_cache(maxsize=200_000)
def _raw_stems(word: str) -> tuple[str, ...]:
    return tuple(tokens(word))


def raw_word_spans(text: str, pos: int = 0) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """Each word of the original text from `pos` (a word's start) with its offsets and the stems
    it normalizes to (for snippets)."""
    for match in _RAW_TOKEN.finditer(text, pos):
        stems = _raw_stems(match.group())
        if stems:
            yield match.start(), match.end(), stems
