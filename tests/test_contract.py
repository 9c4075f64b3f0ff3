"""The contract as published (/openapi.json) and as answered agree: strict inputs, one status for
a body that cannot be read, every status a route answers declared, real media types for files, and
an `Allow` that names every method a path serves. (tests/test_fuzz.py fuzzes the same contract.)"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.ocr import SUPPORTED_MEDIA_TYPES
from tests.conftest import PASSWORD, ClientFactory, SignUp, raw_post, unique_email
from tests.test_uploads import png_bytes

API = "/api/v1"
DOCS = f"{API}/documents"
UNSAFE = ("post", "put", "patch", "delete")
UNREADABLE_JSON = {
    "cut short": b'{"title": ',
    "not UTF-8": b'{"title": "\xff\xfe"}',
    "arrays nested 1000 deep": b"[" * 1000 + b"]" * 1000,
    "a 4301-digit number": b"1" * 4301,
}


@pytest.fixture
async def doc_id(client: httpx.AsyncClient, alice: dict[str, Any]) -> str:
    """A document of alice's (`client` is signed in as her)."""
    created = await client.post(DOCS, json={"title": "Contract"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _fill(path: str, doc_id: str) -> str:
    """A concrete path: alice's document, version 1, and ids that name nothing."""
    values = {"document_id": doc_id, "version": "1", "position": "1", "number": "1", "token": "x" * 43}
    for name in ("user_id", "link_id", "session_id"):
        values[name] = str(uuid.uuid4())
    return path.format(**values)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


# --- strict integers ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [True, "2", 3.0, "1", 1.0], ids=repr)
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("PATCH", "", {"title": "Changed"}), ("PUT", "", {"title": "Changed"}), ("POST", "/versions/1/restore", {})],
    ids=["PATCH", "PUT", "restore"],
)
async def test_a_version_that_is_not_a_json_integer_is_422_and_changes_nothing(
    client: httpx.AsyncClient, doc_id: str, method: str, suffix: str, body: dict[str, Any], version: Any
) -> None:
    response = await client.request(method, f"{DOCS}/{doc_id}{suffix}", json={**body, "version": version})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    after = (await client.get(f"{DOCS}/{doc_id}")).json()
    assert (after["title"], after["version"]) == ("Contract", 1)


async def test_a_json_integer_version_is_still_taken(client: httpx.AsyncClient, doc_id: str) -> None:
    response = await client.patch(f"{DOCS}/{doc_id}", json={"title": "Changed", "version": 1})

    assert (response.status_code, response.json()["version"]) == (200, 2)


# --- form fields that are not UTF-8 ---------------------------------------------------------------


async def test_a_multipart_signup_whose_email_is_not_utf8_is_422_and_makes_no_account(
    new_client: ClientFactory,
) -> None:
    latin1 = "z\xff" + unique_email("latin")  # `zÿ…` read as Latin-1
    fields = {"email": (None, latin1.encode("latin-1")), "password": (None, PASSWORD.encode())}

    refused = await new_client().post(f"{API}/auth/signup", files=fields)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    # The address the bytes would have spelled in Latin-1 is still free.
    taken = await new_client().post(f"{API}/auth/signup", json={"email": latin1, "password": PASSWORD})
    assert taken.status_code == 201, taken.text


async def test_a_multipart_login_whose_password_is_not_utf8_is_422(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    password = "pässwörd-for-contract"
    await sign_up(new_client(), email, password)
    fields = {"username": (None, email.encode()), "password": (None, password.encode("latin-1"))}

    response = await new_client().post(f"{API}/auth/login", files=fields)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_a_multipart_login_in_utf8_signs_in(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    password = "पासवर्ड-for-contract"
    await sign_up(new_client(), email, password)
    fields = {"username": (None, email.encode()), "password": (None, password.encode())}

    response = await new_client().post(f"{API}/auth/login", files=fields)

    assert response.status_code == 200, response.text


# --- a body that cannot be read ---------------------------------------------------------------------


@pytest.mark.parametrize("body", UNREADABLE_JSON.values(), ids=UNREADABLE_JSON.keys())
async def test_an_unreadable_json_body_is_a_declared_400_on_every_json_route(
    client: httpx.AsyncClient, spec: dict[str, Any], doc_id: str, body: bytes
) -> None:
    """One status for one problem, whichever route (FastAPI's own body reading, the auth routes'
    own, the hot layer's) meets it."""
    routes = [
        (path, method, op)
        for path, method, op in _operations(spec)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert len(routes) >= 10
    answers = {}
    for path, method, op in routes:
        response = await client.request(
            method, _fill(path, doc_id), content=body, headers={"content-type": "application/json"}
        )
        answers[f"{method.upper()} {path}"] = (response.status_code, response.json()["code"], "400" in op["responses"])
    assert answers == dict.fromkeys(answers, (400, "bad_request", True))


# --- every status declared ------------------------------------------------------------------------


async def test_routes_refused_for_a_trashed_document_declare_their_409(
    client: httpx.AsyncClient, spec: dict[str, Any], doc_id: str, new_client: ClientFactory, sign_up: SignUp
) -> None:
    member = await sign_up(new_client())
    shared = await client.post(f"{DOCS}/{doc_id}/shares", json={"email": member["email"], "role": "viewer"})
    link = await client.post(f"{DOCS}/{doc_id}/links", json={})
    assert (shared.status_code, link.status_code) == (201, 201)
    assert (await client.delete(f"{DOCS}/{doc_id}")).status_code == 204
    requests = [
        ("post", f"{DOCS}/{{document_id}}/duplicate", None),
        ("get", f"{DOCS}/{{document_id}}/links", None),
        ("post", f"{DOCS}/{{document_id}}/links", {}),
        ("delete", f"{DOCS}/{{document_id}}/links/{{link_id}}", None),
        ("post", f"{DOCS}/{{document_id}}/shares", {"email": member["email"], "role": "editor"}),
        ("patch", f"{DOCS}/{{document_id}}/shares/{{user_id}}", {"role": "editor"}),
    ]
    answers = {}
    for method, path, body in requests:
        concrete = path.format(document_id=doc_id, link_id=link.json()["id"], user_id=member["id"])
        response = await client.request(method, concrete, json=body)
        declared = spec["paths"][path][method]["responses"]
        answers[f"{method.upper()} {path}"] = (response.status_code, response.json()["code"], "409" in declared)
    assert answers == dict.fromkeys(answers, (409, "document_trashed", True))


async def test_every_state_changing_route_declares_its_403_for_an_untrusted_origin(
    client: httpx.AsyncClient, spec: dict[str, Any], doc_id: str
) -> None:
    answers = {}
    for path, method, op in _operations(spec):
        if method in UNSAFE:
            response = await client.request(method, _fill(path, doc_id), headers={"origin": "https://evil.example"})
            answers[f"{method.upper()} {path}"] = (response.status_code, "403" in op["responses"])
    assert answers
    assert answers == dict.fromkeys(answers, (403, True))


async def test_every_route_with_a_body_declares_its_413(
    app: FastAPI, client: httpx.AsyncClient, spec: dict[str, Any], doc_id: str
) -> None:
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"10000000000"), (b"cookie", cookie)]
    answers = {}
    for path, method, op in _operations(spec):
        if "requestBody" in op:
            status, _body = await raw_post(app, _fill(path, doc_id), headers, b"{}", method=method.upper())
            answers[f"{method.upper()} {path}"] = (status, "413" in op["responses"])
    assert len(answers) >= 10
    assert answers == dict.fromkeys(answers, (413, True))


# --- downloads and methods ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{DOCS}/{{document_id}}/file", f"{API}/shared/{{token}}/file"])
def test_file_downloads_declare_every_media_type_they_send(spec: dict[str, Any], path: str) -> None:
    declared = spec["paths"][path]["get"]["responses"]["200"]["content"]

    assert set(declared) == SUPPORTED_MEDIA_TYPES
    assert all(media["schema"] == {"type": "string", "format": "binary"} for media in declared.values())


async def test_a_downloaded_file_comes_as_a_declared_media_type(
    client: httpx.AsyncClient, alice: dict, spec: dict[str, Any]
) -> None:
    uploaded = await client.post(f"{DOCS}/upload", files={"file": ("scan.png", png_bytes(), "image/png")})
    assert uploaded.status_code == 202, uploaded.text
    link = await client.post(f"{DOCS}/{uploaded.json()['id']}/links", json={})

    for url, path in [
        (f"{DOCS}/{uploaded.json()['id']}/file", f"{DOCS}/{{document_id}}/file"),
        (f"{API}/shared/{link.json()['token']}/file", f"{API}/shared/{{token}}/file"),
    ]:
        download = await client.get(url)
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/png"
        assert "image/png" in spec["paths"][path]["get"]["responses"]["200"]["content"]


async def test_a_405_names_every_method_its_path_serves(client: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    """Starlette names only the first route whose path matched (`POST /documents/{id}` said
    `Allow: GET`); every path here is asked with a method none of its routes serves."""
    answers, expected = {}, {}
    for path, operations in spec["paths"].items():
        served = {method.upper() for method in operations}  # FastAPI's routes answer no HEAD
        response = await client.request("OPTIONS", _fill(path, str(uuid.uuid4())))
        answers[path] = (response.status_code, response.headers.get("allow"))
        expected[path] = (405, ", ".join(sorted(served)))
    assert answers == expected


async def test_a_405_still_has_the_one_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{DOCS}/{uuid.uuid4()}")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
    assert json.loads(response.content) == {"detail": "Method Not Allowed", "code": "method_not_allowed"}
