"""The session cookie under Secure (ENV=prod): `__Host-session_id`, Secure, Path=/, no Domain, and
read, renewed and cleared under that name only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.security import SECURE_SESSION_COOKIE, SESSION_COOKIE
from main import create_app
from tests.clocks import Clock
from tests.conftest import PASSWORD, _empty_tables, make_settings, unique_email

ME = "/api/v1/auth/me"


@pytest.fixture
async def prod_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, tmp_path, env="prod", auto_migrate=False))
    application.state.clock = Clock()
    async with LifespanManager(application):
        try:
            yield application
        finally:
            await _empty_tables(application)


@pytest.fixture
async def browser(prod_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Over https, as a browser must be for a Secure cookie to be sent back."""
    transport = httpx.ASGITransport(app=prod_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


def set_cookies(response: httpx.Response) -> list[dict[str, str]]:
    """Each Set-Cookie header as {"name", "value", attribute (lower-cased): value}."""
    cookies = []
    for header in response.headers.get_list("set-cookie"):
        first, *rest = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        attributes = {key.lower(): val for key, _, val in (part.partition("=") for part in rest)}
        cookies.append({"name": name, "value": value, **attributes})
    return cookies


async def test_a_secure_session_cookie_is_host_prefixed_secure_on_root_path_without_domain(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})

    assert response.status_code == 201, response.text
    cookies = {cookie["name"]: cookie for cookie in set_cookies(response)}
    assert set(cookies) == {SECURE_SESSION_COOKIE, "device"}  # the session's, and this browser's device cookie
    cookie = cookies[SECURE_SESSION_COOKIE]
    assert cookie["name"] == SECURE_SESSION_COOKIE == "__Host-session_id"
    assert "secure" in cookie and cookie["path"] == "/" and "domain" not in cookie
    assert "httponly" in cookie and cookie["samesite"] == "Lax"
    assert (await browser.get(ME)).json()["authenticated"] is True


async def test_in_prod_the_plain_cookie_name_opens_no_session(prod_app: FastAPI, browser: httpx.AsyncClient) -> None:
    signup = await browser.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    token = browser.cookies[SECURE_SESSION_COOKIE]
    assert signup.status_code == 201

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=prod_app), base_url="https://testserver") as other:
        response = await other.get(ME, headers={"cookie": f"{SESSION_COOKIE}={token}"})

    assert response.json() == {"authenticated": False, "user": None}


async def test_a_renewed_secure_cookie_keeps_its_name_and_attributes(
    prod_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await browser.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    prod_app.state.clock.advance(minutes=5)  # past the touch interval: this read renews

    response = await browser.get(ME)

    (cookie,) = set_cookies(response)
    assert cookie["name"] == SECURE_SESSION_COOKIE and cookie["value"] == browser.cookies[SECURE_SESSION_COOKIE]
    assert "secure" in cookie and cookie["path"] == "/" and "domain" not in cookie
    assert int(cookie["max-age"]) > 0


async def test_logout_due_a_renewal_clears_the_secure_cookie_and_renews_nothing(
    prod_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await browser.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    prod_app.state.clock.advance(minutes=5)  # the session check renews; the logout must win

    response = await browser.post("/api/v1/auth/logout")

    assert response.status_code == 204
    (cookie,) = set_cookies(response)
    assert (cookie["name"], cookie["value"], cookie["max-age"]) == (SECURE_SESSION_COOKIE, "", "0")
    assert (await browser.get(ME)).json()["authenticated"] is False
