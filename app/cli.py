"""`lekhamudra` command line: serve, db upgrade, user create."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Annotated, NoReturn

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
    graceful_timeout: Annotated[
        int,
        typer.Option(
            min=0,
            help="On SIGTERM or Ctrl-C, seconds to let requests in progress finish; then they are cut (and logged).",
        ),
    ] = 30,
) -> None:
    """Run the API server (applies pending migrations first in dev)."""
    import uvicorn

    from app.db.migrate import MIGRATED_ENV
    from app.server import CoalescingHttpToolsProtocol

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _refuse_port_in_use(host, port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        _upgrade(settings)
    _refuse_unusable_database(settings)
    # Checked (and migrated) once here, not again in each server process.
    os.environ[MIGRATED_ENV] = "1"
    if workers > 1 and not reload:
        # Each server worker counts its own requests; Prometheus' multiprocess mode adds them up.
        metrics_dir = settings.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"Lekhamudra on http://{shown}:{port} (API docs: http://{shown}:{port}/docs)", err=True)
    # Until uvicorn installs its own handlers (and again once it has re-raised the Ctrl-C it
    # handled), Ctrl-C ends the process at once: a KeyboardInterrupt raised wherever the interpreter
    # happens to be (a garbage collector's callback, say) would print a traceback and go on.
    previous = signal.signal(signal.SIGINT, _exit_on_ctrl_c)
    try:
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
            # Without a bound, one request that never ends (a client that stops sending its body, a
            # hung dependency) keeps a stopping server alive for ever.
            timeout_graceful_shutdown=graceful_timeout,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_on_ctrl_c(_signum: int, _frame: object) -> None:
    os._exit(130)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _refuse_port_in_use(host: str, port: int) -> None:
    """One line for a port another process holds, before anything starts (uvicorn would find out
    only after the app and its worker had started, and stop them mid-way)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _refuse_unusable_database(settings: Settings) -> None:
    from app.db.checks import database_problem
    from app.db.session import Database

    async def check() -> str | None:
        db = Database.from_settings(settings, pool_size=2, driver_pool_size=1)
        try:
            return await database_problem(db)
        finally:
            await db.dispose()

    if problem := asyncio.run(check()):
        _fail(problem)


def _upgrade(settings: Settings) -> None:
    """Migrate to head and say what was done; a database that cannot be used is one line, exit 1."""
    from sqlalchemy.exc import DBAPIError

    from app.db.checks import connection_problem, sqlite_folder_problem
    from app.db.migrate import upgrade_report, upgrade_to_head

    settings.data_dir.mkdir(parents=True, exist_ok=True)  # DATA_DIR is made; another folder must exist
    if folder := sqlite_folder_problem(settings.sqlalchemy_url):
        _fail(folder)
    try:
        before, head = upgrade_to_head(settings)
    except (DBAPIError, OSError) as exc:
        _fail(connection_problem(settings.sqlalchemy_url, exc))
    typer.echo(upgrade_report(before, head), err=True)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _upgrade(settings)


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
    db = Database.from_settings(settings, pool_size=2, driver_pool_size=1)
    try:
        async with db.unit_of_work() as session:
            user = await create_user(
                session=session,
                email=user_in.email,
                password_hash=await passwords.hash(user_in.password, anonymous=False),
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
        db = Database.from_settings(settings, pool_size=2, driver_pool_size=1)
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
    _refuse_unusable_database(settings)
    # Threads, each with its own event loop and OCR engine; the engine runs Tesseract in a child
    # process of its own, so pages are still recognized in parallel processes. (Huey's process
    # workers are daemonic and may not start that child.)
    run_consumer(settings, workers=workers, worker_type="thread")


@cli.command()
def check() -> None:
    """Check that the database (schema at head), storage and queue can be used: a line each, exit 1
    if one cannot (a container healthcheck)."""
    from app.db.checks import database_problem
    from app.db.session import Database
    from app.storage import storage_from_settings
    from app.worker.queue import Queue

    settings = get_settings()
    configure_logging("WARNING")
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def problems() -> dict[str, str | None]:
        db = Database.from_settings(settings, pool_size=2, driver_pool_size=1)
        found: dict[str, str | None] = {}
        try:
            found["database"] = await database_problem(db)
        finally:
            await db.dispose()
        try:
            await storage_from_settings(settings).ping()
            found["storage"] = None
        except Exception as exc:
            found["storage"] = f"{type(exc).__name__}: {exc}"
        try:
            await Queue(settings).pending()
            found["queue"] = None
        except Exception as exc:
            found["queue"] = f"{type(exc).__name__}: {exc}"
        return found

    found = asyncio.run(problems())
    for component, problem in found.items():
        typer.echo(f"{component}: {problem or 'ok'}", err=problem is not None)
    if any(found.values()):
        raise typer.Exit(1)


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
