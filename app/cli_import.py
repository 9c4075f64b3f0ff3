"""The `lekhamudra import` command's work: upload each file, then optionally follow its OCR."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app import ocr
from app.core.config import Settings
from app.core.errors import AppError
from app.crud import ocr as ocr_crud
from app.crud import user as user_crud
from app.db.session import Database
from app.models.base import utcnow
from app.services.audit import Actor
from app.services.bulk_import import file_parts, walk_files
from app.services.ingest import upload_document
from app.storage import storage_from_settings
from app.worker.consumer import start_embedded_worker, stop_embedded_worker
from app.worker.queue import Queue

POLL_SECONDS = 1.0


@dataclass
class Imported:
    path: Path
    document_id: uuid.UUID | None = None
    error: str | None = None
    status: str = "queued"
    pages: int | None = None
    confidence: float | None = None


def import_key(path: Path) -> str:
    """The file's Idempotency-Key: its SHA-256, so that a re-run (after a crash, within a day)
    gives each file already imported its document instead of a second one. Keys are the owner's
    own (app.services.idempotency)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return f"import:{digest.hexdigest()}"


async def run_import(settings: Settings, *, paths: list[Path], owner: str, languages: str | None, wait: bool) -> int:
    """Returns the exit code: 0 when every file was imported (and, with --wait, OCR'd)."""
    console = Console(stderr=True)
    db = Database.from_settings(settings, pool_size=2, driver_pool_size=1)
    storage = storage_from_settings(settings)
    queue = Queue(settings)
    installed = ocr.installed_languages(ocr.tessdata_dir(settings.tessdata_prefix))
    worker = None
    try:
        async with db.unit_of_work(write=False) as session:
            user = await user_crud.get_user_by_email(session=session, email=owner)
        if user is None:
            console.print(f"[red]No user with email {owner}[/red]")
            return 2
        files = list(walk_files(paths))
        results: list[Imported] = []
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("Uploading", total=len(files))
            for path in files:
                item = Imported(path)
                try:
                    item.document_id = await upload_document(
                        db=db,
                        storage=storage,
                        enqueue=queue.enqueue_ocr,
                        settings=settings,
                        actor=Actor(id=user.id, email=user.email),
                        parts=file_parts(path, languages=languages),
                        installed_languages=installed,
                        now=utcnow(),
                        idempotency_key=await asyncio.to_thread(import_key, path),
                    )
                except AppError as exc:
                    item.error = exc.detail
                results.append(item)
                progress.advance(task)
        if wait:
            # Embedded mode: make sure a worker exists (it waits quietly if a server already runs one).
            # Its routine INFO lines would only interleave with the progress shown here.
            worker = start_embedded_worker(settings.model_copy(update={"log_level": "WARNING"}))
            await _follow(db, results, console)
        _summary(console, results) if wait else _listing(console, results)
        return 0 if all(r.error is None for r in results) else 1
    finally:
        await asyncio.to_thread(stop_embedded_worker, worker)
        await db.dispose()


async def _follow(db: Database, results: list[Imported], console: Console) -> None:
    pending = {r.document_id: r for r in results if r.document_id}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        bar = progress.add_task("OCR (pages)", total=None)
        while True:
            done_pages = total_pages = 0
            async with db.unit_of_work(write=False) as session:
                finished = 0
                for document_id, item in pending.items():
                    job = await ocr_crud.get_job(session=session, document_id=document_id)
                    if job is None:
                        continue
                    done_pages += job.pages_done
                    total_pages += job.pages_total or 0
                    if job.status in ocr_crud.FINISHED:
                        finished += 1
                        item.status, item.pages, item.error = job.status, job.pages_total, job.error
                        pages = await ocr_crud.list_pages(session=session, document_id=document_id)
                        item.confidence = sum(p.confidence for p in pages) / len(pages) if pages else None
            progress.update(bar, completed=done_pages, total=total_pages or None)
            if finished == len(pending):
                return
            await asyncio.sleep(POLL_SECONDS)


def _listing(console: Console, results: list[Imported]) -> None:
    for item in results:
        outcome = f"[red]{item.error}[/red]" if item.error else f"queued as {item.document_id}"
        console.print(f"{item.path}: {outcome}")


def _summary(console: Console, results: list[Imported]) -> None:
    table = Table("file", "pages", "status", "mean confidence")
    for item in results:
        if item.document_id is None:
            table.add_row(str(item.path), "-", f"rejected: {item.error}", "-")
            continue
        confidence = f"{item.confidence:.1f}" if item.confidence is not None else "-"
        status = item.status if item.status != "failed" else f"failed: {item.error}"
        table.add_row(str(item.path), str(item.pages or 0), status, confidence)
    Console().print(table)
