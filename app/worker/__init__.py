"""Queue workers: Huey task entry points (thin) and consumers. Never imports app.api."""

from app.worker.queue import Queue

__all__ = ["Queue"]
