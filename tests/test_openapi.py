"""The published API description (/openapi.json) and its interactive docs (/docs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.core.config import Settings
from main import create_app
from tests.conftest import make_settings

DOCUMENT = "/api/v1/documents/{document_id}"
ROUTES = [
    ("/api/v1/auth/signup", "post"),
    ("/api/v1/auth/login", "post"),
    ("/api/v1/auth/logout", "post"),
    ("/api/v1/auth/me", "get"),
    ("/api/v1/auth/logout-all", "post"),
    ("/api/v1/auth/sessions", "get"),
    ("/api/v1/auth/sessions/{session_id}", "delete"),
    ("/api/v1/auth/password", "post"),
    ("/api/v1/documents", "post"),
    ("/api/v1/documents", "get"),
    (DOCUMENT, "get"),
    (DOCUMENT, "patch"),
    (DOCUMENT, "put"),
    (DOCUMENT, "delete"),
    ("/api/v1/documents/upload", "post"),
    ("/api/v1/documents/recent", "get"),
    (f"{DOCUMENT}/restore", "post"),
    (f"{DOCUMENT}/duplicate", "post"),
    (f"{DOCUMENT}/star", "put"),
    (f"{DOCUMENT}/star", "delete"),
    (f"{DOCUMENT}/versions", "get"),
    (f"{DOCUMENT}/versions/{{version}}", "get"),
    (f"{DOCUMENT}/versions/{{version}}/restore", "post"),
    (f"{DOCUMENT}/shares", "get"),
    (f"{DOCUMENT}/shares", "post"),
    (f"{DOCUMENT}/shares/{{user_id}}", "patch"),
    (f"{DOCUMENT}/shares/{{user_id}}", "delete"),
    (f"{DOCUMENT}/links", "get"),
    (f"{DOCUMENT}/links", "post"),
    (f"{DOCUMENT}/links/{{link_id}}", "delete"),
    (f"{DOCUMENT}/activity", "get"),
    ("/api/v1/audit/me", "get"),
    ("/api/v1/shared/{token}", "get"),
    ("/api/v1/shared/{token}", "post"),
    ("/api/v1/shared/{token}/file", "get"),
    ("/api/v1/shared/{token}/file", "post"),
    ("/api/v1/search", "get"),
    (f"{DOCUMENT}/file", "get"),
    (f"{DOCUMENT}/files", "get"),
    (f"{DOCUMENT}/files/{{position}}", "get"),
    (f"{DOCUMENT}/pages", "post"),
    (f"{DOCUMENT}/pages/{{number}}/image", "get"),
    (f"{DOCUMENT}/ocr", "get"),
    (f"{DOCUMENT}/ocr", "post"),
    ("/ping", "get"),
    ("/health", "get"),
]
ITEM_ROUTES = [(path, method) for path, method in ROUTES if path == DOCUMENT]


def _error_operations(spec: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (path, method, status, response)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("4")
    ]


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m.upper()} {p}" for p, m in ROUTES])
def test_openapi_lists_route(spec: dict[str, Any], path: str, method: str) -> None:
    assert method in spec["paths"].get(path, {})


def test_openapi_lists_no_undocumented_extra_paths(spec: dict[str, Any]) -> None:
    assert set(spec["paths"]) == {path for path, _ in ROUTES}


@pytest.mark.parametrize("path", ["/api/v1/auth/signup", "/api/v1/auth/login"])
def test_auth_forms_accept_json_and_url_encoded_bodies(spec: dict[str, Any], path: str) -> None:
    body = spec["paths"][path]["post"]["requestBody"]

    assert body["required"] is True
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(body["content"])


@pytest.mark.parametrize(
    ("path", "fields"),
    [("/api/v1/auth/signup", {"email", "password", "full_name"}), ("/api/v1/auth/login", {"email", "password"})],
)
def test_auth_body_schema_names_its_fields(spec: dict[str, Any], path: str, fields: set[str]) -> None:
    content = spec["paths"][path]["post"]["requestBody"]["content"]

    for media_type in ("application/json", "application/x-www-form-urlencoded"):
        assert set(content[media_type]["schema"]["properties"]) == fields


@pytest.mark.parametrize(("path", "method"), ITEM_ROUTES, ids=[m.upper() for _, m in ITEM_ROUTES])
@pytest.mark.parametrize("status", ["404", "422"])
def test_document_routes_declare_not_found_and_validation_errors(
    spec: dict[str, Any], path: str, method: str, status: str
) -> None:
    assert status in spec["paths"][path][method]["responses"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_document_collection_declares_validation_errors(spec: dict[str, Any], method: str) -> None:
    assert "422" in spec["paths"]["/api/v1/documents"][method]["responses"]


def test_every_declared_client_error_uses_the_one_error_shape(spec: dict[str, Any]) -> None:
    """Errors are `{"detail": str, "code": str}` everywhere, so the docs must say so everywhere."""
    wrong = [
        f"{method.upper()} {path} {status}"
        for path, method, status, response in _error_operations(spec)
        if response.get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": "#/components/schemas/ErrorOut"}
    ]

    assert wrong == []


def test_error_shape_requires_detail_and_code(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["ErrorOut"]

    assert set(schema["required"]) == {"detail", "code"}
    assert schema["properties"]["detail"]["type"] == "string"
    assert schema["properties"]["code"]["type"] == "string"


async def test_docs_page_is_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


DOCS_PATHS = ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]


async def _statuses(settings: Settings) -> list[int]:
    application = create_app(settings)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="https://testserver") as client,
    ):
        return [(await client.get(path)).status_code for path in DOCS_PATHS]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"env": "dev"}, [200] * 4),
        ({"env": "test"}, [200] * 4),
        ({"env": "prod"}, [404] * 4),
        ({"env": "prod", "docs_enabled": True}, [200] * 4),
        ({"env": "test", "docs_enabled": False}, [404] * 4),
    ],
    ids=["dev", "test", "prod", "prod-enabled", "test-disabled"],
)
async def test_docs_enabled_decides_whether_docs_and_schema_are_served(
    database_url: str, tmp_path: Path, overrides: dict[str, Any], expected: list[int]
) -> None:
    settings = make_settings(database_url, tmp_path, auto_migrate=False, **overrides)

    assert await _statuses(settings) == expected
