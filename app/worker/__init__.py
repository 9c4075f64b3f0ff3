"""Queue workers: the Huey queue and its task entry points (`queue`), consumers (`consumer`) and
per-worker state (`context`). Never imports app.api.

Nothing is imported here: `python -m app.worker.embedded` must start without loading Huey, so
that a stop during its start-up ends it quietly (see `embedded`)."""
