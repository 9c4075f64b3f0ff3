"""What the app writes to its log: never a secret (statement parameters, PostgreSQL's DETAIL, a
share-link token in a path), and never a line a client wrote (control characters are escaped).

Each test reads the app's own log handler (the one `configure_logging` installs), in text or JSON.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.core.logging import _RequestIdFilter
from tests.conftest import PASSWORD

API = "/api/v1"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
JSON_FORMAT = {"log_format": "json"}


@pytest.fixture
def app_log(app: FastAPI) -> Iterator[io.StringIO]:
    """Everything the app's handler writes during the test."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and any(isinstance(f, _RequestIdFilter) for f in h.filters)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    client_logger = logging.getLogger("httpx")  # the test's HTTP client, not the app
    client_level = client_logger.level
    client_logger.setLevel(logging.WARNING)
    try:
        yield buffer
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]
        client_logger.setLevel(client_level)


@pytest.fixture
def failing_client(app: FastAPI) -> httpx.AsyncClient:
    """A client that gets the app's 500s (as a browser would), not the exception."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _run_sql(app: FastAPI, statements: dict[str, list[str]]) -> None:
    async with app.state.db.engine.begin() as conn:
        for statement in statements[conn.dialect.name]:
            await conn.execute(sa.text(statement))


# The database refuses a marked sign-up with an error that is not a constraint's (which would be a
# 409): on PostgreSQL with a DETAIL naming the row's values, as PostgreSQL's own refusals do.
_REFUSE_SIGNUP = {
    "postgresql": [
        "CREATE FUNCTION test_refuse_signup() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused' USING"
        " DETAIL = format('Failing row contains (%s, %s).', NEW.email, NEW.password_hash); END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER test_refuse_signup BEFORE INSERT ON users FOR EACH ROW"
        " WHEN (NEW.email LIKE 'dberror%') EXECUTE FUNCTION test_refuse_signup()",
    ],
    # An unknown function fails the statement itself (SQLite has no error of its own to raise).
    "sqlite": ["CREATE TRIGGER test_refuse_signup BEFORE INSERT ON users BEGIN SELECT test_no_such_function(); END"],
}
_ALLOW_SIGNUP = {
    "postgresql": ["DROP TRIGGER test_refuse_signup ON users", "DROP FUNCTION test_refuse_signup()"],
    "sqlite": ["DROP TRIGGER test_refuse_signup"],
}
# PostgreSQL's own refusal of a row quotes it: "DETAIL: Failing row contains (…, title, content, …)".
_REFUSE_DOCUMENT = {
    "postgresql": [
        "ALTER TABLE documents ADD CONSTRAINT test_refuse_document CHECK (title NOT LIKE 'dberror%') NOT VALID"
    ],
    "sqlite": [
        "CREATE TRIGGER test_refuse_document BEFORE INSERT ON documents BEGIN SELECT test_no_such_function(); END"
    ],
}
_ALLOW_DOCUMENT = {
    "postgresql": ["ALTER TABLE documents DROP CONSTRAINT test_refuse_document"],
    "sqlite": ["DROP TRIGGER test_refuse_document"],
}


async def test_a_database_error_on_signup_logs_neither_the_password_hash_nor_the_email(
    app: FastAPI, failing_client: httpx.AsyncClient, app_log: io.StringIO
) -> None:
    local_part = f"dberror-{uuid.uuid4().hex[:10]}"
    await _run_sql(app, _REFUSE_SIGNUP)
    try:
        response = await failing_client.post(
            f"{API}/auth/signup", json={"email": f"{local_part}@example.com", "password": PASSWORD}
        )
    finally:
        await _run_sql(app, _ALLOW_SIGNUP)

    assert response.status_code == 500
    log = app_log.getvalue()
    assert "unhandled error" in log and "Traceback" in log  # the failure is logged, with its traceback
    assert "INSERT INTO users" in log  # and the statement, which names no value
    assert local_part not in log
    assert "$argon2" not in log
    assert PASSWORD not in log


async def test_a_database_error_on_a_new_document_logs_neither_its_title_nor_its_content(
    app: FastAPI,
    failing_client: httpx.AsyncClient,
    alice: dict[str, Any],
    client: httpx.AsyncClient,
    app_log: io.StringIO,
) -> None:
    """On PostgreSQL this write goes through the driver (app.db.driver), not the ORM."""
    title, content = f"dberror {uuid.uuid4().hex}", f"private notes {uuid.uuid4().hex}"
    failing_client.cookies = client.cookies
    await _run_sql(app, _REFUSE_DOCUMENT)
    try:
        response = await failing_client.post(f"{API}/documents", json={"title": title, "content": content})
    finally:
        await _run_sql(app, _ALLOW_DOCUMENT)

    assert response.status_code == 500
    log = app_log.getvalue()
    assert "Traceback" in log
    assert title not in log
    assert content not in log


async def test_an_error_on_a_share_link_logs_its_route_not_its_token(
    failing_client: httpx.AsyncClient, app_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_kwargs: Any) -> None:
        raise RuntimeError("the storage went away")

    monkeypatch.setattr("app.services.sharing.open_link", broken)
    token = uuid.uuid4().hex + uuid.uuid4().hex

    response = await failing_client.get(f"{API}/shared/{token}")

    assert response.status_code == 500
    log = app_log.getvalue()
    assert "unhandled error" in log
    assert f"GET {API}/shared/{{token}}" in log
    assert token not in log


FORGED = "2026-01-01 00:00:00,000 INFO lekhamudra.request [-] forged request line"


async def test_a_newline_in_a_path_does_not_start_a_log_line(
    failing_client: httpx.AsyncClient, app_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_kwargs: Any) -> None:
        raise RuntimeError("refused\n" + FORGED)  # what an exception message might carry

    monkeypatch.setattr("app.services.sharing.open_link", broken)
    path = f"{API}/shared/x%0a{FORGED.replace(' ', '%20')}"

    response = await failing_client.get(path)

    assert response.status_code == 500
    lines = app_log.getvalue().splitlines()
    assert lines
    # Each line begins a record or continues one (indented): none is the client's.
    assert [line for line in lines if not RECORD_START.match(line) and not line.startswith("    ")] == []
    assert [line for line in lines if line.startswith(FORGED[:30])] == []


@pytest.mark.parametrize("settings", [JSON_FORMAT], indirect=True)
async def test_in_json_each_record_is_one_line_whatever_a_path_holds(
    failing_client: httpx.AsyncClient, app_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_kwargs: Any) -> None:
        raise RuntimeError("refused\n" + FORGED)

    monkeypatch.setattr("app.services.sharing.open_link", broken)

    await failing_client.get(f"{API}/shared/x%0a%e2%80%a8{FORGED.replace(' ', '%20')}")

    # splitlines() also splits at U+2028 and other line breaks: a raw one would break a record.
    records = [json.loads(line) for line in app_log.getvalue().splitlines()]
    assert {record["message"].split(" ")[0] for record in records} >= {"unhandled", "GET"}
    assert any(FORGED in record.get("exception", "") for record in records)  # kept, inside its record


EVIL = "evil\r\n\x1b[31mred\u2028\u202etxt.exe"


async def test_control_characters_in_a_text_message_are_escaped(app_log: io.StringIO) -> None:
    logging.getLogger("lekhamudra.test").warning("user agent: %s", EVIL)

    (line,) = app_log.getvalue().splitlines()
    assert line.endswith("user agent: evil\\r\\n\\x1b[31mred\\u2028\\u202etxt.exe")


@pytest.mark.parametrize("settings", [JSON_FORMAT], indirect=True)
async def test_control_characters_in_a_json_message_are_escaped(app_log: io.StringIO) -> None:
    logging.getLogger("lekhamudra.test").warning("user agent: %s", EVIL)

    (line,) = app_log.getvalue().splitlines()
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", line)
    assert json.loads(line)["message"] == f"user agent: {EVIL}"


async def test_a_traceback_follows_its_record_on_indented_lines(app_log: io.StringIO) -> None:
    try:
        raise ValueError("bad\n" + FORGED)
    except ValueError:
        logging.getLogger("lekhamudra.test").exception("it failed")

    first, *rest = app_log.getvalue().splitlines()
    assert first.endswith("it failed")
    assert rest and all(line.startswith("    ") for line in rest)
    assert any("ValueError: bad" in line for line in rest)


async def test_metrics_name_a_version_by_its_route_template(client: httpx.AsyncClient, alice: dict[str, Any]) -> None:
    """Parameters are whole segments: the version `1` must not turn `/api/v1` into `/api/v{version}`."""
    created = await client.post(f"{API}/documents", json={"title": "Versioned"})
    assert (await client.get(f"{API}/documents/{created.json()['id']}/versions/1")).status_code == 200

    metrics = (await client.get("/metrics")).text

    assert 'route="/api/v1/documents/{document_id}/versions/{version}",status="200"' in metrics
    assert "/api/v{version}" not in metrics
