"""The `lekhamudra` command: db upgrade, user create, and serve (end to end over real HTTP)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import make_url
from typer.testing import CliRunner, Result

from app.cli import cli
from app.core.config import get_settings
from app.db.migrate import head_revision, short
from main import create_app
from tests.conftest import make_settings, unique_email
from tests.databases import TEST_DATABASE_URL, fresh_database, is_postgres
from tests.processes import Service, clean_env, free_port, wait_until_serving

PASSWORD = "secret-pass-1"


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI's configuration: a fresh, empty database (SQLite under DATA_DIR, or PostgreSQL)."""
    for name in ("ENV", "POSTGRES_DB", "POSTGRES_HOST", "AUTO_MIGRATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    with fresh_database(tmp_path) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def migrated(cli_database: str) -> str:
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    return cli_database


def can_log_in(database_url: str, data_dir: Path, email: str, password: str) -> bool:
    """Sign in through the app on the same database, as a browser would."""

    async def _login() -> bool:
        application = create_app(make_settings(database_url, data_dir))
        async with (
            LifespanManager(application),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
        ):
            response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
            return response.status_code == 200

    return asyncio.run(_login())


def test_help_lists_the_commands() -> None:
    result = run("--help")

    assert result.exit_code == 0
    for command in ("serve", "db", "user"):
        assert command in result.output


def test_db_upgrade_says_what_it_did_in_one_line(cli_database: str) -> None:
    head = short(head_revision())

    first, again = run("db", "upgrade"), run("db", "upgrade")

    assert first.exit_code == 0, first.output
    assert first.output == f"database schema upgraded 0000 → {head} (head)\n"  # no alembic chatter
    assert again.exit_code == 0, again.output
    assert again.output == f"database schema already at head ({head})\n"


def test_db_upgrade_on_a_database_that_does_not_exist_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ENV", "POSTGRES_DB", "POSTGRES_HOST", "AUTO_MIGRATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    if is_postgres():  # the server answers; the database was never created
        url = make_url(TEST_DATABASE_URL).set(database=f"lekhamudra_missing_{uuid.uuid4().hex[:8]}")
        missing = url.render_as_string(hide_password=False)
        expected = (
            f"error: cannot use the database, PostgreSQL at {url.host}:{url.port or 5432} (database {url.database}"
        )
    else:  # SQLite cannot make a file in a folder that is not there
        missing = f"sqlite:///{tmp_path / 'no-such-folder' / 'db.sqlite'}"
        expected = f"error: the SQLite database's folder {tmp_path / 'no-such-folder'} does not exist"
    monkeypatch.setenv("DATABASE_URL", missing)
    get_settings.cache_clear()
    try:
        result = run("db", "upgrade")
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert result.output.startswith(expected), result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_check_says_each_component_is_ok(migrated: str) -> None:
    result = run("check")

    assert result.exit_code == 0, result.output
    assert result.output == "database: ok\nstorage: ok\nqueue: ok\n"


def test_check_fails_naming_a_schema_that_is_not_at_head(cli_database: str) -> None:
    result = run("check")

    assert result.exit_code == 1
    assert f"database: the database has no schema yet, the code needs {short(head_revision())}" in result.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "postgresql://postgres@nohost.invalid:5432/lekhamudra",
            "PostgreSQL at nohost.invalid:5432 (database lekhamudra, user postgres): "
            "the host 'nohost.invalid' is unknown",
        ),
        (
            "postgresql://ram:secret-pw@127.0.0.1:1/lekhamudra",  # nothing listens on port 1
            "PostgreSQL at 127.0.0.1:1 (database lekhamudra, user ram): connection refused",
        ),
    ],
)
def test_db_upgrade_names_the_database_it_cannot_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = run("db", "upgrade")
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot use the database, {says}"), result.output
    assert "secret-pw" not in result.output


def test_db_upgrade_again_is_harmless(migrated: str) -> None:
    result = run("db", "upgrade")

    assert result.exit_code == 0, result.output


def test_user_create_makes_an_account_that_can_log_in(migrated: str, tmp_path: Path) -> None:
    email = unique_email("cli")

    result = run("user", "create", "--email", email, "--password", PASSWORD, "--full-name", "Sita Sharma")

    assert result.exit_code == 0, result.output
    assert f"Created user {email}" in result.output
    assert can_log_in(migrated, tmp_path, email, PASSWORD)


def test_user_create_keeps_the_email_as_typed_and_matches_it_in_any_case(migrated: str, tmp_path: Path) -> None:
    result = run("user", "create", "--email", "  Ram.Bahadur@Example.COM ", "--password", PASSWORD)
    folded = run("user", "create", "--email", "ram.bahadur@example.com", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert "Created user Ram.Bahadur@Example.COM (" in result.output
    assert can_log_in(migrated, tmp_path, "ram.bahadur@example.com", PASSWORD)
    assert folded.exit_code == 1 and "already exists" in folded.output


def test_user_create_keeps_addresses_that_folding_would_merge_apart(migrated: str, tmp_path: Path) -> None:
    results = [
        run("user", "create", "--email", email, "--password", PASSWORD) for email in ("straße@x.np", "strasse@x.np")
    ]

    assert [r.exit_code for r in results] == [0, 0], [r.output for r in results]
    assert can_log_in(migrated, tmp_path, "STRAßE@x.np", PASSWORD)


def test_user_create_with_taken_email_exits_1(migrated: str) -> None:
    email = unique_email("cli")
    assert run("user", "create", "--email", email, "--password", PASSWORD).exit_code == 0

    result = run("user", "create", "--email", email.upper(), "--password", "another-pass-2")

    assert result.exit_code == 1
    assert "error" in result.output.lower()
    assert "Created user" not in result.output


def test_user_create_with_short_password_fails_and_creates_nobody(migrated: str, tmp_path: Path) -> None:
    email = unique_email("cli")

    result = run("user", "create", "--email", email, "--password", "short")

    assert result.exit_code != 0
    assert "password" in result.output.lower()
    assert not can_log_in(migrated, tmp_path, email, "short")


@pytest.mark.parametrize(
    ("password", "reason"),
    [("lekhamudra-admin-1", "product's name"), ("x" * 12, "one character"), ("my cli-admin pass", "email")],
)
def test_user_create_refuses_a_password_by_the_sign_up_rules(
    migrated: str, tmp_path: Path, password: str, reason: str
) -> None:
    email = f"cli-admin@{uuid.uuid4().hex[:8]}.example.com"

    result = run("user", "create", "--email", email, "--password", password)

    assert result.exit_code != 0
    assert reason in result.output
    assert not can_log_in(migrated, tmp_path, email, password)


def test_user_create_with_invalid_email_fails(migrated: str) -> None:
    result = run("user", "create", "--email", "not-an-email", "--password", PASSWORD)

    assert result.exit_code != 0
    assert "email" in result.output.lower()


def test_user_create_prompts_for_password_twice(migrated: str, tmp_path: Path) -> None:
    email = unique_email("cli")

    result = CliRunner().invoke(cli, ["user", "create", "--email", email], input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert can_log_in(migrated, tmp_path, email, PASSWORD)


# --- End to end: a real server process -----------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`lekhamudra serve` in dev mode on SQLite under a temp DATA_DIR; yields its base URL."""
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    service = Service(["serve", "--port", str(port)], env=env, cwd=tmp_path, log_path=tmp_path / "server.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(service, base_url)
        yield base_url
    finally:
        service.stop(signal.SIGTERM, timeout=15)


def test_serve_migrates_and_serves_signup_and_me_over_http(served: str, tmp_path: Path) -> None:
    email = unique_email("serve")

    with httpx.Client(base_url=served, timeout=10) as browser:
        signup = browser.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        me = browser.get("/api/v1/auth/me")

    assert signup.status_code == 201, signup.text
    assert me.status_code == 200
    assert me.json()["authenticated"] is True
    assert me.json()["user"]["email"] == email
    assert (tmp_path / "data" / "lekhamudra.db").is_file()
