"""Running Huey consumers: `lekhamudra worker` and the API's embedded worker."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import IO

from app.core.config import Settings
from app.core.logging import configure_logging
from app.models.base import utcnow
from app.services.workers import WorkerIdentity, beat_and_take_back, leave
from app.worker.context import SETTINGS_ENV, set_identity, worker_context, worker_settings
from app.worker.queue import Queue

log = logging.getLogger(__name__)
EMBEDDED_LOCK = ".embedded-worker.lock"
PARENT_PID_ENV = "LEKHAMUDRA_SERVER_PID"
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def run_consumer(settings: Settings, *, workers: int, worker_type: str) -> None:
    """Run a consumer until SIGINT (graceful) or SIGTERM; it also runs the periodic tasks."""
    queue = Queue(settings)
    consumer = queue.huey.create_consumer(
        workers=workers, worker_type=worker_type, periodic=True, max_delay=2.0, check_worker_health=True
    )
    me = WorkerIdentity()
    set_identity(me)
    started_at = utcnow()
    # The first beat before any task: the jobs of workers that are gone are queued again ahead of
    # what waits, before this consumer takes its first task.
    _beat(me, started_at)
    stopping = threading.Event()
    heart = threading.Thread(target=_heartbeat, args=(me, started_at, stopping), name="heartbeat", daemon=True)
    heart.start()
    log.info("worker started id=%s queue=%s workers=%d type=%s", me.id, queue.kind, workers, worker_type)
    try:
        consumer.run()
    finally:
        stopping.set()
        heart.join(timeout=10)
        try:
            worker_context().run(leave(worker_context().db, me))
        except Exception as exc:  # the database is gone too: the row goes stale, others remove it
            log.warning("worker %s could not remove its row: %s", me.id, type(exc).__name__)


def _beat(me: WorkerIdentity, started_at: datetime) -> None:
    ctx = worker_context()  # the calling thread's own loop and database connections
    try:
        ctx.run(beat_and_take_back(ctx.ocr_deps(), me, started_at=started_at))
    except Exception as exc:  # the database or queue is unreachable: try again next beat
        log.warning("worker heartbeat failed: %s", type(exc).__name__)


def _heartbeat(me: WorkerIdentity, started_at: datetime, stopping: threading.Event) -> None:
    """Renew this worker's heartbeat every WORKER_HEARTBEAT_SECONDS; each beat also takes back the
    jobs of workers that are gone."""
    interval = worker_context().settings.worker_heartbeat_seconds
    while not stopping.wait(interval):
        _beat(me, started_at)


def _exit_with_parent(parent_pid: int) -> None:
    # An orphaned embedded worker must not outlive the server that started it.
    while os.getppid() == parent_pid:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def embedded_main() -> None:
    """Entry of the embedded worker process: one consumer per DATA_DIR, guarded by a file lock."""
    settings = worker_settings()
    configure_logging(settings.log_level, settings.log_format)
    # The server's pid as it started this process: if it is gone already, getppid() no longer says so.
    parent_pid = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / EMBEDDED_LOCK, "w") as lock:
        # Several server workers each start one of these; the others wait here and take over
        # only if the holder dies.
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_consumer(settings, workers=1, worker_type="thread")


def start_embedded_worker(settings: Settings, *, output: IO[bytes] | None = None) -> subprocess.Popen[bytes] | None:
    """Spawn the embedded consumer as a child (Huey installs signal handlers: not in a thread),
    with the stop signals blocked until it can take them quietly (app.worker.embedded)."""
    if not settings.embedded_worker or settings.queue_url:
        return None
    env = {**os.environ, SETTINGS_ENV: settings.model_dump_json(), PARENT_PID_ENV: str(os.getpid())}
    # The child inherits this thread's signal mask; this thread gets its own back at once.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        return subprocess.Popen([sys.executable, "-m", "app.worker.embedded"], env=env, stdout=output, stderr=output)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_embedded_worker(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # graceful: finish the current page's task if quick
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
