"""`lekhamudra` command line: serve, db upgrade, user create."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging

cli = typer.Typer(help="Lekhamudra: document sharing with Nepali + English OCR.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
user_cli = typer.Typer(help="User accounts.", no_args_is_help=True)
sessions_cli = typer.Typer(help="Sign-in sessions.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(user_cli, name="user")
cli.add_typer(sessions_cli, name="sessions")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the API server (applies pending migrations first in dev)."""
    import uvicorn

    from app.server import CoalescingHttpToolsProtocol
    from main import MIGRATED_ENV

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        _upgrade(settings)
        os.environ[MIGRATED_ENV] = "1"
    if workers > 1 and not reload:
        # Each server worker counts its own requests; Prometheus' multiprocess mode adds them up.
        metrics_dir = settings.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "main:app",
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_config=None,
        server_header=False,
        http=CoalescingHttpToolsProtocol,
        # Forwarded headers are handled by the app, from TRUSTED_PROXIES only.
        proxy_headers=False,
    )


def _upgrade(settings: Settings) -> None:
    """Migrate to head; a database that cannot be reached or does not exist is one line, exit 1."""
    from sqlalchemy.exc import DBAPIError

    from app.db.migrate import upgrade_to_head

    try:
        upgrade_to_head(settings)
    except (DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        typer.echo(f"error: cannot migrate the database: {reason}", err=True)
        raise typer.Exit(1) from None


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _upgrade(settings)
    typer.echo("Database is up to date.")


@user_cli.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a user account."""
    from pydantic import ValidationError

    from app.core.errors import Conflict

    try:
        created = asyncio.run(_create_user(email=email, password=password, full_name=full_name))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(problems) from None
    except Conflict as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created user {created}")


async def _create_user(*, email: str, password: str, full_name: str | None) -> str:
    from app.core.security import Passwords
    from app.crud.user import create_user
    from app.db.session import Database
    from app.schemas.user import UserCreate

    settings = get_settings()
    user_in = UserCreate(email=email, password=password, full_name=full_name)
    passwords = Passwords(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        max_concurrent=1,
    )
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.unit_of_work() as session:
            user = await create_user(
                session=session,
                email=user_in.email,
                password_hash=await passwords.hash(user_in.password),
                full_name=user_in.full_name,
            )
            return f"{user.email} ({user.id})"
    finally:
        await db.dispose()


@sessions_cli.command("prune")
def sessions_prune() -> None:
    """Delete expired sessions now (a worker also does it daily); harmless to repeat."""
    from app.db.session import Database
    from app.models.base import utcnow
    from app.services.sessions import prune_expired_sessions

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)

    async def prune() -> int:
        db = Database(settings.sqlalchemy_url)
        try:
            return await prune_expired_sessions(db=db, now=utcnow())
        finally:
            await db.dispose()

    typer.echo(f"Deleted {asyncio.run(prune())} expired sessions.")


@cli.command()
def worker(
    workers: Annotated[int, typer.Option(min=1, help="Workers, each with its own OCR engine process.")] = 2,
) -> None:
    """Run queue workers (OCR) for this deployment's queue (QUEUE_URL, or SQLite under DATA_DIR)."""
    from app.worker.consumer import run_consumer

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    # Threads, each with its own event loop and OCR engine; the engine runs Tesseract in a child
    # process of its own, so pages are still recognized in parallel processes. (Huey's process
    # workers are daemonic and may not start that child.)
    run_consumer(settings, workers=workers, worker_type="thread")


@cli.command("import")
def import_files(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Files and folders to import.")],
    owner: Annotated[str, typer.Option(help="Email of the user who will own the documents.")],
    languages: Annotated[str | None, typer.Option(help="OCR languages, e.g. nep+eng.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow OCR to the end and print a summary.")] = False,
) -> None:
    """Import scans and PDFs: one document per file, OCR queued for each."""
    from app.cli_import import run_import

    settings = get_settings()
    configure_logging("WARNING")
    raise typer.Exit(asyncio.run(run_import(settings, paths=paths, owner=owner, languages=languages, wait=wait)))


def main() -> None:
    cli()
