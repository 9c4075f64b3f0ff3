"""The `lekhamudra` command's entry point.

Ctrl-C while the command is still loading its modules ends it quietly (exit 130), not with a
traceback of whichever module was loading; once loaded, SIGINT is Python's again (the server
and the worker install their own handlers). `app.cli` itself leaves the signal alone, so that
importing it (the tests do) changes nothing.
"""

import os
import signal


def _stop_while_loading(_signum: int, _frame: object) -> None:
    os._exit(130)


def main() -> None:
    signal.signal(signal.SIGINT, _stop_while_loading)
    from app.cli import cli

    signal.signal(signal.SIGINT, signal.default_int_handler)
    cli()
