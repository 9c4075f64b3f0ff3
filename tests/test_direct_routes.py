"""The direct routes (app/api/direct_routes.py): answered without FastAPI's router, exactly as
FastAPI answers.

Each request here goes to the app as served (with the direct layer) and to the same app without it,
both on one database, and the two answers must match: status, headers (but the request id) and
body, byte for byte. The rest checks which requests the layer takes and which it passes on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.api.direct_routes import DirectRoutesMiddleware, bind
from app.api.v1 import DIRECT_ROUTES
from app.core.config import Settings
from app.core.security import SESSION_COOKIE
from main import create_app
from tests.conftest import SignUp, raw_post
from tests.test_documents import CONTROL_AND_QUOTES

DOCS = "/api/v1/documents"
# A document that does not exist; fixed, because test ids name it (pytest-xdist workers must
# collect the same tests).
UNKNOWN_ID = uuid.UUID("1f83bb10-dcfa-472e-9363-0f09f6f9b5a8")
ME = "/api/v1/auth/me"


NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
async def apps(settings: Settings, app: FastAPI) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """The app as served and the same app without the direct layer (FastAPI answers everything), on
    one database and one stopped clock (`app`, unused, empties the tables after)."""
    direct, plain = create_app(settings, clock=lambda: NOW), create_app(settings, clock=lambda: NOW)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not DirectRoutesMiddleware]
    async with LifespanManager(direct), LifespanManager(plain):
        yield direct, plain


def _client(app: FastAPI, cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", cookies=cookies)


def _transcript(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k != "x-request-id")
    return response.status_code, headers, response.content


async def _both(apps: tuple[FastAPI, FastAPI], cookies: dict[str, str], method: str, path: str, **kwargs: Any) -> Any:
    """The direct app's answer and the plain app's, each as (status, headers, body)."""
    answers = []
    for application in apps:
        async with _client(application, cookies) as client:
            answers.append(_transcript(await client.request(method, path, **kwargs)))
    return answers


@pytest.fixture
async def world(apps: tuple[FastAPI, FastAPI], sign_up: SignUp) -> AsyncIterator[dict[str, Any]]:
    """Alice owns three documents (one starred, one in her trash, one shared with Bob as viewer);
    Bob owns one; each one's session cookie."""
    async with _client(apps[0]) as alice, _client(apps[0]) as bob:
        await sign_up(alice)
        bob_email = (await sign_up(bob))["email"]

        async def create(owner: httpx.AsyncClient, title: str, content: str = "") -> str:
            response = await owner.post(DOCS, json={"title": title, "content": content})
            assert response.status_code == 201, response.text
            return response.json()["id"]

        plain = await create(alice, "सूचना notes", CONTROL_AND_QUOTES)
        shared = await create(alice, "Budget")
        trashed = await create(alice, "Old")
        bobs = await create(bob, "Bob's")
        assert (await alice.put(f"{DOCS}/{plain}/star")).status_code == 204
        response = await alice.post(f"{DOCS}/{shared}/shares", json={"email": bob_email, "role": "viewer"})
        assert response.status_code == 201, response.text
        assert (await alice.delete(f"{DOCS}/{trashed}")).status_code in (200, 204)
        yield {
            "alice": dict(alice.cookies),
            "bob": dict(bob.cookies),
            "nobody": {},
            "malformed": {SESSION_COOKIE: "not a token"},
            "unknown": {SESSION_COOKIE: "A" * 43},
            "plain": plain,
            "shared": shared,
            "trashed": trashed,
            "bobs": bobs,
        }


def _requests(world: dict[str, Any]) -> list[tuple[str, str]]:
    plain, shared, trashed, bobs = world["plain"], world["shared"], world["trashed"], world["bobs"]
    return [
        ("alice", ME),
        ("nobody", ME),
        ("malformed", ME),
        ("unknown", ME),
        ("alice", f"{DOCS}/{plain}"),
        ("alice", f"{DOCS}/{plain.upper()}"),
        ("alice", f"{DOCS}/{plain.replace('-', '')}"),
        ("alice", f"{DOCS}/{trashed}"),
        ("alice", f"{DOCS}/{bobs}"),
        ("alice", f"{DOCS}/{UNKNOWN_ID}"),
        ("alice", f"{DOCS}/{plain}?unused=1"),
        ("bob", f"{DOCS}/{shared}"),
        ("bob", f"{DOCS}/{trashed}"),
        ("bob", f"{DOCS}/{plain}"),
        ("nobody", f"{DOCS}/{plain}"),
        ("unknown", f"{DOCS}/{plain}"),
        ("alice", DOCS),
        ("bob", DOCS),
        ("alice", f"{DOCS}?limit=1&offset=1&sort=title"),
        ("alice", f"{DOCS}?sort=-created&scope=owned"),
        ("bob", f"{DOCS}?scope=shared"),
        ("alice", f"{DOCS}?starred=yes"),
        ("alice", f"{DOCS}?trashed=true"),
        ("alice", f"{DOCS}?limit=1&limit=2"),
        ("alice", f"{DOCS}?unused=1&limit=2"),
        ("alice", f"{DOCS}?limit=0"),
        ("alice", f"{DOCS}?sort=size&scope=everything"),
        ("nobody", f"{DOCS}?limit=0"),
        ("nobody", DOCS),
    ]


async def test_direct_reads_answer_as_fastapi_does(world: dict[str, Any], apps: tuple[FastAPI, FastAPI]) -> None:
    statuses = set()
    for who, path in _requests(world):
        direct, plain = await _both(apps, world[who], "GET", path)
        assert direct == plain, f"{who} GET {path}"
        statuses.add(direct[0])
    # The matrix is not all one answer: both sides really read and refused.
    assert statuses == {200, 401, 404, 422}


def _chunked(body: bytes) -> Any:
    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return chunks()


_JSON = {"content-type": "application/json"}
_CREATES: list[tuple[str, dict[str, Any]]] = [
    ("alice", {"json": {"title": "  सूचना  ", "content": CONTROL_AND_QUOTES}}),
    ("alice", {"json": {"title": "Only a title"}}),
    ("alice", {"content": b'{"title": "one", "title": "two"}', "headers": _JSON}),
    ("alice", {"content": b'{"title": "x"}', "headers": {"content-type": "application/merge-patch+json"}}),
    ("alice", {"json": {"title": ""}}),
    ("alice", {"json": {"content": "no title"}}),
    ("alice", {"json": {"title": "x", "owner_id": str(UNKNOWN_ID)}}),
    ("alice", {"json": {"title": 5}}),
    ("alice", {"json": ["title"]}),
    ("alice", {"json": None}),
    ("alice", {"content": b'{"title": "x"', "headers": _JSON}),
    ("alice", {"content": b'{"title": "a\x01b"}', "headers": _JSON}),  # a raw control character
    ("alice", {"content": b"", "headers": _JSON}),
    # JSON that cannot be read at all: one 400 on both paths (app.api.errors).
    ("alice", {"content": b'{"title": "\xff\xfe"}', "headers": _JSON}),
    ("alice", {"content": b"[" * 1000 + b"]" * 1000, "headers": _JSON}),
    ("alice", {"content": b'{"title": "x", "content": ' + b"1" * 4301 + b"}", "headers": _JSON}),
    ("nobody", {"content": b"\xff", "headers": _JSON}),
    ("alice", {"content": b'{"title": "x"}', "headers": {"content-type": "text/plain"}}),
    ("alice", {"content": b'{"title": "x"}', "headers": {"content-type": "text/plain+json"}}),  # not JSON: 415
    ("alice", {"content": b'{"title": "x"}'}),
    ("alice", {"content": "chunked", "headers": _JSON}),
    ("nobody", {"json": {"title": "x"}}),
    ("nobody", {"json": {"title": ""}}),
    ("nobody", {"content": b"{", "headers": _JSON}),
    ("unknown", {"json": {"title": "x"}}),
    ("alice", {"json": {"title": "x"}, "headers": {"Idempotency-Key": "has space"}}),
    ("nobody", {"json": {"title": "x"}, "headers": {"Idempotency-Key": "k-1"}}),
]


@pytest.mark.parametrize(("who", "request_kwargs"), _CREATES)
async def test_direct_create_answers_as_fastapi_does(
    world: dict[str, Any], apps: tuple[FastAPI, FastAPI], who: str, request_kwargs: dict[str, Any]
) -> None:
    answers = []
    for application in apps:
        kwargs = dict(request_kwargs)
        if kwargs.get("content") == "chunked":  # no Content-Length: Transfer-Encoding: chunked
            kwargs["content"] = _chunked(b'{"title": "streamed"}')
        async with _client(application, world[who]) as client:
            response = await client.post(DOCS, **kwargs)
        status, headers, body = _transcript(response)
        if status == 201:  # each side made its own document: alike but for the id
            body = body.replace(response.json()["id"].encode(), b"<id>")
        answers.append((status, headers, body))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("first", ["direct", "fastapi"])
async def test_a_keyed_create_and_its_retry_answer_alike_on_either_path(
    world: dict[str, Any], apps: tuple[FastAPI, FastAPI], first: str
) -> None:
    """The first answer (one path) and the retry's (the other) are one answer, byte for byte."""
    ordered = apps if first == "direct" else apps[::-1]
    headers = {"Idempotency-Key": f"both-paths-{first}"}
    made, retried = await _both(ordered, world["alice"], "POST", DOCS, json={"title": "रसिद"}, headers=headers)
    assert made[0] == 201
    assert retried == made


# Content-Types and whether a JSON body is read under each (app.api.bodies.is_json_media_type).
_MEDIA_TYPES = [
    ("application/json", True),
    ("application/json; charset=utf-8", True),
    ("Application/JSON ; charset=UTF-8", True),
    ("application/merge-patch+json", True),
    ("application/vnd.api+json", True),
    ("text/plain", False),
    ("application/jsonx", False),
    ("text/plain+json", False),
    ("application/x/y+json", False),
    ("application/x-ndjson", False),
]


async def test_every_json_route_takes_the_same_media_types(apps: tuple[FastAPI, FastAPI], sign_up: SignUp) -> None:
    """One rule for what is JSON: a create answered directly, the same create through FastAPI,
    and a route that also takes forms (sign-up) accept and refuse the same Content-Types."""
    async with _client(apps[0]) as alice:
        await sign_up(alice)
        cookies = dict(alice.cookies)
    for media_type, is_json in _MEDIA_TYPES:
        headers = {"content-type": media_type}
        answers = []
        for application in apps:
            async with _client(application, cookies) as client:
                response = await client.post(DOCS, content=b'{"title": "x"}', headers=headers)
            status, headers_out, body = _transcript(response)
            if status == 201:
                body = body.replace(response.json()["id"].encode(), b"<id>")
            answers.append((status, headers_out, body))
        async with _client(apps[0]) as anonymous:
            signup = await anonymous.post("/api/v1/auth/signup", content=b"{}", headers=headers)
        assert answers[0] == answers[1], media_type
        assert (answers[0][0], signup.status_code) == ((201, 422) if is_json else (415, 415)), media_type


async def test_a_created_document_is_there_as_answered(world: dict[str, Any], apps: tuple[FastAPI, FastAPI]) -> None:
    async with _client(apps[0], world["alice"]) as client:
        created = await client.post(DOCS, json={"title": "Kept", "content": "पाठ"})
        read = await client.get(f"{DOCS}/{created.json()['id']}")
    assert created.status_code == 201
    assert read.content == created.content
    assert read.headers["etag"] == created.headers["etag"] == '"1"'


class _Downstream:
    """Stands for FastAPI behind the direct layer: records what reaches it, body included."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.requests.append((f"{scope['method']} {scope['path']}", body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _through_layer(
    app: FastAPI, method: str, target: str, root_path: str = "", **kwargs: Any
) -> tuple[int, list[tuple[str, bytes]]]:
    """The status of `method target` (no cookie) through the direct layer, and what went on to FastAPI."""
    downstream = _Downstream()
    layer = DirectRoutesMiddleware(downstream, routes=bind(app.routes, DIRECT_ROUTES))

    async def inside_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = app  # the layer reads the app's state from the scope, as inside the app
        await layer(scope, receive, send)

    transport = httpx.ASGITransport(app=inside_app, root_path=root_path)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.request(method, target, **kwargs)
    return response.status_code, downstream.requests


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", ME, 200),
        ("GET", DOCS, 401),
        ("GET", f"{DOCS}?limit=5&sort=title", 401),
        ("GET", f"{DOCS}/{UNKNOWN_ID}", 401),
        ("GET", f"{DOCS}/{UNKNOWN_ID.hex.upper()}", 401),
    ],
)
async def test_the_layer_answers_its_routes(app: FastAPI, method: str, target: str, status: int) -> None:
    assert await _through_layer(app, method, target) == (status, [])


async def test_the_layer_answers_a_valid_create(app: FastAPI) -> None:
    assert await _through_layer(app, "POST", DOCS, json={"title": "x"}) == (401, [])


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", f"{DOCS}/recent"),  # another route's literal path
        ("GET", f"{DOCS}/not-an-id"),
        ("GET", f"{DOCS}/{UNKNOWN_ID}/versions"),
        ("GET", f"{DOCS}/{UNKNOWN_ID}/"),
        ("GET", f"{ME}/"),
        ("GET", f"{DOCS}?limit=0"),  # FastAPI's 422, after its 401
        ("HEAD", ME),
        ("POST", DOCS),
        ("DELETE", f"{DOCS}/{UNKNOWN_ID}"),
        ("GET", "/api/v1/auth/sessions"),
        ("GET", "/ping"),
    ],
)
async def test_the_layer_passes_everything_else_on(app: FastAPI, method: str, target: str) -> None:
    assert await _through_layer(app, method, target) == (299, [(f"{method} {target.partition('?')[0]}", b"")])


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"content": b'{"title": ""}', "headers": _JSON},
        {"content": b'{"title": "x"', "headers": _JSON},
        {"content": b'{"title": "x"}', "headers": {"content-type": "text/plain"}},
    ],
)
async def test_a_create_passed_on_reaches_fastapi_with_its_body(app: FastAPI, request_kwargs: dict[str, Any]) -> None:
    status, passed_on = await _through_layer(app, "POST", DOCS, **request_kwargs)
    assert (status, passed_on) == (299, [(f"POST {DOCS}", request_kwargs["content"])])


@pytest.mark.parametrize("settings", [{"max_request_bytes": 1024}], indirect=True)
async def test_a_body_past_the_limit_while_streaming_is_413_on_both(
    world: dict[str, Any], apps: tuple[FastAPI, FastAPI]
) -> None:
    """A Content-Length within the limit and a body past it (a server that lets Content-Length and
    chunked through together): BodyLimitMiddleware's 413 as the body is read, on either path."""
    cookie = "; ".join(f"{k}={v}" for k, v in world["alice"].items()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"20"), (b"cookie", cookie)]
    body = b'{"title": "x", "content": "' + b"a" * 2000 + b'"}'
    direct, plain = [await raw_post(application, DOCS, headers, body) for application in apps]
    assert direct == plain
    assert direct[0] == 413


async def test_a_failure_in_a_direct_route_is_counted_under_its_route(
    world: dict[str, Any], apps: tuple[FastAPI, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("app.crud.document_views.list_documents", broken)
    transport = httpx.ASGITransport(app=apps[0], raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", cookies=world["alice"]) as client:
        failed = await client.get(DOCS)
        metrics = (await client.get("/metrics")).text
    assert (failed.status_code, failed.json()["code"]) == (500, "internal_error")
    assert f'lekhamudra_http_requests_total{{method="GET",route="{DOCS}",status="500"}}' in metrics


async def test_under_a_root_path_the_layer_matches_as_the_router_does(
    world: dict[str, Any], apps: tuple[FastAPI, FastAPI]
) -> None:
    """Behind a proxy that mounts the app under /svc (`--root-path /svc`): the routes' paths are
    matched after the root path, by both."""
    paths = [f"/svc{ME}", f"/svc{DOCS}", f"/svc{DOCS}/{world['plain']}", DOCS, f"/svc/svc{DOCS}"]
    for path in paths:
        answers = []
        for application in apps:
            transport = httpx.ASGITransport(app=application, root_path="/svc")
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", cookies=world["alice"]
            ) as client:
                answers.append(_transcript(await client.get(path)))
        assert answers[0] == answers[1], path
    status, _passed_on = await _through_layer(apps[0], "GET", f"/svc{DOCS}/{world['plain']}", root_path="/svc")
    assert status == 401  # answered by the layer (no cookie here)
