"""Settings from the environment: database URL choice, origins, cookies, and fail-fast on bad values."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from app.core.config import Settings, load_settings
from app.core.security import session_cookie_name
from app.core.signing import secret_key
from app.db.migrate import PROJECT_ROOT
from tests.conftest import PASSWORD, set_cookie, unique_email

SETTING_VARS = (
    "ENV",
    "LOG_LEVEL",
    "DATA_DIR",
    "DATABASE_URL",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "AUTO_MIGRATE",
    "PUBLIC_API_URL",
    "FRONTEND_ORIGINS",
    "COOKIE_SECURE",
    "MAX_REQUEST_BYTES",
    "MAX_REQUEST_HEADER_BYTES",
    "DB_POOL_SIZE",
    "DB_DRIVER_POOL_SIZE",
    "SECRET_KEY",
)
# ENV=prod refuses to start without a key of its own.
A_KEY = secrets.token_urlsafe(32)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the variables it sets."""
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)


# --- Which database --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////var/lib/lekhamudra/app.db", "sqlite+aiosqlite:////var/lib/lekhamudra/app.db"),
    ],
)
def test_database_url_is_mapped_to_its_async_driver(
    monkeypatch: pytest.MonkeyPatch, database_url: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert Settings(_env_file=None).sqlalchemy_url == expected  # type: ignore[call-arg]


def test_postgres_parts_are_combined_into_one_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_USER", "lekha")
    monkeypatch.setenv("POSTGRES_PASSWORD", "pw")
    monkeypatch.setenv("POSTGRES_DB", "lekhamudra")
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("POSTGRES_PORT", "6543")

    assert Settings(_env_file=None).sqlalchemy_url == "postgresql+asyncpg://lekha:pw@db.internal:6543/lekhamudra"  # type: ignore[call-arg]


def test_postgres_password_with_special_characters_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss:w/rd#1 %?"
    monkeypatch.setenv("POSTGRES_USER", "lekha")
    monkeypatch.setenv("POSTGRES_PASSWORD", password)
    monkeypatch.setenv("POSTGRES_DB", "lekhamudra")
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")

    url = sa.make_url(Settings(_env_file=None).sqlalchemy_url)  # type: ignore[call-arg]

    assert url.drivername == "postgresql+asyncpg"
    assert url.password == password
    assert url.username == "lekha"
    assert url.host == "db.internal"
    assert url.port == 5432
    assert url.database == "lekhamudra"


def test_postgres_user_defaults_to_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_DB", "lekhamudra")
    monkeypatch.setenv("POSTGRES_HOST", "db")

    assert Settings(_env_file=None).sqlalchemy_url == "postgresql+asyncpg://postgres@db:5432/lekhamudra"  # type: ignore[call-arg]


def test_database_url_wins_over_postgres_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@chosen/db")
    monkeypatch.setenv("POSTGRES_DB", "other")
    monkeypatch.setenv("POSTGRES_HOST", "ignored")

    assert Settings(_env_file=None).sqlalchemy_url == "postgresql+asyncpg://u:p@chosen/db"  # type: ignore[call-arg]


def test_without_database_settings_sqlite_file_lives_under_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))

    url = Settings(_env_file=None).sqlalchemy_url  # type: ignore[call-arg]

    assert url == f"sqlite+aiosqlite:///{(tmp_path / 'lekhamudra.db').resolve()}"


def test_relative_data_dir_gives_an_absolute_sqlite_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "some/data")

    path = Path(sa.make_url(Settings(_env_file=None).sqlalchemy_url).database or "")  # type: ignore[call-arg]

    assert path.is_absolute()
    assert path == (Path("some/data") / "lekhamudra.db").resolve()


# --- Bad values stop start-up with one line naming the variable -------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENV", "staging"),
        ("POSTGRES_PORT", "abc"),
        ("POSTGRES_PORT", "70000"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "not a url"),
        ("LOG_LEVEL", "loud"),
        ("FRONTEND_ORIGINS", "localhost:3000"),
        ("FRONTEND_ORIGINS", "https://app.example.org/path"),
        ("PUBLIC_API_URL", "ftp://api.example.org"),
        ("MAX_REQUEST_BYTES", "ten"),
        ("MAX_REQUEST_HEADER_BYTES", "1024"),
        ("MAX_REQUEST_HEADER_BYTES", "2097152"),
        ("COOKIE_SECURE", "perhaps"),
        ("DB_POOL_SIZE", "0"),
        ("DB_DRIVER_POOL_SIZE", "0"),
        ("DB_DRIVER_POOL_SIZE", "many"),
    ],
)
def test_bad_value_exits_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SystemExit) as exited:
        load_settings(_env_file=None)

    message = str(exited.value.code)
    assert "\n" not in message
    assert message.startswith("lekhamudra: invalid configuration")
    assert f"{name}:" in message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # PostgreSQL would take the user's name as the database's: `postgres`, silently migrated.
        ("postgresql://postgres@127.0.0.1:5432/", "names no database: add it after the host"),
        ("postgresql://postgres@127.0.0.1:5432", "names no database: add it after the host"),
        (
            "postgresql://ram:p@ss@db.example.org/lekhamudra",
            "the user name or password holds an unescaped '@': write it as %40",
        ),
        ("sqlite:///", "names no SQLite file"),
        ("sqlite://", "names no SQLite file"),
        ("sqlite:///:memory:", "names no SQLite file"),
    ],
)
def test_a_database_url_that_would_connect_elsewhere_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    with pytest.raises(SystemExit) as exited:
        load_settings(_env_file=None)

    assert str(exited.value.code).startswith(f"lekhamudra: invalid configuration: DATABASE_URL: {says}")


@pytest.mark.parametrize(
    "url", ["postgresql://ram:p%40ss@db.example.org/lekhamudra", "sqlite:////var/lib/x.db", "sqlite:///./data/x.db"]
)
def test_a_database_url_naming_its_database_is_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    assert load_settings(_env_file=None).database_url == url


@pytest.mark.parametrize("value", [None, "", "change-me", "CHANGEME", "secret", "too-short-to-be-random"])
def test_prod_without_a_real_secret_key_exits_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.setenv("ENV", "prod")
    if value is not None:
        monkeypatch.setenv("SECRET_KEY", value)

    with pytest.raises(SystemExit) as exited:
        load_settings(_env_file=None)

    message = str(exited.value.code)
    assert "\n" not in message
    assert message.startswith("lekhamudra: invalid configuration: SECRET_KEY:")
    assert not value or value not in message


def test_a_secret_key_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", A_KEY)

    assert A_KEY not in repr(load_settings(_env_file=None))


@pytest.mark.parametrize("env", ["dev", "test"])
def test_without_a_secret_key_dev_and_test_make_one_in_data_dir_that_only_its_owner_reads(
    tmp_path: Path, env: str
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(_env_file=None, env=env, data_dir=data_dir)  # type: ignore[call-arg]

    first, again = secret_key(settings), secret_key(settings)

    assert first == again and len(first) >= 32
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["secret_key"]


def test_server_processes_starting_at_once_on_one_data_dir_agree_on_the_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARS}
    env.update(ENV="dev", DATA_DIR=str(tmp_path))
    script = "from app.core.config import get_settings; from app.core.signing import secret_key; "
    script += "print(secret_key(get_settings()))"
    processes = [
        subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]

    keys = {process.communicate(timeout=120)[0].strip() for process in processes}

    assert [process.returncode for process in processes] == [0] * 6
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_a_request_head_may_take_64_kib_unless_set() -> None:
    assert load_settings(_env_file=None).max_request_header_bytes == 64 * 1024


def test_postgres_db_without_host_is_refused_naming_postgres_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_DB", "lekhamudra")

    with pytest.raises(SystemExit) as exited:
        load_settings(_env_file=None)

    assert "POSTGRES_HOST" in str(exited.value.code)


@pytest.mark.parametrize(("env_value", "named"), [("staging", "ENV:"), ("prod", "SECRET_KEY:")])
def test_bad_value_stops_app_import_with_one_line_on_stderr(tmp_path: Path, env_value: str, named: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARS}
    env.update(ENV=env_value, DATA_DIR=str(tmp_path))

    result = subprocess.run(
        ["uv", "run", "python", "-c", "import main"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr


# --- HTTP settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "cookie_secure", "expected"),
    [
        ("prod", None, True),
        ("dev", None, False),
        ("test", None, False),
        ("dev", "true", True),
        ("prod", "false", False),
    ],
)
def test_secure_cookies_default_on_only_in_prod(
    monkeypatch: pytest.MonkeyPatch, env: str, cookie_secure: str | None, expected: bool
) -> None:
    monkeypatch.setenv("ENV", env)
    monkeypatch.setenv("SECRET_KEY", A_KEY)
    if cookie_secure is not None:
        monkeypatch.setenv("COOKIE_SECURE", cookie_secure)

    assert Settings(_env_file=None).secure_cookies is expected  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("settings", "secure"),
    [({"env": "prod"}, True), ({"env": "test"}, False), ({"env": "dev", "auto_migrate": False}, False)],
    indirect=["settings"],
    ids=["prod", "test", "dev"],
)
async def test_session_cookie_is_secure_only_in_prod(client: httpx.AsyncClient, secure: bool) -> None:
    response = await client.post("/api/v1/auth/signup", json={"email": unique_email("cookie"), "password": PASSWORD})

    assert response.status_code == 201, response.text
    name = session_cookie_name(secure=secure)  # `__Host-session_id` when Secure
    attributes = [a.strip().lower() for a in (set_cookie(response, name) or "").split(";")]
    assert ("secure" in attributes) is secure


def test_default_trusted_origins_are_frontend_and_own_api() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.trusted_origins == ["http://localhost:3000", "http://localhost:8000"]


def test_frontend_origins_accept_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTEND_ORIGINS", "https://app.example.org, http://localhost:5173/,https://B.example.org")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.frontend_origins == ["https://app.example.org", "http://localhost:5173", "https://b.example.org"]


def test_public_api_url_origin_is_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTEND_ORIGINS", "https://app.example.org")
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.org/base/")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.trusted_origins == ["https://app.example.org", "https://api.example.org"]


@pytest.mark.parametrize(("env", "expected"), [("dev", True), ("test", False), ("prod", False)])
def test_migrations_run_on_start_only_in_dev_by_default(
    monkeypatch: pytest.MonkeyPatch, env: str, expected: bool
) -> None:
    monkeypatch.setenv("ENV", env)
    monkeypatch.setenv("SECRET_KEY", A_KEY)

    assert Settings(_env_file=None).migrate_on_start is expected  # type: ignore[call-arg]


def test_auto_migrate_overrides_the_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", A_KEY)
    monkeypatch.setenv("AUTO_MIGRATE", "true")

    assert Settings(_env_file=None).migrate_on_start is True  # type: ignore[call-arg]
