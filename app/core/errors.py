"""Domain errors, raised below the API layer and mapped to HTTP in one place.

    AppError                 500 internal_error (base; never raised directly)
     ├── BadRequest          400 bad_request
     ├── Unauthorized        401 not_authenticated / invalid_credentials
     ├── Forbidden           403 forbidden / csrf_origin_refused
     ├── NotFound            404 not_found
     ├── Conflict            409 conflict / email_taken / version_conflict
     ├── TooLarge            413 request_too_large
     ├── UnsupportedMedia    415 unsupported_media_type
     ├── Invalid             422 validation_error
     └── TooManyRequests     429 too_many_requests (with Retry-After)

Every error renders as `{"detail": str, "code": str, **extra}`.

Apart from them, StartupRefused: the app must not start (a schema not at head); its message is
the one line an operator sees.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 500
    code = "internal_error"
    detail = "Internal server error"

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        self.headers = headers
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    detail = "Bad request"


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"
    detail = "Not authenticated"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    detail = "Forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    detail = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    detail = "Conflict"


class TooLarge(AppError):
    status_code = 413
    code = "request_too_large"
    detail = "Request body too large"


class UnsupportedMedia(AppError):
    status_code = 415
    code = "unsupported_media_type"
    detail = "Unsupported media type"


class Invalid(AppError):
    status_code = 422
    code = "validation_error"
    detail = "Invalid input"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    detail = "Too many attempts; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})


class StartupRefused(Exception):
    """The app cannot start as configured; the message says why and what to do, in one line."""
