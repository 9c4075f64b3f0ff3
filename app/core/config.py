"""Settings, read once from the environment (and `.env` when present).

Groups: runtime (ENV, LOG_LEVEL, SECRET_KEY), database, HTTP (origins, cookies, limits), throttling,
passwords.
A bad value stops start-up with one line naming the variable (see `load_settings`).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values copied from examples and tutorials: outside dev and test they are refused like no key at all.
PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme", "change_me", "secret", "secret-key", "dev", "test", "xxx"})
MIN_SECRET_KEY_LENGTH = 32


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def async_database_url(url: str) -> str:
    """Map a plain `postgresql://` or `sqlite:///` URL to its async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as postgresql://… or sqlite:///…")
    base = scheme.split("+", 1)[0].lower()
    if base in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database scheme {scheme!r} (use postgresql or sqlite)")


def _check_database_parts(url: str) -> None:
    """Refuse a URL that would connect somewhere unintended: PostgreSQL then takes the user's name
    as the database's (the `postgres` maintenance database, silently migrated)."""
    async_database_url(url)
    parts = urlsplit(url)
    if parts.netloc.count("@") > 1:
        raise ValueError("the user name or password holds an unescaped '@': write it as %40")
    database = parts.path[1:]  # after the slash that ends the host (sqlite:////abs/path keeps its own)
    if parts.scheme.lower().startswith("sqlite"):
        if not database or database == ":memory:":
            raise ValueError("names no SQLite file: use sqlite:///path/to/lekhamudra.db")
    elif not database:
        raise ValueError("names no database: add it after the host, e.g. postgresql://user@host:5432/lekhamudra")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", validate_default=True)

    # Runtime
    env: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    data_dir: Path = Path("./data")
    # Signs device cookies. Required in prod; in dev and test, when unset, a random key is made
    # once under DATA_DIR (app.core.signing) so that every process of one server agrees.
    secret_key: SecretStr | None = None

    # Database: DATABASE_URL wins; else POSTGRES_*; else SQLite under DATA_DIR.
    database_url: str | None = None
    postgres_user: str | None = None
    postgres_password: str | None = None
    postgres_db: str | None = None
    postgres_host: str | None = None
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    # Hot statements (app.db.prepared) that PostgreSQL runs at once for one process. Each is one
    # statement whose connection is held for nothing else, so a few keep the database busy; more
    # only make its backends contend, each create then costing PostgreSQL more CPU (bench.pg_create
    # measures it by size; figures in docs/benchmarks.md).
    db_driver_pool_size: int = Field(default=4, ge=1, le=200)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    # PostgreSQL waits (seconds): a hung server answers 503 database_unavailable after these.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a SQLite write waits for its turn (its process's queue, then the lock) before the
    # request is refused with 503 `database_busy` (app.db.sqlite_writers).
    sqlite_write_wait_ms: int = Field(default=30_000, ge=1)
    auto_migrate: bool | None = None

    # HTTP
    public_api_url: str = "http://localhost:8000"
    # The frontend's URL: share links point at PUBLIC_APP_URL/shared/<token>.
    public_app_url: str = "http://localhost:3000"
    frontend_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    cookie_secure: bool | None = None
    # Sessions: idle timeout extended by use, absolute lifetime never extended (seconds or ISO 8601, e.g. PT30M).
    session_idle_timeout: timedelta = timedelta(days=7)
    session_max_age: timedelta = timedelta(days=30)
    session_touch_interval: timedelta = timedelta(seconds=60)
    # Live sessions per user; a new one ends the least recently used past this.
    max_sessions_per_user: int = Field(default=50, ge=1)
    max_request_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)
    # The request line and headers together (`lekhamudra serve`); larger gets 431.
    max_request_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024, le=1024 * 1024)
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs or CIDRs, or *).
    # Client addresses for audit and throttling come from them; by default no proxy is trusted.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # /docs, /redoc and /openapi.json: served unless ENV=prod, where they are off unless set true.
    docs_enabled: bool | None = None
    # /metrics and /health's components: with a token, only `Authorization: Bearer <token>`; without
    # one, only loopback clients.
    metrics_token: str | None = None

    # Files: STORAGE_URL file:///path (default: DATA_DIR/files) or s3://bucket/prefix
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_allow_http: bool = False
    max_upload_mb: int = Field(default=50, ge=1)
    # A multi-photo upload or an append: at most this many files per document, this much per request.
    max_files_per_document: int = Field(default=20, ge=1, le=500)
    max_upload_request_mb: int = Field(default=200, ge=1)
    # /health reports DATA_DIR's disk as `low` below this much free space (MB).
    disk_free_warning_mb: int = Field(default=500, ge=0)

    # Queue: Huey on SQLite under DATA_DIR (embedded worker), or redis://… shared by many workers
    queue_url: str | None = None
    embedded_worker: bool = True
    ocr_lease_seconds: int = Field(default=300, ge=5)
    ocr_max_attempts: int = Field(default=3, ge=1, le=10)
    # A file whose run is cut short this many times (worker or engine died) with no page saved
    # between is failed: it is what kills them.
    ocr_max_crashes: int = Field(default=3, ge=1, le=20)
    # How often each worker writes its heartbeat; three missed ones and its jobs are taken back.
    worker_heartbeat_seconds: float = Field(default=5.0, ge=0.5, le=60)

    # OCR
    tessdata_prefix: Path | None = None
    ocr_default_languages: str = "nep+eng"
    ocr_page_timeout_seconds: float = Field(default=120.0, gt=0)
    max_pdf_pages: int = Field(default=500, ge=1)
    max_image_pixels: int = Field(default=100_000_000, ge=1_000_000)

    # Throttling (the `limits` library; counts shared through Redis when REDIS_URL or QUEUE_URL is redis://)
    redis_url: str | None = None
    login_failures_before_delay: int = Field(default=5, ge=1)
    login_delay_base_seconds: int = Field(default=1, ge=1)
    login_delay_cap_seconds: int = Field(default=15 * 60, ge=1)
    login_failures_per_ip_per_minute: int = Field(default=30, ge=1)
    signups_per_ip_per_hour: int = Field(default=10, ge=1)
    # Share links: wrong passwords per link before its delay (LOGIN_DELAY_*'s), and refused opens
    # (unknown token, wrong password, expired…) per client IP per minute. Successful opens are free.
    link_failures_before_delay: int = Field(default=5, ge=1)
    link_failures_per_ip_per_minute: int = Field(default=30, ge=1)
    # Password hashes per client IP per minute for requests without a session (sign-ups, logins
    # from browsers without a device cookie, share-link passwords); successful checks give theirs back.
    anonymous_hashes_per_ip_per_minute: int = Field(default=40, ge=1)

    # Sharing: live (unrevoked, unexpired) share links per document.
    max_links_per_document: int = Field(default=20, ge=1)

    # Trash: documents trashed longer than this are purged by a daily task.
    trash_retention_days: int = Field(default=30, ge=1)

    # Passwords (argon2id; defaults are OWASP's minimum: m=19456 KiB, t=2, p=1)
    argon2_memory_kib: int = Field(default=19_456, ge=19_456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Hashes at once per process: leave a core for serving reads during a login storm, and at
    # least two threads, so that one is always left over from anonymous hashing for signed-in users.
    max_concurrent_hashes: int = Field(default_factory=lambda: max(2, (os.cpu_count() or 2) - 1), ge=1)

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("env") != "prod":  # dev, test, or an ENV already refused on its own
            return value or None
        key = value.get_secret_value() if value else ""
        if not key:
            raise ValueError("required when ENV=prod: a long random string, e.g. from `openssl rand -base64 48`")
        if key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be {MIN_SECRET_KEY_LENGTH} or more random characters, not a placeholder")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("frontend_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("frontend_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        return [_origin_of(origin) for origin in value]

    @field_validator("public_api_url", "public_app_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value:
            _check_database_parts(value)
        return value or None

    @model_validator(mode="after")
    def _check_postgres_parts(self) -> Settings:
        if not self.database_url and self.postgres_db and not self.postgres_host:
            raise ValueError("POSTGRES_HOST is required when POSTGRES_DB is set")
        return self

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("file", "s3"):
            raise ValueError("must be file:///path or s3://bucket/prefix")
        return value or None

    @field_validator("queue_url")
    @classmethod
    def _check_queue_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError("must be redis://host:port/db")
        return value or None

    @field_validator("session_idle_timeout", "session_max_age", "session_touch_interval")
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("must be at least one second")
        return value

    @model_validator(mode="after")
    def _check_session_timeouts(self) -> Settings:
        if self.session_touch_interval >= self.session_idle_timeout:
            raise ValueError("SESSION_TOUCH_INTERVAL must be shorter than SESSION_IDLE_TIMEOUT")
        return self

    @property
    def throttle_storage_url(self) -> str:
        """Where throttling counts live: Redis when one is configured, else this process's memory."""
        url = self.redis_url or self.queue_url
        return f"async+{url}" if url else "async+memory://"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "files").resolve().as_uri()

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_upload_request_bytes(self) -> int:
        """The whole upload request's bound: never below one file's."""
        return max(self.max_upload_request_mb, self.max_upload_mb) * 1024 * 1024

    @property
    def trusted_origins(self) -> list[str]:
        """Origins allowed to make credentialed, state-changing requests."""
        own = _origin_of(self.public_api_url)
        return [*self.frontend_origins, *([own] if own not in self.frontend_origins else [])]

    @property
    def secure_cookies(self) -> bool:
        return self.env == "prod" if self.cookie_secure is None else self.cookie_secure

    @property
    def serves_api_docs(self) -> bool:
        return self.env != "prod" if self.docs_enabled is None else self.docs_enabled

    @property
    def migrate_on_start(self) -> bool:
        return self.env == "dev" if self.auto_migrate is None else self.auto_migrate

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL this process connects to."""
        if self.database_url:
            return async_database_url(self.database_url)
        if self.postgres_db and self.postgres_host:
            user = quote(self.postgres_user or "postgres", safe="")
            password = f":{quote(self.postgres_password, safe='')}" if self.postgres_password else ""
            return (
                f"postgresql+asyncpg://{user}{password}@{self.postgres_host}:"
                f"{self.postgres_port}/{quote(self.postgres_db, safe='')}"
            )
        return f"sqlite+aiosqlite:///{(self.data_dir / 'lekhamudra.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings or exit with one line naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        sys.exit(f"lekhamudra: invalid configuration: {problems}")


@lru_cache
def get_settings() -> Settings:
    return load_settings()
