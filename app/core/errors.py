"""Domain errors, raised below the API layer; app.api.errors maps each to its HTTP status and
headers, in one place.

    AppError                 internal_error (base; never raised directly)
     ├── BadRequest          bad_request: input that cannot be read at all
     ├── Unauthorized        not_authenticated / invalid_credentials
     ├── Forbidden           forbidden: the caller's role does not allow it
     ├── NotFound            not_found (and never telling that a thing exists)
     ├── Conflict            conflict / email_taken / version_conflict / document_trashed ...
     ├── TooLarge            request_too_large / file_too_large (`stop_reading`: the rest of the
     │                       request will not be read)
     ├── UnsupportedMedia    unsupported_media_type
     ├── Invalid             validation_error
     ├── TooManyRequests     too_many_requests (`retry_after`: seconds)
     ├── Unavailable         a component is down for now (`retry_after`: seconds)
     │    ├── DatabaseUnavailable  database_unavailable
     │    ├── QueueUnavailable     queue_unavailable
     │    └── DatabaseBusy         database_busy: SQLite's writers did not get a turn in time
     └── InsufficientStorage insufficient_storage: the disk is full

Every error renders as `{"detail": str, "code": str, **extra}`.

Apart from them, StartupRefused: the app must not start (a schema not at head); its message is
the one line an operator sees.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    code = "internal_error"
    detail = "Internal server error"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class BadRequest(AppError):
    code = "bad_request"
    detail = "Bad request"


class Unauthorized(AppError):
    code = "not_authenticated"
    detail = "Not authenticated"


class Forbidden(AppError):
    code = "forbidden"
    detail = "Forbidden"


class NotFound(AppError):
    code = "not_found"
    detail = "Not found"


class Conflict(AppError):
    code = "conflict"
    detail = "Conflict"


class TooLarge(AppError):
    code = "request_too_large"
    detail = "Request body too large"

    def __init__(self, detail: str | None = None, *, stop_reading: bool = False, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        # Refused before the whole request was read: what is left of it is not read.
        self.stop_reading = stop_reading


class UnsupportedMedia(AppError):
    code = "unsupported_media_type"
    detail = "Unsupported media type"


class Invalid(AppError):
    code = "validation_error"
    detail = "Invalid input"


class TooManyRequests(AppError):
    code = "too_many_requests"
    detail = "Too many attempts; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, retry_after)


class Unavailable(AppError):
    code = "service_unavailable"
    detail = "Temporarily unavailable; try again shortly"
    default_retry_after = 5  # seconds

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = max(1, self.default_retry_after if retry_after is None else retry_after)


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
    detail = "The database is not answering; try again shortly"


class QueueUnavailable(Unavailable):
    code = "queue_unavailable"
    detail = "The job queue is not answering; try again shortly"


class InsufficientStorage(AppError):
    code = "insufficient_storage"
    detail = "The server is out of disk space; nothing was saved"


class DatabaseBusy(Unavailable):
    code = "database_busy"
    detail = "The database is busy with other changes; nothing was saved. Try again shortly"
    default_retry_after = 2  # seconds: the client's next try should find its turn sooner than this one


class StartupRefused(Exception):
    """The app cannot start as configured; the message says why and what to do, in one line."""
