"""The server's embedded worker, kept running.

A consumer child that dies (killed, out of memory, a crash: any exit but a clean one) is reaped at once
by a watching thread (no zombie) and started again: after 1 s, doubling up to 30 s while it keeps
dying, back to 1 s once one has stayed up for a minute. The new child's first heartbeat takes back
the jobs its predecessor held (`app.services.workers`), so nothing waits out a lease.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from datetime import datetime
from typing import Any

from app.core.config import Settings
from app.models.base import utcnow
from app.worker.consumer import start_embedded_worker, stop_embedded_worker

log = logging.getLogger(__name__)
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0


class EmbeddedWorker:
    """Starts the embedded consumer (`start`), restarts it whenever it dies, stops it (`stop`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.restarts = 0
        self.enabled = False  # whether this server runs an embedded worker at all
        self.started_at: datetime | None = None  # when the current child was started
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def start(self) -> bool:
        """Start the child and its watcher; False when this deployment runs no embedded worker."""
        process = start_embedded_worker(self.settings)
        if process is None:
            return False
        self.enabled, self._process, self.started_at = True, process, utcnow()
        self._watcher = threading.Thread(target=self._watch, name="embedded-worker-watch", daemon=True)
        self._watcher.start()
        return True

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def status(self) -> dict[str, Any]:
        """For /health's operators: the child's pid and how often it was restarted."""
        process = self._process
        return {"pid": process.pid if process else None, "running": self.running, "restarts": self.restarts}

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        stop_embedded_worker(process, timeout)
        if self._watcher is not None:
            self._watcher.join(timeout)

    def _watch(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()  # reaps it
            # 0: it was asked to stop (Ctrl-C reaches the whole process group): so is the server.
            if self._stopping.is_set() or code == 0:
                return
            if time.monotonic() - started >= STABLE_AFTER_SECONDS:
                backoff = FIRST_BACKOFF_SECONDS
            log.warning("embedded worker pid=%d exited (code %s): starting another in %g s", process.pid, code, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process, self.started_at = start_embedded_worker(self.settings), utcnow()
                self.restarts += 1
