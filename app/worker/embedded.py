"""`python -m app.worker.embedded`: the worker the API starts for itself.

The server may stop it at any moment of its start-up (Ctrl-C right after starting, a port found
in use, a `--reload` restart). It is started with SIGINT and SIGTERM blocked (`consumer.
start_embedded_worker`), so a stop that comes before the line below waits, pending; from there
until the consumer takes the signals over, a stop ends the process at once and quietly, instead of
a KeyboardInterrupt traceback from whatever module it was importing.
"""

import os
import signal

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _stop(_signum: int, _frame: object) -> None:
    # Not SystemExit: raised inside an import's lock callback, Python reports it as "ignored".
    # Nothing has started that needs cleaning up.
    os._exit(0)


if __name__ == "__main__":
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    from app.worker.consumer import embedded_main

    embedded_main()
