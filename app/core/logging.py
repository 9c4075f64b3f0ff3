"""Logging: one record per line on stderr, plain text or JSON (LOG_FORMAT), each with the
request id of the request being served.

What a client sends can reach a log line (a path, a header, an exception's message), so every
record is written safe to read back line by line: control characters (and Unicode's line and
paragraph separators, and bidi overrides) in the message are escaped, a traceback's lines are
indented under their record in text (so nothing in one starts a line of its own), and in JSON the
whole record is one line. A database error's values never reach the log either: statement
parameters are hidden by the engine (app.db.session), and PostgreSQL's DETAIL (which quotes the
failing row or key: an email, a password hash) is left out of the exception's text here.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from asyncpg import PostgresError

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# JSON leaves these unescaped, and a reader splitting on Unicode line breaks would split there.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as escapes (`\\n`, `\\x1b`, `\\u2028`)."""
    return _CONTROLS.sub(_escape_char, text) if _CONTROLS.search(text) else text


def _postgres_message(error: PostgresError) -> str:
    """A PostgreSQL error without its DETAIL and HINT, which quote values. The primary message
    names the constraint or the object; a data exception's (SQLSTATE class 22) quotes the value
    it could not read, so only its class and code remain."""
    where = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("table", error.table_name),
            ("column", error.column_name),
            ("constraint", error.constraint_name),
        )
        if value
    )
    message = "" if str(error.sqlstate).startswith("22") else str(error.args[0] if error.args else "")
    return f"{message} (SQLSTATE {error.sqlstate}{', ' + where if where else ''})".strip()


def _chain(exc: BaseException) -> list[tuple[BaseException, str | None]]:
    """The exception and those it came from, oldest first, each with the line that leads from it
    to the next one (as Python prints them)."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    # Each link was stored with the older exception, and is printed right after it.
    return chain[::-1]


def exception_text(exc: BaseException) -> str:
    """The traceback Python would print, without any PostgreSQL error's DETAIL or HINT."""
    chain = _chain(exc)
    postgres = [(str(error), _postgres_message(error)) for error, _ in chain if isinstance(error, PostgresError)]
    lines: list[str] = []
    for error, link in chain:
        if error.__traceback__ is not None:
            lines += ["Traceback (most recent call last):\n", *traceback.format_tb(error.__traceback__)]
        message = str(error)
        for raw, safe in postgres:
            message = message.replace(raw, safe)
        name = type(error).__qualname__
        module = type(error).__module__
        name = name if module in ("builtins", "__main__") else f"{module}.{name}"
        lines.append(f"{name}: {message}\n" if message else f"{name}\n")
        lines += [f"{note}\n" for note in getattr(error, "__notes__", ())]
        if link:
            lines.append(f"\n{link}\n\n")
    return "".join(lines).rstrip("\n")


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in _CONTROLS_BUT_NEWLINE.sub(_escape_char, text).split("\n"))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class TextFormatter(logging.Formatter):
    """One line per record; a traceback follows on lines indented under it."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        # Our own rendering, never record.exc_text: another handler may have cached the unsafe one.
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + _indented(exception_text(record.exc_info[1]))
        if record.stack_info:
            text += "\n" + _indented(self.formatStack(record.stack_info))
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = exception_text(record.exc_info[1])
        line = json.dumps(entry, ensure_ascii=False)
        return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line) if _JSON_UNSAFE.search(line) else line


def log_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """The handler the app logs through: `fmt` is LOG_FORMAT; stderr unless `stream` is given."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str, fmt: str = "text") -> None:
    """Our request line replaces uvicorn's access log."""
    logging.basicConfig(level=level, handlers=[log_handler(fmt)], force=True)
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces each plugin and migration step; what a migration did is said once, by us.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # `serve --reload` watches the working tree, DATA_DIR included: a line per database write.
    logging.getLogger("watchfiles.main").setLevel(logging.WARNING)
    logging.getLogger("lekhamudra.request").setLevel(level)
