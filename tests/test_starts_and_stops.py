"""Starting and stopping as an operator sees it: one line for what is wrong, no tracebacks.

Real processes: `lekhamudra serve`, plain `uvicorn main:app`, and the embedded worker child.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db.migrate import head_revision, short
from app.worker.consumer import start_embedded_worker, stop_embedded_worker
from tests.conftest import make_settings
from tests.databases import fresh_database
from tests.processes import PROJECT_ROOT, Service, clean_env, free_port, run_cli, wait_for, wait_until_serving

PROD_SECRET_KEY = "a-test-secret-key-that-is-long-enough-for-production-0123456789"
QUIET_EXIT_CODES = (0, 130, -signal.SIGINT)  # uvicorn re-raises the Ctrl-C it handled: 130


def assert_no_traceback(output: str) -> None:
    assert "Traceback" not in output, output
    assert "Exception ignored" not in output, output
    assert "KeyboardInterrupt" not in output, output


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database that was never migrated (plain URL)."""
    with fresh_database(tmp_path) as url:
        yield url


def test_serve_with_its_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(DATA_DIR=str(tmp_path / "data"))

        result = run_cli("serve", "--port", str(port), env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert not (tmp_path / "data").exists()  # nothing started: no database, no worker


def test_serve_refuses_a_database_never_migrated_outside_dev(tmp_path: Path, empty_database: str) -> None:
    env = clean_env(
        ENV="prod", SECRET_KEY=PROD_SECRET_KEY, DATABASE_URL=empty_database, DATA_DIR=str(tmp_path / "data")
    )

    result = run_cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)

    head = short(head_revision())
    assert result.returncode == 1
    assert result.stderr == (
        f"error: the database has no schema yet, the code needs {head}: run `lekhamudra db upgrade`\n"
    )


def test_plain_uvicorn_refuses_a_database_never_migrated_in_one_line(tmp_path: Path, empty_database: str) -> None:
    env = clean_env(
        ENV="prod", SECRET_KEY=PROD_SECRET_KEY, DATABASE_URL=empty_database, DATA_DIR=str(tmp_path / "data")
    )
    command = ["uv", "run", "--project", str(PROJECT_ROOT), "uvicorn", "main:app", "--port", str(free_port())]

    result = subprocess.run(
        [*command, "--app-dir", str(PROJECT_ROOT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 3  # uvicorn's "startup failed"
    assert "lekhamudra: the database has no schema yet" in result.stderr
    assert_no_traceback(result.stderr)


def _serve(tmp_path: Path) -> tuple[Service, str]:
    port = free_port()
    service = Service(
        ["serve", "--port", str(port)],
        env=clean_env(DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
        log_path=tmp_path / "serve.log",
    )
    return service, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stopped_while_starting_exits_quietly(tmp_path: Path, signum: int) -> None:
    service, _url = _serve(tmp_path)
    # Whatever it is doing by then: loading modules, migrating, starting its worker.
    wait_for(lambda: "Lekhamudra on" in service.log(), within=60, what="serve to begin starting", interval=0.05)

    code = service.stop(signum)

    assert code in (*QUIET_EXIT_CODES, 143, -signal.SIGTERM), service.log()
    assert_no_traceback(service.log())


def test_serve_stopped_with_ctrl_c_while_serving_stops_its_worker_quietly(tmp_path: Path) -> None:
    service, url = _serve(tmp_path)
    wait_until_serving(service, url)
    wait_for(lambda: "Huey consumer started" in service.log(), within=60, what="the embedded worker")

    code = service.stop(signal.SIGINT)

    assert code in QUIET_EXIT_CODES, service.log()
    assert "Consumer exiting." in service.log()
    assert_no_traceback(service.log())
    assert not service.descendants()


def test_serve_reload_restarts_quietly(tmp_path: Path) -> None:
    port = free_port()
    service = Service(
        ["serve", "--port", str(port), "--reload"],
        env=clean_env(DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,  # what --reload watches
        log_path=tmp_path / "serve.log",
    )
    wait_until_serving(service, f"http://127.0.0.1:{port}")

    (tmp_path / "changed.py").write_text("x = 1\n")
    wait_for(lambda: service.log().count("Application startup complete") >= 2, within=60, what="the reload")
    code = service.stop(signal.SIGINT)

    assert code in QUIET_EXIT_CODES, service.log()
    assert "Reloading..." in service.log()
    assert_no_traceback(service.log())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_embedded_worker_stopped_during_its_start_up_exits_quietly(
    tmp_path: Path, database_url: str, signum: int
) -> None:
    settings = make_settings(database_url, tmp_path, embedded_worker=True)
    with (tmp_path / "worker.log").open("wb") as output:
        process = start_embedded_worker(settings, output=output)
        assert process is not None
        # At once: it has not even finished loading Python's own modules.
        process.send_signal(signum)
        code = process.wait(timeout=30)

    assert code == 0
    assert (tmp_path / "worker.log").read_text() == ""


def test_embedded_worker_stopped_once_running_shuts_down_gracefully(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(database_url, tmp_path, embedded_worker=True)
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as output:
        process = start_embedded_worker(settings, output=output)
        wait_for(lambda: "Huey consumer started" in log_path.read_text(), within=60, what="the worker to run")

        stop_embedded_worker(process)

    assert process is not None and process.returncode == 0
    assert "Consumer exiting." in log_path.read_text()
    assert_no_traceback(log_path.read_text())


def test_stop_signals_are_not_left_blocked_in_the_server(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(database_url, tmp_path, embedded_worker=True)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())

    process = start_embedded_worker(settings, output=subprocess.DEVNULL)  # type: ignore[arg-type]
    stop_embedded_worker(process)

    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before
    assert signal.SIGINT not in before
