"""Accounts: an email is matched in any case but never folded into another address, and is shown
as typed; passwords that are one character, blank, or about the product or the account are
refused wherever a password is set."""

from __future__ import annotations

import itertools
import unicodedata

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.models import User
from tests.conftest import PASSWORD, ClientFactory, SignUp, unique_email

API = "/api/v1"
SIGNUP = f"{API}/auth/signup"
LOGIN = f"{API}/auth/login"
ME = f"{API}/auth/me"
PASSWORD_URL = f"{API}/auth/password"
_numbers = itertools.count(1)


def fresh(local: str, domain: str = "example.com") -> str:
    """`local` made unique in this run, at `domain`, its letters kept as given."""
    return f"{local}{next(_numbers)}@{domain}"


async def signup(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(SIGNUP, json={"email": email, "password": password})


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def stored_emails(app: FastAPI) -> list[str]:
    async with app.state.db.engine.connect() as conn:
        return list((await conn.scalars(select(User.email).order_by(User.email))).all())


# --- one account per address, as typed ------------------------------------------------------------


async def test_an_address_in_another_case_is_the_same_account_shown_as_first_typed(
    app: FastAPI, new_client: ClientFactory
) -> None:
    typed = fresh("Ram", "Example.com")
    first = await signup(new_client(), typed)

    again = await signup(new_client(), typed.lower())
    browser = new_client()
    signed_in = await login(browser, typed.upper())

    assert first.status_code == 201 and first.json()["user"]["email"] == typed
    assert again.status_code == 409 and again.json()["code"] == "email_taken"
    assert signed_in.status_code == 200
    assert signed_in.json()["user"] == first.json()["user"]
    assert (await browser.get(ME)).json()["user"]["email"] == typed
    assert await stored_emails(app) == [typed]


@pytest.mark.parametrize(
    ("one", "other"),
    [("straße", "strasse"), ("λόγος", "λόγοσ"), ("ǆemal", "džemal")],
    ids=["sharp-s", "final-sigma", "digraph"],
)
async def test_addresses_that_only_folding_would_merge_are_two_accounts(
    app: FastAPI, new_client: ClientFactory, one: str, other: str
) -> None:
    n = next(_numbers)
    first, second = f"{one}{n}@example.com", f"{other}{n}@example.com"

    responses = [await signup(new_client(), first), await signup(new_client(), second, "another pass phrase")]
    logins = [await login(new_client(), first), await login(new_client(), second, "another pass phrase")]

    assert [r.status_code for r in responses] == [201, 201]
    assert [r.json()["user"]["email"] for r in logins] == [first, second]
    assert logins[0].json()["user"]["id"] != logins[1].json()["user"]["id"]
    assert sorted(await stored_emails(app)) == sorted([first, second])


async def test_an_address_typed_decomposed_is_the_same_account(new_client: ClientFactory) -> None:
    composed = fresh("José")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    await signup(new_client(), composed)

    response = await login(new_client(), decomposed)

    assert response.status_code == 200
    assert response.json()["user"]["email"] == composed


async def test_sharing_finds_the_account_in_any_case_and_no_folded_neighbour(
    new_client: ClientFactory, sign_up: SignUp
) -> None:
    owner = new_client()
    await sign_up(owner)
    member = fresh("Straße")
    await signup(new_client(), member)
    doc = (await owner.post(f"{API}/documents", json={"title": "Notes"})).json()
    shares = f"{API}/documents/{doc['id']}/shares"

    folded = await owner.post(shares, json={"email": member.replace("ß", "ss"), "role": "viewer"})
    shouted = await owner.post(shares, json={"email": member.upper().replace("SS", "ß"), "role": "viewer"})

    assert folded.status_code == 404 and folded.json()["code"] == "user_not_found"
    assert shouted.status_code == 201, shouted.text
    assert shouted.json()["email"] == member


async def test_failed_logins_delay_the_address_in_any_case_but_not_a_folded_neighbour(
    new_client: ClientFactory, app: FastAPI
) -> None:
    n = next(_numbers)
    victim, neighbour = f"straße{n}@example.com", f"strasse{n}@example.com"
    await signup(new_client(), neighbour)
    attacker = new_client()
    spellings = [victim, victim.upper().replace("SS", "ß"), victim.capitalize()]

    for attempt in range(app.state.settings.login_failures_before_delay):
        assert (await login(attacker, spellings[attempt % 3], "wrong password")).status_code == 401
    delayed = await login(attacker, victim.title(), "wrong password")
    neighbour_login = await login(new_client(), neighbour)

    assert delayed.status_code == 429
    assert neighbour_login.status_code == 200


# --- passwords ------------------------------------------------------------------------------------


CONTEXT_FREE_REFUSALS = [
    ("aaaaaaaaaaaa", "password_one_character"),
    ("क" * 10, "password_one_character"),
    (" " * 10, "password_whitespace_only"),
    ("\t \u3000\n \t\u00a0 ", "password_whitespace_only"),
    ("My LekhaMudra 2026!", "password_contains_product_name"),
    ("सुरक्षित लेखमुद्रा पासवर्ड", "password_contains_product_name"),
    ("ＬＥＫＨＡＭＵＤＲＡ-home", "password_contains_product_name"),
]
CONTEXT_FREE_IDS = ["latin", "devanagari", "spaces", "unicode-space", "product", "product-nepali", "product-wide"]


def refusal_types(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    return [error["type"] for error in body["errors"]]


@pytest.mark.parametrize(("password", "code"), CONTEXT_FREE_REFUSALS, ids=CONTEXT_FREE_IDS)
async def test_signup_refuses_a_password_by_rule_and_creates_nobody(
    app: FastAPI, client: httpx.AsyncClient, password: str, code: str
) -> None:
    response = await signup(client, unique_email(), password)

    assert refusal_types(response) == [code]
    assert response.json()["errors"][0]["loc"] == ["body", "password"]
    assert response.json()["detail"].startswith("password: must not")
    assert await stored_emails(app) == []


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("sitaram@example.com", "sitaram is my name"),
        ("Sita.Sharma@example.com", "hello SITA.SHARMA 123"),
        ("ram@example.com", "my address ram@example.com"),
    ],
    ids=["local-part", "local-part-any-case", "whole-address"],
)
async def test_signup_refuses_a_password_containing_the_email(
    app: FastAPI, client: httpx.AsyncClient, email: str, password: str
) -> None:
    response = await signup(client, email, password)

    assert refusal_types(response) == ["password_contains_email"]
    assert await stored_emails(app) == []


async def test_a_local_part_under_four_characters_may_appear_in_the_password(client: httpx.AsyncClient) -> None:
    response = await signup(client, f"ram@site{next(_numbers)}.example.com", "ram ram rama")

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("password", "code"), CONTEXT_FREE_REFUSALS, ids=CONTEXT_FREE_IDS)
async def test_password_change_refuses_by_the_same_rules(
    client: httpx.AsyncClient, alice: dict, password: str, code: str
) -> None:
    response = await client.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": password})

    assert refusal_types(response) == [code]
    assert (await login(client, alice["email"])).status_code == 200


async def test_password_change_refuses_the_accounts_email(new_client: ClientFactory, sign_up: SignUp) -> None:
    browser = new_client()
    user = await sign_up(browser, email=fresh("Gita.Thapa"))
    local = user["email"].split("@")[0]

    response = await browser.post(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": f"new {local.lower()} pass"}
    )

    assert refusal_types(response) == ["password_contains_email"]
    assert response.json()["errors"][0]["loc"] == ["body", "new_password"]
    assert (await login(new_client(), user["email"])).status_code == 200
