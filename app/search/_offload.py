"""Where the tokenizer's work runs: inline for small text, in a worker process for large text.

Tokenizing, stemming, building index literals and snippets is CPU-bound Python. On the event loop
a large document stalls every request of the process; in a thread it still holds the GIL, and
the regular expressions, `unicodedata` and PyStemmer hold it for whole calls over the text. So
text past INLINE_MAX_CHARS goes to a worker process of its own (one per API process: the cap on
how much runs at once; more wait their turn), at a lower CPU priority than the loop's. Small text,
the common case, runs inline: a round trip to the worker costs more than tokenizing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

INLINE_MAX_CHARS = 64 * 1024
WORKER_NICENESS = 10

_lock = threading.Lock()
_executor: Executor | None = None


def _lower_priority() -> None:
    """Run below the event loop's priority: on a busy core, the worker takes what the loop leaves."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: run as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


def _worker() -> Executor:
    global _executor
    with _lock:
        if _executor is None:
            # spawn, not fork: a fork of a process running threads (the database driver's, the
            # hashing pool's) may inherit a lock one of them held, and wait on it forever.
            _executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority
            )
        return _executor


def _replace(broken: Executor) -> None:
    """Forget a worker that died (killed, out of memory): the next call starts another."""
    global _executor
    with _lock:
        if _executor is broken:
            _executor = None
    broken.shutdown(wait=False)


def is_large(size: int) -> bool:
    return size > INLINE_MAX_CHARS


async def run(fn: Callable[..., T], *args: Any, size: int) -> T:
    """`fn(*args)`: inline when `size` (characters of text) is small, else in the worker (once
    more in a new one if that worker died meanwhile)."""
    if not is_large(size):
        return fn(*args)
    loop = asyncio.get_running_loop()
    executor = _worker()
    try:
        return await loop.run_in_executor(executor, fn, *args)
    except BrokenProcessPool:
        _replace(executor)
        return await loop.run_in_executor(_worker(), fn, *args)
