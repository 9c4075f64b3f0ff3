"""Large texts for the tests of bounded work: words that are all different, so that nothing the
tokenizer remembers spares it any of them."""

from __future__ import annotations

import random

# Ten letter-and-vowel-sign pairs, one per decimal digit: no word holds ज, and none is a suffix.
_PAIRS = ["का", "खि", "गी", "घु", "चू", "छे", "टै", "ठो", "डौ", "ढं"]


def spelled(number: int) -> str:
    """A Devanagari word for `number`: different numbers, different words."""
    return "".join(_PAIRS[int(digit)] for digit in str(number))


def distinct_words(count: int, *, seed: int) -> list[str]:
    """`count` different words, numbered from where `seed` says (different seeds, other words)."""
    offset = random.Random(seed).randrange(10**9, 10**10)
    return [spelled(offset + n) for n in range(count)]


def text_of(size: int, *, seed: int, every_tenth: str = "") -> str:
    """About `size` characters of different words; `every_tenth`: a prefix given to every tenth."""
    words = distinct_words(size // 20 + 1, seed=seed)
    if every_tenth:
        words[::10] = [every_tenth + word for word in words[::10]]
    return " ".join(words)[:size]
