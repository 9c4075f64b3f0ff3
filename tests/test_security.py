"""Browser-facing defences: CSRF origin check, CORS, body limits, error shape, response headers."""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.security import Passwords
from tests.conftest import PASSWORD, SignUp, raw_post, unique_email

EVIL = "http://evil.example"
FRONTEND = "http://localhost:3000"
OWN_API = "http://localhost:8000"
CSRF_CODE = "csrf_origin_refused"


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


# --- CSRF: the Origin / Sec-Fetch-Site / Referer check on unsafe requests ------------------------

REFUSED_HEADERS = {
    "untrusted origin": {"Origin": EVIL},
    "null origin": {"Origin": "null"},
    "untrusted origin even when same-origin claimed": {"Origin": EVIL, "Sec-Fetch-Site": "same-origin"},
    "trusted host with another port": {"Origin": "http://localhost:3001"},
    "trusted origin as a subdomain prefix": {"Origin": "http://localhost:3000.evil.example"},
    "no origin, cross-site fetch": {"Sec-Fetch-Site": "cross-site"},
    "no origin, untrusted referer": {"Referer": f"{EVIL}/page"},
    "no origin, referer on a look-alike host": {"Referer": "http://localhost:3000.evil.example/page"},
    "no origin, referer that is not a URL": {"Referer": "http://[::1/x"},
}

ALLOWED_HEADERS = {
    "no browser headers": {},
    "frontend origin": {"Origin": FRONTEND},
    "the API's own public origin": {"Origin": OWN_API},
    "trusted origin whatever Sec-Fetch-Site says": {"Origin": FRONTEND, "Sec-Fetch-Site": "cross-site"},
    "no origin, same-origin fetch": {"Sec-Fetch-Site": "same-origin"},
    "no origin, user-initiated navigation": {"Sec-Fetch-Site": "none"},
    "no origin, trusted referer": {"Referer": f"{FRONTEND}/documents?page=2"},
}


@pytest.mark.parametrize("headers", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
async def test_unsafe_request_from_untrusted_source_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/api/v1/auth/logout", headers=headers)

    assert_error_shape(response, 403, CSRF_CODE)
    assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("headers", ALLOWED_HEADERS.values(), ids=ALLOWED_HEADERS.keys())
async def test_unsafe_request_from_trusted_or_unmarked_source_passes(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/api/v1/auth/logout", headers=headers)

    assert response.status_code == 204, response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_every_unsafe_method_is_checked_before_authentication(client: httpx.AsyncClient, method: str) -> None:
    url = f"/api/v1/documents/{uuid.uuid4()}"

    refused = await client.request(method, url, json={"title": "t"}, headers={"Origin": EVIL})
    unrefused = await client.request(method, url, json={"title": "t"})

    assert_error_shape(refused, 403, CSRF_CODE)
    assert unrefused.status_code in (401, 405), unrefused.text  # reaches the app: not signed in / no such route


async def test_cross_site_signup_creates_no_user(client: httpx.AsyncClient, new_client: Any) -> None:
    email = unique_email("csrf")

    refused = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD}, headers={"Origin": EVIL}
    )
    login = await new_client().post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})

    assert_error_shape(refused, 403, CSRF_CODE)
    assert "set-cookie" not in refused.headers
    assert login.status_code == 401, login.text


async def test_cross_site_document_create_with_session_cookie_creates_nothing(
    client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    refused = await client.post("/api/v1/documents", json={"title": "Forged"}, headers={"Origin": EVIL})
    listing = await client.get("/api/v1/documents")

    assert_error_shape(refused, 403, CSRF_CODE)
    assert listing.status_code == 200
    assert listing.json()["total"] == 0


async def test_trusted_origin_is_not_taken_from_the_request_host(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/logout", headers={"Host": "evil.example", "Origin": EVIL})

    assert_error_shape(response, 403, CSRF_CODE)


@pytest.mark.parametrize("headers", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
async def test_get_requests_are_never_refused_by_the_origin_check(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/auth/me", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["authenticated"] is False


@pytest.mark.parametrize(
    "settings",
    [{"frontend_origins": "https://app.example.org", "public_api_url": "https://api.example.org/"}],
    indirect=True,
)
@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://app.example.org", 204),
        ("https://api.example.org", 204),
        (FRONTEND, 403),
        (OWN_API, 403),
    ],
)
async def test_trusted_origins_come_from_frontend_origins_and_public_api_url(
    client: httpx.AsyncClient, origin: str, status: int
) -> None:
    response = await client.post("/api/v1/auth/logout", headers={"Origin": origin})

    assert response.status_code == status, response.text


@pytest.fixture
async def swagger_at(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the app's own /docs, the server listening on 127.0.0.1:8123."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123") as browser:
        yield browser


@pytest.mark.parametrize("settings", [{"env": "dev"}], indirect=True)
@pytest.mark.parametrize("origin", ["http://127.0.0.1:8123", "http://localhost:8123"])
async def test_in_dev_the_servers_own_loopback_origins_are_trusted(swagger_at: httpx.AsyncClient, origin: str) -> None:
    response = await swagger_at.post("/api/v1/auth/logout", headers={"Origin": origin})

    assert response.status_code == 204, response.text


@pytest.mark.parametrize("settings", [{"env": "dev"}], indirect=True)
@pytest.mark.parametrize("origin", ["http://127.0.0.1:8124", "http://localhost:3001", "https://127.0.0.1:8123"])
async def test_in_dev_other_loopback_origins_are_still_refused(swagger_at: httpx.AsyncClient, origin: str) -> None:
    response = await swagger_at.post("/api/v1/auth/logout", headers={"Origin": origin})

    assert_error_shape(response, 403, CSRF_CODE)


@pytest.mark.parametrize("settings", [{"env": "prod", "cookie_secure": False}], indirect=True)
async def test_outside_dev_the_servers_loopback_origin_is_not_trusted(swagger_at: httpx.AsyncClient) -> None:
    response = await swagger_at.post("/api/v1/auth/logout", headers={"Origin": "http://127.0.0.1:8123"})

    body = assert_error_shape(response, 403, CSRF_CODE)
    assert body["detail"] == "Cross-site request refused: untrusted origin"  # names nothing in prod


@pytest.mark.parametrize("settings", [{"env": "dev"}], indirect=True)
async def test_in_dev_a_refusal_names_the_origin_and_the_setting(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/logout", headers={"Origin": "http://127.0.0.1:5173"})

    detail = assert_error_shape(response, 403, CSRF_CODE)["detail"]
    assert "origin http://127.0.0.1:5173 is not trusted" in detail
    assert "FRONTEND_ORIGINS" in detail


# --- CORS ----------------------------------------------------------------------------------------

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


async def test_preflight_from_frontend_allows_that_exact_origin_with_credentials(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/auth/signup", headers={"Origin": FRONTEND, **PREFLIGHT})

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


async def test_preflight_from_untrusted_origin_is_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/auth/signup", headers={"Origin": EVIL, **PREFLIGHT})

    assert response.headers.get("access-control-allow-origin") not in (EVIL, "*")


async def test_simple_get_from_frontend_is_readable_cross_origin(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me", headers={"Origin": FRONTEND})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_simple_get_from_untrusted_origin_gets_no_cors_grant(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me", headers={"Origin": EVIL})

    assert response.headers.get("access-control-allow-origin") not in (EVIL, "*")


# --- Body size limit -----------------------------------------------------------------------------

SMALL_LIMIT = {"max_request_bytes": 2048}


_PADDING = "x" * 4096
_JSON_CREDENTIALS = f'{{"email": "a@example.com", "password": "{_PADDING}"}}'
OVERSIZED_BODIES = {
    "signup json": ("/api/v1/auth/signup", "application/json", _JSON_CREDENTIALS),
    "signup url-encoded form": (
        "/api/v1/auth/signup",
        "application/x-www-form-urlencoded",
        f"email=a%40example.com&password={_PADDING}",
    ),
    "signup multipart form": (
        "/api/v1/auth/signup",
        "multipart/form-data; boundary=XX",
        f'--XX\r\nContent-Disposition: form-data; name="password"\r\n\r\n{_PADDING}\r\n--XX--\r\n',
    ),
    "login json": ("/api/v1/auth/login", "application/json", _JSON_CREDENTIALS),
    "document json": ("/api/v1/documents", "application/json", f'{{"title": "t", "content": "{_PADDING}"}}'),
}


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 512):
        yield body[start : start + 512]


@pytest.mark.parametrize("settings", [SMALL_LIMIT], indirect=True)
@pytest.mark.parametrize(("path", "content_type", "body"), OVERSIZED_BODIES.values(), ids=OVERSIZED_BODIES.keys())
async def test_body_over_limit_by_content_length_is_refused(
    client: httpx.AsyncClient, alice: dict[str, Any], path: str, content_type: str, body: str
) -> None:
    response = await client.post(path, content=body.encode(), headers={"Content-Type": content_type})

    assert_error_shape(response, 413, "request_too_large")


@pytest.mark.parametrize("settings", [SMALL_LIMIT], indirect=True)
@pytest.mark.parametrize(("path", "content_type", "body"), OVERSIZED_BODIES.values(), ids=OVERSIZED_BODIES.keys())
async def test_streamed_body_over_limit_without_content_length_is_refused(
    client: httpx.AsyncClient, alice: dict[str, Any], path: str, content_type: str, body: str
) -> None:
    request = client.build_request("POST", path, content=_chunks(body.encode()), headers={"Content-Type": content_type})
    assert "content-length" not in request.headers

    response = await client.send(request)

    assert_error_shape(response, 413, "request_too_large")


@pytest.mark.parametrize("settings", [SMALL_LIMIT], indirect=True)
async def test_body_under_limit_is_accepted(client: httpx.AsyncClient, sign_up: SignUp) -> None:
    user = await sign_up(client)

    assert user["email"].endswith("@example.com")


def test_default_body_limit_is_12_mib(settings: Settings) -> None:
    assert settings.max_request_bytes == 12 * 1024 * 1024


# --- Errors --------------------------------------------------------------------------------------


@pytest.fixture
def boom_app(app: FastAPI) -> FastAPI:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    app.add_api_route("/api/v1/boom", boom)
    return app


@pytest.mark.parametrize("path", ["/boom", "/api/v1/boom"])
async def test_unhandled_exception_is_a_plain_json_500(boom_app: FastAPI, client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "Internal server error", "code": "internal_error", "request_id": body["request_id"]}
    assert "secret internals" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text


async def test_500_response_names_its_request_id_in_header_and_body(
    boom_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/boom", headers={"X-Request-ID": "trace-500"})

    assert response.headers["x-request-id"] == "trace-500"
    assert response.json()["request_id"] == "trace-500"


async def test_500_response_carries_a_generated_request_id_when_none_given(
    boom_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/boom")

    assert response.json()["request_id"]
    assert response.headers["x-request-id"] == response.json()["request_id"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/v1/nope", 404), ("GET", "/api/v1/documents", 401), ("GET", "/api/v1/boom", 500)],
    ids=["404", "401", "500"],
)
async def test_error_responses_are_readable_by_the_trusted_frontend(
    boom_app: FastAPI, client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    """The frontend runs on another origin: without the CORS grant the browser hides the error body."""
    response = await client.request(method, path, headers={"Origin": FRONTEND})

    assert response.status_code == status
    assert response.headers.get("access-control-allow-origin") == FRONTEND
    assert response.headers.get("access-control-allow-credentials") == "true"


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/documents/x/y"])
async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert_error_shape(response, 404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/auth/signup"), ("DELETE", "/ping")])
async def test_wrong_method_is_a_json_405(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)

    assert_error_shape(response, 405, "method_not_allowed")
    assert "allow" in response.headers


# --- Headers on every response -------------------------------------------------------------------

SAMPLE_REQUESTS = {
    "ping": ("GET", "/ping", {}),
    "api 200": ("GET", "/api/v1/auth/me", {}),
    "api 401": ("GET", "/api/v1/documents", {}),
    "api 404": ("GET", "/api/v1/nope", {}),
    "non-api 404": ("GET", "/nope", {}),
    "csrf 403": ("POST", "/api/v1/auth/logout", {"Origin": EVIL}),
    "openapi": ("GET", "/openapi.json", {}),
}


@pytest.mark.parametrize(("method", "path", "headers"), SAMPLE_REQUESTS.values(), ids=SAMPLE_REQUESTS.keys())
async def test_every_response_has_nosniff_and_a_request_id(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


async def test_each_request_gets_its_own_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/ping")
    second = await client.get("/ping")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_well_formed_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping", headers={"X-Request-ID": "abc-123_DEF.4"})

    assert response.headers["x-request-id"] == "abc-123_DEF.4"
    assert len(response.headers.get_list("x-request-id")) == 1


@pytest.mark.parametrize("incoming", ["has spaces in it", "x" * 65, "semi;colon", "<script>"])
async def test_malformed_incoming_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/ping", headers={"X-Request-ID": incoming})

    assert response.headers["x-request-id"]
    assert response.headers["x-request-id"] != incoming


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [v for k, v in SAMPLE_REQUESTS.items() if v[1].startswith("/api/")],
    ids=[k for k, v in SAMPLE_REQUESTS.items() if v[1].startswith("/api/")],
)
async def test_api_responses_are_never_cached_and_vary_on_cookie(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers)

    assert response.headers["cache-control"] == "no-store"
    vary = [v.strip().lower() for v in response.headers["vary"].split(",")]
    assert "cookie" in vary


async def test_api_vary_keeps_origin_alongside_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me", headers={"Origin": FRONTEND})

    vary = [v.strip().lower() for v in response.headers["vary"].split(",")]
    assert "origin" in vary
    assert "cookie" in vary
    assert len(response.headers.get_list("vary")) == 1


@pytest.mark.parametrize("path", ["/ping", "/api/v1/auth/me"])
async def test_a_response_without_origin_still_varies_on_origin_and_allows_no_origin(
    client: httpx.AsyncClient, path: str
) -> None:
    """A cache must not hand a response made for a plain request to a cross-origin one."""
    response = await client.get(path)

    vary = [v.strip().lower() for v in response.headers["vary"].split(",")]
    assert vary.count("origin") == 1
    assert "access-control-allow-origin" not in response.headers
    assert len(response.headers.get_list("vary")) == 1


async def test_signed_in_api_response_is_not_cacheable(client: httpx.AsyncClient, alice: dict[str, Any]) -> None:
    response = await client.get("/api/v1/auth/me")

    assert response.json()["authenticated"] is True
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is a Linux feature")
async def test_password_hashing_runs_below_the_event_loops_priority() -> None:
    # A burst of logins must not starve reads on the same core: hashes run on niced threads.
    passwords = Passwords(memory_kib=1024, time_cost=1, parallelism=1, max_concurrent=2)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    hashing_thread = await passwords._run(niceness)
    hashed = await passwords.hash("correct horse battery", anonymous=True)

    assert hashing_thread > niceness()
    assert await passwords.verify(hashed, "correct horse battery", anonymous=False) is True
    assert await passwords.verify(hashed, "wrong horse battery", anonymous=True) is False


# --- Hostile bodies and headers: a clear 4xx, never a 500 ------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["[" * 1000 + "]" * 1000, '{"a":' * 2000 + "1" + "}" * 2000, "1" * 4301, '{"email": ' + "9" * 4301 + "}"],
    ids=["arrays nested 1000 deep", "objects nested 2000 deep", "a 4301-digit number", "a 4301-digit field"],
)
async def test_json_that_python_cannot_read_is_a_400_on_the_auth_routes(client: httpx.AsyncClient, body: str) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/auth/signup"):
        response = await client.post(path, content=body, headers={"Content-Type": "application/json"})

        assert_error_shape(response, 400, "bad_request")


@pytest.mark.parametrize("value", [b"\xb2", b"1\xb2", b"\xb9\xb3"], ids=["superscript two", "1 then ²", "¹³"])
@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/documents/upload"])
async def test_a_content_length_of_non_ascii_digits_is_a_400(app: FastAPI, path: str, value: bytes) -> None:
    status, raw = await raw_post(app, path, [(b"content-type", b"application/json"), (b"content-length", value)], b"{}")
    body = json.loads(raw)

    assert status == 400
    assert body["code"] == "bad_request"
