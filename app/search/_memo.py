"""Remembered results of the tokenizer, bounded by the bytes they hold, not only by their count.

A count alone does not bound memory when keys can be long (a "word" of a megabyte). A memo keeps
only keys up to `max_key_chars` and at most `max_bytes` in all (the dict itself, keys and values,
as `sys.getsizeof` counts them); past that, the older half is forgotten.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

V = TypeVar("V")
# What one entry may cost the dict itself, at most: its slot (hash, key, value) and its share of
# the index and of the spare room a dict keeps after growing.
_DICT_ENTRY_BYTES = 100


def tuple_size(value: tuple[str, ...]) -> int:
    return sys.getsizeof(value) + sum(map(sys.getsizeof, value))


class Memo(Generic[V]):
    """A dict of short keys to results, within a budget of bytes. Look-ups read `data` directly
    (a plain dict: `map(memo.data.get, keys)` runs in C)."""

    def __init__(self, *, max_bytes: int, max_key_chars: int, size: Callable[[V], int] = sys.getsizeof) -> None:
        self.data: dict[str, V] = {}
        self.max_bytes, self.max_key_chars = max_bytes, max_key_chars
        self._size = size
        self._used = 0  # bytes counted: each entry's key, value and share of the dict
        # Worker threads (OCR jobs) may tokenize at once: the count and the halving stay consistent.
        self._lock = threading.Lock()

    def remember(self, key: str, value: V) -> V:
        if len(key) <= self.max_key_chars:
            self.remember_all([(key, value)])
        return value

    def remember_all(self, pairs: Iterable[tuple[str, V]], *, evict: bool = True) -> None:
        """Remember each (key, value) whose key is short enough; when the budget is reached, forget
        the older half, or (`evict=False`: many new results at once, which would only push out the
        ones in use) stop there."""
        with self._lock:
            data, size, limit, budget = self.data, self._size, self.max_key_chars, self.max_bytes
            used = self._used
            for key, value in pairs:
                if len(key) <= limit and key not in data:
                    data[key] = value
                    used += _DICT_ENTRY_BYTES + sys.getsizeof(key) + size(value)
                    if used > budget:
                        if not evict:
                            del data[key]
                            break
                        self._used = used
                        self._forget_older_half()
                        data, used = self.data, self._used
            self._used = used

    def bytes(self) -> int:
        """What the memo holds now: the dict, its keys and its values."""
        with self._lock:
            data = self.data
            return sys.getsizeof(data) + sum(sys.getsizeof(k) + self._size(v) for k, v in data.items())

    def clear(self) -> None:
        with self._lock:
            self.data, self._used = {}, 0

    def _forget_older_half(self) -> None:
        # A new dict, not deletions: a dict does not shrink when its entries are deleted.
        kept = list(self.data.items())[len(self.data) // 2 :]
        self.data = dict(kept)
        self._used = sum(_DICT_ENTRY_BYTES + sys.getsizeof(k) + self._size(v) for k, v in kept)
