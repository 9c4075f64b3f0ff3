"""The one normalizer, tokenizer and stemmer: index and query time, both engines.

A token is a run of letters, digits and combining marks, so a Devanagari word keeps its vowel
signs, virama and nukta (काम and कम stay apart). The engines only ever see our tokens, joined by
spaces: neither SQLite's nor PostgreSQL's word parser decides what a word is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from itertools import chain
from typing import Any

import snowballstemmer

from app.search._memo import Memo, tuple_size

# A longer "word" is noise (a hash, base64); PostgreSQL also refuses lexemes over 2 KiB.
MAX_TOKEN_CHARS = 64

# Taken out or replaced before NFC: the joiners, and the Devanagari digits (by ASCII digits).
_REPLACE = {"\u200c": "", "\u200d": ""} | {chr(0x0966 + i): str(i) for i in range(10)}
_MARKS = "\u0300-\u036f\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
# Letters, digits and marks, as one character class, not an alternation (the regex engine then
# tests each character once instead of trying each branch at each position):
# `\w` is letters, digits and "_", so `words` turns "_" into a space first. The marks are listed
# because `\w` leaves most of them out.
_TOKEN = re.compile(rf"[\w{_MARKS}]+")
# The same, over raw text: joiners may sit inside a word (गर्‍यो) and stay part of it.
_RAW_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARKS}\u200c\u200d])+")
RAW_WORD_CHAR = re.compile(rf"(?:[^\W_]|[{_MARKS}\u200c\u200d])")
_DEVANAGARI = re.compile("[\u0900-\u097f]")
_BASE = re.compile(r"[^\W_]")  # a letter or digit, not a mark
_TWO_BASES = re.compile(r"[^\W_].*?[^\W_]", re.DOTALL)  # a stem needs two letters or digits
_STEM_PASSES = 3


def _stemmer(language: str) -> Any:
    """Snowball's stemmer, without PyStemmer's own cache: ours (`_STEMS`) is bounded by bytes,
    and for a word it has not seen, PyStemmer's cache costs more than the stemming itself."""
    found = snowballstemmer.stemmer(language)
    found.maxCacheSize = 0  # PyStemmer's (the pure-Python fallback has no cache to turn off)
    return found


_nepali = _stemmer("nepali")
_english = _stemmer("english")


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


# What the tokenizer remembers (see _memo): each word's stem; each short whitespace-separated
# piece's stems (a word with the punctuation next to it recurs: its stems are found once per
# distinct piece, not once per occurrence); each short raw word's stems, for snippets.
_STEMS: Memo[str] = Memo(max_bytes=8 << 20, max_key_chars=MAX_TOKEN_CHARS)
_PIECES: Memo[tuple[str, ...]] = Memo(max_bytes=4 << 20, max_key_chars=64, size=tuple_size)
_RAW_STEMS: Memo[tuple[str, ...]] = Memo(max_bytes=2 << 20, max_key_chars=64, size=tuple_size)
MEMOS = (_STEMS, _PIECES, _RAW_STEMS)


def stem(token: str) -> str:
    """Nepali Snowball for Devanagari words, English Snowball for the rest; digits stay as they are.

    Snowball Nepali strips one suffix of a stack per pass (महानगरपालिकाको -> महानगरपालिका, which
    itself stems to महानगरपालि): repeating until nothing changes (at most three passes) gives
    every form one stem. A word that is all suffix (को, ले) would stem to nothing: it stays
    itself. A stem of one letter is no stem (it strips दी from नदी, नदीमा, नदीको: न would match
    every word stemmed to न): then only a postposition is taken off (नदीमा -> नदी), if one is there.
    """
    found = _STEMS.data.get(token)
    return found if found is not None else _STEMS.remember(token, _stem_unknown([token])[0])


def _stem_unknown(found: list[str]) -> list[str]:
    """`stem` of each word, computed (not remembered): each language's words go through its
    stemmer in one call per pass, and only the words the last pass changed go through again."""
    result = list(found)
    nepali: list[int] = []
    english: list[int] = []
    for i, word in enumerate(found):
        if word.isascii():
            if not word.isdigit():
                english.append(i)
        elif _DEVANAGARI.search(word):
            nepali.append(i)
        elif not word.isdigit():
            english.append(i)
    for stemmer, todo in ((_nepali, nepali), (_english, english)):
        for _ in range(_STEM_PASSES):
            if not todo:
                break
            current = [result[i] for i in todo]
            changed = []
            for i, token, stemmed in zip(todo, current, stemmer.stemWords(current), strict=True):
                if not stemmed or stemmed == token:
                    continue  # (a word of fewer than two letters that stays itself is not shortened)
                if not ((len(stemmed) > 1 and stemmed.isalnum()) or _TWO_BASES.search(stemmed)):
                    stemmed = _without_postposition(token)
                    if stemmed == token:
                        continue
                result[i] = stemmed
                changed.append(i)
            todo = changed
    return result


def stems(found: list[str]) -> list[str]:
    """`stem` of each word, in order: each distinct word is looked up or stemmed once."""
    distinct = list(dict.fromkeys(found))
    known = list(map(_STEMS.data.get, distinct))
    table = dict(zip(distinct, known, strict=True))
    unknown = [word for word, stemmed in table.items() if stemmed is None]
    if unknown:
        new = list(zip(unknown, _stem_unknown(unknown), strict=True))
        table.update(new)
        _STEMS.remember_all(new, evict=False)
    return list(map(table.__getitem__, found))  # type: ignore[arg-type]  # each None was replaced above


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
        if rest != token and _TWO_BASES.search(rest):
            return rest
    return token


def words(normalized: str) -> list[str]:
    """The unstemmed tokens of normalized text; a run of marks with no base character is dropped."""
    return [
        token[:MAX_TOKEN_CHARS]
        for token in _TOKEN.findall(normalized.replace("_", " "))
        if token[0].isalnum() or _BASE.search(token)  # isalnum() is what `[^\W_]` matches
    ]


# Past this, a text is tokenized whole rather than piece by piece: a long text's pieces are
# mostly new ones (remembering them would only push out the common ones), and one pass of the
# word pattern over the whole text costs less than one per piece.
PIECEWISE_MAX_CHARS = 16 * 1024


def tokens(text: str) -> list[str]:
    """What gets indexed: the stems of the words of `text`, in order.

    No token holds whitespace, so each whitespace-separated piece of a short text is tokenized
    alone and its stems are remembered (`_PIECES`): a text's words are found and stemmed once per
    distinct piece, not once per occurrence. A long text is tokenized whole (`words`, `stems`)."""
    normalized = normalize(text)
    if len(normalized) > PIECEWISE_MAX_CHARS:
        return stems(words(normalized))
    pieces = normalized.split()
    found: list[tuple[str, ...] | None] = list(map(_PIECES.data.get, pieces))
    if None in found:
        new: dict[str, tuple[str, ...]] = {}
        for i, piece in enumerate(pieces):
            if found[i] is None:
                known = new.get(piece)
                found[i] = known if known is not None else new.setdefault(piece, tuple(map(stem, words(piece))))
        _PIECES.remember_all(new.items())
    return list(chain.from_iterable(found))  # type: ignore[arg-type]  # no None is left


def raw_word_spans(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """Each word of the original text from `pos` (a word's start) to `endpos` with its offsets
    and the stems it normalizes to (for snippets)."""
    for match in _RAW_TOKEN.finditer(text, pos, len(text) if endpos is None else endpos):
        word = match.group()
        found = _RAW_STEMS.data.get(word)
        if found is None:
            found = _RAW_STEMS.remember(word, tuple(tokens(word)))
        if found:
            yield match.start(), match.end(), found
