"""Plain ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request).

Order, outermost first: RequestContext -> BrowserCors -> CatchAll -> OriginCheck -> BodyLimit -> the app.
CatchAll sits inside CORS so that the frontend can read a 500's body and request id.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import app_error_response
from app.api.metrics import observe
from app.core.errors import StartupRefused
from app.core.logging import request_id_var
from app.db.faults import database_fault
from app.services.audit import RequestOrigin, request_origin

log = logging.getLogger("lekhamudra.request")

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OWN_HEADERS = frozenset({b"x-request-id", b"x-content-type-options", b"referrer-policy", b"content-security-policy"})
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_KEY = "lekhamudra.request_id"
# A Set-Cookie value the session check wants on this response (renewed or cleared session cookie).
SET_COOKIE_KEY = "lekhamudra.set_cookie"
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# Swagger UI and ReDoc load their code from jsDelivr and start it with an inline script.
DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    b"font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    b"connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
_DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
# nginx's "client closed request": the client left before its request was read; no response.
CLIENT_CLOSED = 499


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def content_length(value: str | None) -> int | None:
    """A Content-Length header's value; None when absent or not ASCII digits (`"²".isdigit()`
    is true, and `int("²")` raises)."""
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


async def send_json(
    send: Send, status: int, body: dict[str, object], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Request id, one log line per request, and safety headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        # 128 random bits as 32 hex digits, as uuid4().hex gave, without building a UUID per request.
        request_id = incoming if incoming and _REQUEST_ID_RE.match(incoming) else os.urandom(16).hex()
        scope[REQUEST_ID_KEY] = request_id
        is_api = scope["path"].startswith("/api/")
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k not in _OWN_HEADERS]
                headers += [
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", DOCS_CSP if scope["path"] in _DOCS_PATHS else API_CSP),
                ]
                cookie = scope.get(SET_COOKIE_KEY)
                if cookie:
                    # Unless the response sets that cookie itself (login, logout), which wins.
                    own = cookie.encode("latin-1")
                    name = own[: own.index(b"=") + 1]
                    if not any(k == b"set-cookie" and v.startswith(name) for k, v in headers):
                        headers.append((b"set-cookie", own))
                if is_api and not _private_cache(headers):
                    # Responses depend on the session cookie: never cache them anywhere, unless a
                    # route allows the browser's own cache alone (a page's picture, revalidated by ETag).
                    headers = [(k, v) for k, v in headers if k != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                # Every response may differ by Origin (CORS), and the API's by session cookie.
                message["headers"] = _add_vary(headers, _VARY_API if is_api else _VARY)
            await send(message)

        client = scope.get("client")
        origin = RequestOrigin(ip=client[0] if client else None, user_agent=_header(scope, b"user-agent"))
        origin_token = request_origin.set(origin)
        request_token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # Not a server error: nobody is there to answer. The request line below is its one
            # line (with 499), no traceback; whatever the request had begun is undone by its own
            # cleanup (an upload's object and rows) as the exception passed through it.
            status = CLIENT_CLOSED
        except asyncio.CancelledError:
            # The server cut it: still running when a shutdown's grace period (`serve
            # --graceful-timeout`) ran out. Its client gets no answer; the log says which it was.
            log.warning(
                "request cut before it finished (server stopping) %s %s request_id=%s",
                scope["method"],
                route_path(scope) if scope.get("route") is not None else "unmatched",
                request_id,
            )
            raise
        finally:
            request_origin.reset(origin_token)
            request_id_var.reset(request_token)
            elapsed = time.perf_counter() - started
            route = route_path(scope) if scope.get("route") is not None else "unmatched"
            observe(scope["method"], route, status, elapsed)
            log.info("%s %s %d %.1fms request_id=%s", scope["method"], route, status, elapsed * 1000, request_id)


class CatchAllMiddleware:
    """Any unhandled exception: logged with the request id, answered with a bare JSON 500; but a
    database out of reach or out of disk answers 503 or 507 with its own code (app.db.faults)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            raise  # RequestContextMiddleware's to record: a client that left is not an error of ours
        except Exception as exc:
            if (fault := database_fault(exc)) is not None and not response_started:
                # Logged once per incident (app.db.faults), not here once per request.
                await app_error_response(fault)(scope, receive, send)
                return
            request_id = scope.get(REQUEST_ID_KEY)
            route = route_path(scope) if scope.get("route") is not None else "unmatched"
            log.exception("unhandled error request_id=%s %s %s", request_id, scope["method"], route)
            if response_started:
                raise
            await send_json(
                send, 500, {"detail": "Internal server error", "code": "internal_error", "request_id": request_id}
            )


def route_path(scope: Scope) -> str:
    """The path with its parameters named (`/api/v1/shared/{token}`): logs and metrics never carry
    a link token or an id. Each parameter is one whole segment, so segments are replaced, never
    text inside one (`/api/v1/…/versions/1` keeps its `v1`)."""
    names = {str(value): "{" + name + "}" for name, value in (scope.get("path_params") or {}).items() if value}
    return "/".join(names.get(segment, segment) for segment in scope["path"].split("/"))


_VARY, _VARY_API = (b"Origin",), (b"Origin", b"Cookie")


def _add_vary(headers: list[tuple[bytes, bytes]], wanted: tuple[bytes, ...]) -> list[tuple[bytes, bytes]]:
    """`headers` with one `Vary` naming what it named and each of `wanted`."""
    existing = [v for k, v in headers if k == b"vary"]
    names = [n.strip() for v in existing for n in v.split(b",") if n.strip()]
    lowered = {n.lower() for n in names}
    names += [name for name in wanted if name.lower() not in lowered]
    return [(k, v) for k, v in headers if k != b"vary"] + [(b"vary", b", ".join(names))]


class BrowserCorsMiddleware(CORSMiddleware):
    """Starlette's CORS for the requests that carry an `Origin`; the others have nothing to
    answer, so they skip it (Starlette's wraps every response to add `Vary: Origin`, which
    RequestContextMiddleware adds in its one pass over the headers)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _header(scope, b"origin") is None:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class OriginCheckMiddleware:
    """CSRF defence: refuse state-changing browser requests from untrusted origins, before any work.

    The trusted list is configuration, never derived from the request's own Host. With
    `trust_own_loopback` (ENV=dev), the server's own loopback origins are trusted too, read from the
    address the request reached (`http://127.0.0.1:8000` and `http://localhost:8000` when the server
    listens on 127.0.0.1:8000), so /docs works where the server says it runs. With `explain`, a
    refusal names the origin and the setting that would trust it.
    """

    def __init__(
        self, app: ASGIApp, *, trusted_origins: Iterable[str], trust_own_loopback: bool = False, explain: bool = False
    ) -> None:
        self.app = app
        self.trusted = frozenset(o.lower() for o in trusted_origins)
        self.trust_own_loopback = trust_own_loopback
        self.explain = explain

    def _is_trusted(self, origin: str, scope: Scope) -> bool:
        return origin in self.trusted or (self.trust_own_loopback and origin in _own_loopback_origins(scope))

    def _refusal(self, scope: Scope) -> str | None:
        """None for a request to let through; else the reason it is refused."""
        origin = _header(scope, b"origin")
        if origin is not None:
            return None if self._is_trusted(origin.lower(), scope) else f"origin {origin[:200]} is not trusted"
        if (_header(scope, b"sec-fetch-site") or "").lower() == "cross-site":
            return "the browser says it is cross-site (Sec-Fetch-Site) and sent no Origin"
        referer = _header(scope, b"referer")
        if referer:
            try:
                parts = urlsplit(referer)
            except ValueError:  # not a URL at all (`http://[::1/x`): no origin we trust
                return "its Referer is not a URL"
            referer_origin = f"{parts.scheme}://{parts.netloc}".lower()
            return None if self._is_trusted(referer_origin, scope) else f"origin {referer_origin[:200]} is not trusted"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _UNSAFE_METHODS and (reason := self._refusal(scope)):
            detail = (
                f"Cross-site request refused: {reason}; to trust an origin, add it to FRONTEND_ORIGINS"
                if self.explain
                else "Cross-site request refused: untrusted origin"
            )
            await send_json(send, 403, {"detail": detail, "code": "csrf_origin_refused"})
            return
        await self.app(scope, receive, send)


def _own_loopback_origins(scope: Scope) -> frozenset[str]:
    """The origins naming the loopback address and port this request reached, if it is loopback."""
    server = scope.get("server")
    if not server or server[1] is None:
        return frozenset()
    host, port = server
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return frozenset()
    except ValueError:
        return frozenset()
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"})


def _private_cache(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k == b"cache-control" and v.startswith(b"private") for k, v in headers)


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes`: at once when Content-Length says so, else while streaming."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        path_limits: dict[str, int] | None = None,
        self_checked_paths: frozenset[str] = frozenset(),
        pattern_limits: tuple[tuple[re.Pattern[str], int], ...] = (),
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.path_limits = path_limits or {}
        # Routes that refuse an oversized Content-Length themselves (to audit who tried); the
        # streamed limit below still applies to them.
        self.self_checked_paths = self_checked_paths
        # Paths with an id in them (a document's pages): limited, and self-checked, as above.
        self.pattern_limits = pattern_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        max_bytes = self.path_limits.get(path, self.default_max_bytes)
        self_checked = path in self.self_checked_paths
        for pattern, limit in self.pattern_limits:
            if pattern.fullmatch(path):
                max_bytes, self_checked = limit, True
        header = _header(scope, b"content-length")
        declared = content_length(header)
        if self_checked and declared is not None:
            pass
        elif header is not None and (declared is None or declared > max_bytes):
            status, code = (413, "request_too_large") if declared is not None else (400, "bad_request")
            await send_json(send, status, {"detail": f"Request body must be at most {max_bytes} bytes", "code": code})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # HTTPException passes through FastAPI's body parsing (other errors become 400).
                    raise HTTPException(
                        413, f"Request body must be at most {max_bytes} bytes", headers={"Connection": "close"}
                    )
            return message

        await self.app(scope, limited_receive, send)


class QuietLifespanMiddleware:
    """Start-up refusals and abrupt stops said in one line, not as tracebacks.

    Starlette reports any error of the app's start-up or shutdown with the whole traceback as the
    failure's message, which the server prints. A StartupRefused (a schema not at head) is an
    action for the operator: its line alone is reported. A lifespan cancelled while the app runs
    is a forced stop (a second Ctrl-C: `uv run` forwards the terminal's, so one press is two), the
    app's own cleanup having run: it is noted, not reported as a failure.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def send_wrapper(message: Message) -> None:
            if message["type"] in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
                held.append(message)  # sent below, once it is known what failed
                return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except StartupRefused as exc:
            await send({"type": "lifespan.startup.failed", "message": f"lekhamudra: {exc}"})
            return
        except asyncio.CancelledError:
            if any(m["type"] == "lifespan.shutdown.failed" for m in held):
                log.info("stopped without waiting for requests in progress (forced)")
                return
            raise
        except BaseException:
            for message in held:
                await send(message)
            raise
        for message in held:
            await send(message)
