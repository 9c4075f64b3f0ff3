"""The one place errors become HTTP responses, all shaped `{"detail": str, "code": str, ...}`.

A body that cannot be read as JSON at all (bad syntax, not UTF-8, nested or numbered past what
Python reads) is a 400 `bad_request` on every route, FastAPI's own and those that parse their body
themselves: the request is malformed (RFC 9110 15.5.1), which is what 400 means here everywhere
(a Content-Length or multipart framing that cannot be read is 400 too). 422 stays for JSON that
reads but does not validate, so a client can tell a broken serializer from a field to correct.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    DatabaseBusy,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    UnsupportedMedia,
)

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def error_response(
    status: int, detail: str, code: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "is invalid"))
    return msg.removeprefix("Value error, ")


def validation_errors(errors: Any) -> tuple[str, list[dict[str, Any]]]:
    """A readable one-line summary and a per-field list (never echoing the input back)."""
    items = [{"loc": list(err.get("loc", ())), "msg": _message(err), "type": err.get("type")} for err in errors]
    summary = "; ".join(f"{_field_name(item['loc'])}: {item['msg']}" for item in items)
    return summary or "Invalid input", items


_STATUS: dict[type[AppError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMedia: 415,
    Invalid: 422,
    TooManyRequests: 429,
    DatabaseBusy: 503,
}


def status_of(exc: AppError) -> int:
    """The HTTP status of a domain error (of its nearest mapped class)."""
    return next((_STATUS[cls] for cls in type(exc).__mro__ if cls in _STATUS), 500)


def _headers_of(exc: AppError) -> dict[str, str] | None:
    if isinstance(exc, TooManyRequests | DatabaseBusy):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, TooLarge) and exc.stop_reading:
        return {"Connection": "close"}  # the rest of the body is not read: the connection cannot go on
    return None


def app_error_response(exc: AppError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=status_of(exc), headers=_headers_of(exc))


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(exc)


def malformed_json_response(reason: str) -> JSONResponse:
    return error_response(400, f"Malformed JSON body: {reason}", "bad_request")


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":  # FastAPI's own reading of a JSON body failed
            return malformed_json_response(str((err.get("ctx") or {}).get("error", "cannot be read")))
    summary, items = validation_errors(errors)
    return error_response(422, summary, "validation_error", errors=items)


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").capitalize()
    return error_response(exc.status_code, detail, code, headers=dict(exc.headers or {}))


def allowed_methods(request: Request) -> str:
    """Every method served at this path. Starlette's router stops at the first route whose path
    matches and names only that route's methods (`POST /documents/{id}` got `Allow: GET`, though
    PATCH, PUT and DELETE are served there too). Where routes of different shapes match, the most
    specific ones name the resource: `/documents/recent` is GET's alone, not `/documents/{id}`'s
    (which would only answer 404 for it)."""
    path = get_route_path(request.scope)
    by_specificity: dict[int, set[str]] = {}
    # Every route with its full path, through included routers (as OpenAPI lists them).
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            by_specificity.setdefault(str(route.path_format).count("{"), set()).update(route.methods)
    return ", ".join(sorted(by_specificity[min(by_specificity)])) if by_specificity else ""


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, ClientDisconnect):
        # FastAPI reads a JSON body and calls any failure a 400; a client that left gets no
        # answer, and is recorded as gone (app.api.middleware.RequestContextMiddleware).
        raise exc.__cause__
    if exc.status_code == 405:
        exc = StarletteHTTPException(
            405, exc.detail, headers={**(exc.headers or {}), "Allow": allowed_methods(request)}
        )
    return http_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
