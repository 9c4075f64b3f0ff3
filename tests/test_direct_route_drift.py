"""A direct route (app/api/direct_routes.py) and its FastAPI route cannot drift apart: the app is
not made if the route takes a parameter or dependency its direct answer does not reproduce."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

import pytest
from fastapi import Depends, Header, Query, Request
from fastapi.routing import APIRoute

from app.api import deps
from app.api.direct_routes import DirectRouteDrift, bind
from app.api.v1 import DIRECT_ROUTES, documents
from app.core.config import Settings
from main import create_app

LIST = "GET /api/v1/documents"


def _route_of(endpoint: Callable[..., Any]) -> APIRoute:
    (route,) = (r for r in documents.router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)
    return route


def _with_parameter(monkeypatch: pytest.MonkeyPatch, function: Callable[..., Any], name: str, annotation: Any) -> None:
    """`function` as FastAPI sees it (its signature), with one keyword parameter more."""
    signature = inspect.signature(function)
    extra = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
    parameters = [*signature.parameters.values(), extra]
    monkeypatch.setattr(function, "__signature__", signature.replace(parameters=parameters), raising=False)


async def _tenant(request: Request) -> None:
    """A dependency someone adds to a route."""


def test_todays_direct_routes_match_their_fastapi_routes(settings: Settings) -> None:
    bound = bind(create_app(settings).routes, DIRECT_ROUTES)
    assert sorted(f"{b.method} {b.path}" for b in bound) == [
        "GET /api/v1/auth/me",
        "GET /api/v1/documents",
        "GET /api/v1/documents/{document_id}",
        "POST /api/v1/documents",
    ]


def test_a_header_parameter_added_to_the_list_route_stops_start_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drift issue #22 found: FastAPI's list route read a header the direct list did not."""
    _with_parameter(monkeypatch, documents.list_documents, "accept_language", Annotated[str | None, Header()])
    with pytest.raises(DirectRouteDrift) as failure:
        create_app(settings)
    assert str(failure.value).splitlines()[:2] == [
        f"{LIST}: its FastAPI route and _direct_list (a direct route) differ;",
        "  the route takes header accept-language: str | None, not reproduced",
    ]


def test_a_query_parameter_added_to_the_list_route_stops_start_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_parameter(monkeypatch, documents.list_documents, "folder", Annotated[str | None, Query()])
    with pytest.raises(DirectRouteDrift, match=f"^{LIST}: .*\n  the route takes query folder: str \\| None, not"):
        create_app(settings)


def test_a_dependency_added_to_the_list_route_stops_start_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = _route_of(documents.list_documents)
    monkeypatch.setattr(route, "dependencies", [*route.dependencies, Depends(_tenant)])
    with pytest.raises(DirectRouteDrift, match=f"^{LIST}: .*\n  the route takes depends _tenant\\(Request\\), not"):
        create_app(settings)


def test_a_parameter_added_to_a_dependency_stops_start_up_for_each_route_using_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_caller is what the direct list and create call too: a header it starts reading is a
    difference in both (the list is bound first, so named first)."""
    _with_parameter(monkeypatch, deps.get_caller, "x_tenant", Annotated[str | None, Header()])
    with pytest.raises(DirectRouteDrift) as failure:
        create_app(settings)
    assert "the route takes depends get_caller(Request, header x-tenant: str | None), not" in str(failure.value)
    assert str(failure.value).startswith(LIST)


def test_a_declared_need_the_route_no_longer_has_stops_start_up(settings: Settings) -> None:
    app = create_app(settings)
    (listed,) = (d for d in DIRECT_ROUTES if d.endpoint is documents.list_documents)
    stale = replace(listed, reproduces=(*listed.reproduces, ("header", "if-match: str | None")))
    with pytest.raises(DirectRouteDrift, match=f"^{LIST}: .*\n  declared header if-match: str \\| None, not in"):
        bind(app.routes, [stale])
