"""The query language: words (all must match), "exact phrase", prefix*, -excluded.

User text never reaches MATCH or tsquery syntax: it is cut into our own tokens here, and each
engine quotes those tokens itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.search._text import normalize, stem, tokens, words

MAX_QUERY_CHARS = 1000
MAX_TERMS = 16

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A quoted phrase (the closing quote may be missing), or a run of non-space characters.
_PART = re.compile(r'(-?)"([^"]*)"?|(\S+)')


class InvalidQuery(ValueError):
    """The query has nothing to search for, or is too long."""


@dataclass(frozen=True)
class Term:
    """Stemmed tokens that must stand next to each other; `prefix`: the last one is a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    required: tuple[Term, ...]
    excluded: tuple[Term, ...] = ()


def _prefix_token(word: str) -> str:
    # Stemming a half-typed word is guesswork; but a whole word typed with * (काठमाडौंमा*) should
    # find its inflections, so its stem is used when that is a prefix of it.
    stemmed = stem(word)
    return stemmed if word.startswith(stemmed) else word


def _term(text: str, *, prefix: bool) -> Term | None:
    if not prefix:
        found = tokens(text)
        return Term(tuple(found)) if found else None
    raw = list(words(normalize(text)))
    if not raw:
        return None
    return Term((*(stem(w) for w in raw[:-1]), _prefix_token(raw[-1])), prefix=True)


def parse_query(q: str) -> ParsedQuery:
    """Parse user input into terms; raise InvalidQuery if there is nothing usable."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"query is longer than {MAX_QUERY_CHARS} characters")
    q = _CONTROL.sub(" ", q)
    required: list[Term] = []
    excluded: list[Term] = []
    for match in _PART.finditer(q):
        quote_minus, phrase, bare = match.groups()
        if bare is None:
            negated, term = bool(quote_minus), _term(phrase, prefix=False)
        else:
            negated = bare.startswith("-")
            body = bare.lstrip("-")
            term = _term(body, prefix=body.endswith("*"))
        if term is None:
            continue
        target = excluded if negated else required
        if term not in target:
            target.append(term)
    if not required:
        raise InvalidQuery("query has no words to search for")
    if len(required) + len(excluded) > MAX_TERMS:
        raise InvalidQuery(f"query has more than {MAX_TERMS} terms")
    return ParsedQuery(tuple(required), tuple(excluded))
