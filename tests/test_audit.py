"""The audit trail: every action leaves exactly one row saying who did what to what, refusals
survive their request's rollback, views are throttled, secrets never reach a row, and no endpoint
can change or remove a row."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.security import SESSION_COOKIE
from app.models import Document, Session, ShareLink
from app.ocr import OcrEngine
from tests.clocks import Clock
from tests.conftest import PASSWORD, ClientFactory, Person, SignUp, sign_up_as
from tests.sharing_world import (
    API,
    DOCS,
    audit_rows,
    create_doc,
    create_link,
    png_bytes,
    run_ocr,
    share,
    stored_objects,
    text_png,
    upload,
)

LOGIN = f"{API}/auth/login"
AUDIT_ME = f"{API}/audit/me"
SHARED = f"{API}/shared"
ASGI_CLIENT_IP = "127.0.0.1"  # what httpx's ASGI transport reports as the client address


# The clock is set before anyone signs up, so sessions and views share one timeline.
pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
async def member(new_client: ClientFactory, sign_up: SignUp) -> Person:
    return await sign_up_as(new_client, sign_up, "member")


def activity_url(doc_id: str) -> str:
    return f"{DOCS}/{doc_id}/activity"


async def activity(client: httpx.AsyncClient, doc_id: str, **params: int) -> dict[str, Any]:
    response = await client.get(activity_url(doc_id), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def all_audit_text(app: FastAPI) -> str:
    return json.dumps([tuple(row) for row in await audit_rows(app)], default=str, ensure_ascii=False)


# --- one row per action -------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a scenario may use. `mark()` goes right before the action under test."""

    app: FastAPI
    owner: Person
    new_client: ClientFactory
    sign_up: SignUp
    clock: Clock
    engine: OcrEngine | None
    since: int = 0

    async def member(self) -> Person:
        """A second user, signed up only by the scenarios that need one (sign-ups are slow)."""
        return await sign_up_as(self.new_client, self.sign_up, "member")

    async def mark(self) -> None:
        rows = await audit_rows(self.app)
        self.since = rows[-1].id if rows else 0


@dataclass(frozen=True)
class Expected:
    actor: Person | None
    target: tuple[str, str] | None
    details: dict[str, Any] = field(default_factory=dict)
    from_request: bool = True  # False for the worker: no IP, no user agent
    also: tuple[Expected, ...] = ()  # further rows of the same action, in the order written


async def _signup(c: Ctx) -> Expected:
    await c.mark()
    person = await sign_up_as(c.new_client, c.sign_up, "newcomer")
    return Expected(person, ("user", person.id))


async def _login(c: Ctx) -> Expected:
    await c.mark()
    response = await c.new_client().post(LOGIN, json={"email": c.owner.email, "password": PASSWORD})
    assert response.status_code == 200
    return Expected(c.owner, ("user", c.owner.id))


async def _login_failed(c: Ctx) -> Expected:
    await c.mark()
    response = await c.new_client().post(LOGIN, json={"email": c.owner.email, "password": "not my password"})
    assert response.status_code == 401
    return Expected(c.owner, None, {"email": c.owner.email})


async def _logout(c: Ctx) -> Expected:
    await c.mark()
    assert (await c.owner.client.post(f"{API}/auth/logout")).status_code == 204
    return Expected(c.owner, ("user", c.owner.id))


async def _logout_all(c: Ctx) -> Expected:
    await c.new_client().post(LOGIN, json={"email": c.owner.email, "password": PASSWORD})
    await c.mark()
    assert (await c.owner.client.post(f"{API}/auth/logout-all")).status_code == 204
    return Expected(c.owner, ("user", c.owner.id), {"sessions": 2})


async def _session_revoked(c: Ctx) -> Expected:
    await c.new_client().post(LOGIN, json={"email": c.owner.email, "password": PASSWORD})
    other = next(s for s in (await c.owner.client.get(f"{API}/auth/sessions")).json() if not s["current"])
    await c.mark()
    assert (await c.owner.client.delete(f"{API}/auth/sessions/{other['id']}")).status_code == 204
    return Expected(c.owner, ("user", c.owner.id), {"session_id": other["id"]})


async def _password_changed(c: Ctx) -> Expected:
    await c.mark()
    body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert (await c.owner.client.post(f"{API}/auth/password", json=body)).status_code == 204
    return Expected(c.owner, ("user", c.owner.id))


async def _throttled(c: Ctx) -> Expected:
    attacker = c.new_client()
    for _ in range(c.app.state.settings.login_failures_before_delay):
        await attacker.post(LOGIN, json={"email": c.owner.email, "password": "guess"})
    await c.mark()
    assert (await attacker.post(LOGIN, json={"email": c.owner.email, "password": "guess"})).status_code == 429
    return Expected(None, None, {"kind": "login", "email": c.owner.email})


async def _session_expired(c: Ctx) -> Expected:
    session_id = (await c.owner.client.get(f"{API}/auth/sessions")).json()[0]["id"]
    c.clock.advance(days=31)
    await c.mark()
    assert (await c.owner.client.get(f"{API}/auth/me")).json()["authenticated"] is False
    return Expected(c.owner, ("user", c.owner.id), {"session_id": session_id})


async def _create(c: Ctx) -> Expected:
    await c.mark()
    doc = await create_doc(c.owner.client)
    return Expected(c.owner, ("document", doc["id"]))


async def _view(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "viewer")
    await c.mark()
    assert (await member.client.get(f"{DOCS}/{doc['id']}")).status_code == 200
    return Expected(member, ("document", doc["id"]))


async def _update(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "editor")
    await c.mark()
    assert (await member.client.patch(f"{DOCS}/{doc['id']}", json={"title": "New", "content": "x"})).is_success
    return Expected(member, ("document", doc["id"]), {"fields": ["content", "title"], "version": 2})


async def _restore_version(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client, title="First")
    await c.owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Second"})
    await c.mark()
    assert (await c.owner.client.post(f"{DOCS}/{doc['id']}/versions/1/restore", json={})).is_success
    return Expected(c.owner, ("document", doc["id"]), {"fields": ["title"], "version": 3, "restored_from": 1})


async def _download(c: Ctx) -> Expected:
    member = await c.member()
    doc = await upload(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "viewer")
    await c.mark()
    assert (await member.client.get(f"{DOCS}/{doc['id']}/file")).status_code == 200
    return Expected(member, ("document", doc["id"]))


async def _trash(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client)
    await c.mark()
    assert (await c.owner.client.delete(f"{DOCS}/{doc['id']}")).status_code == 204
    return Expected(c.owner, ("document", doc["id"]))


async def _restore(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client)
    await c.owner.client.delete(f"{DOCS}/{doc['id']}")
    await c.mark()
    assert (await c.owner.client.post(f"{DOCS}/{doc['id']}/restore")).status_code == 200
    return Expected(c.owner, ("document", doc["id"]))


async def _purge(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client, title="Gone for good")
    await c.mark()
    assert (await c.owner.client.delete(f"{DOCS}/{doc['id']}?permanent=true")).status_code == 204
    return Expected(c.owner, ("document", doc["id"]), {"title": "Gone for good", "reason": "owner"})


async def _duplicate(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "viewer")
    await c.mark()
    copy = (await member.client.post(f"{DOCS}/{doc['id']}/duplicate")).json()
    on_source = Expected(member, ("document", doc["id"]), {"copy_id": copy["id"]})
    return Expected(member, ("document", copy["id"]), {"source_id": doc["id"]}, also=(on_source,))


async def _grant(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await c.mark()
    await share(c.owner.client, doc["id"], member.email, "editor")
    details = {"user_id": member.id, "email": member.email, "role": "editor"}
    return Expected(c.owner, ("document", doc["id"]), details)


async def _role_change(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "editor")
    await c.mark()
    await c.owner.client.patch(f"{DOCS}/{doc['id']}/shares/{member.id}", json={"role": "viewer"})
    details = {"user_id": member.id, "old_role": "editor", "new_role": "viewer"}
    return Expected(c.owner, ("document", doc["id"]), details)


async def _revoke(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "viewer")
    await c.mark()
    assert (await c.owner.client.delete(f"{DOCS}/{doc['id']}/shares/{member.id}")).status_code == 204
    return Expected(c.owner, ("document", doc["id"]), {"user_id": member.id, "left": False})


async def _leave(c: Ctx) -> Expected:
    member = await c.member()
    doc = await create_doc(c.owner.client)
    await share(c.owner.client, doc["id"], member.email, "viewer")
    await c.mark()
    assert (await member.client.delete(f"{DOCS}/{doc['id']}/shares/{member.id}")).status_code == 204
    return Expected(member, ("document", doc["id"]), {"user_id": member.id, "left": True})


async def _link_create(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client)
    await c.mark()
    link = await create_link(c.owner.client, doc["id"], password="open sesame")
    details = {"link_id": link["id"], "expires_at": None, "password": True}
    return Expected(c.owner, ("document", doc["id"]), details)


async def _link_access(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client)
    link = await create_link(c.owner.client, doc["id"])
    await c.mark()
    assert (await c.new_client().get(f"{SHARED}/{link['token']}")).status_code == 200
    return Expected(None, ("document", doc["id"]), {"link_id": link["id"], "kind": "document"})


async def _link_access_denied(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client)
    link = await create_link(c.owner.client, doc["id"], password="open sesame")
    await c.mark()
    response = await c.new_client().get(f"{SHARED}/{link['token']}", headers={"X-Share-Password": "wrong"})
    assert response.status_code == 404
    return Expected(None, ("document", doc["id"]), {"reason": "wrong_password", "link_id": link["id"]})


async def _link_access_denied_unknown(c: Ctx) -> Expected:
    await c.mark()
    assert (await c.new_client().get(f"{SHARED}/{'x' * 43}")).status_code == 404
    return Expected(None, None, {"reason": "unknown_token"})


async def _link_revoke(c: Ctx) -> Expected:
    doc = await create_doc(c.owner.client)
    link = await create_link(c.owner.client, doc["id"])
    await c.mark()
    assert (await c.owner.client.delete(f"{DOCS}/{doc['id']}/links/{link['id']}")).status_code == 204
    return Expected(c.owner, ("document", doc["id"]), {"link_id": link["id"]})


async def _upload_accepted(c: Ctx) -> Expected:
    content = png_bytes()
    await c.mark()
    doc = await upload(c.owner.client, content, filename="scan.png")
    details = {"filename": "scan.png", "size": len(content), "content_type": "image/png"}
    return Expected(c.owner, ("document", doc["id"]), details)


async def _upload_rejected(c: Ctx) -> Expected:
    await c.mark()
    response = await c.owner.client.post(f"{DOCS}/upload", files={"file": ("notes.txt", b"plain text, not a scan")})
    assert response.status_code == 415
    return Expected(c.owner, None, {"code": "unsupported_file_type"})


async def _ocr_done(c: Ctx) -> Expected:
    assert c.engine is not None
    doc = await upload(c.owner.client, text_png(), languages="eng")
    await c.mark()
    assert await run_ocr(c.app, c.engine, doc["id"]) == "done"
    return Expected(None, ("document", doc["id"]), {"pages": 1}, from_request=False)


async def _ocr_failed(c: Ctx) -> Expected:
    assert c.engine is not None
    doc = await upload(c.owner.client, png_bytes()[:60] + b"\x00not really a png" * 20)
    await c.mark()
    assert await run_ocr(c.app, c.engine, doc["id"]) == "failed"
    return Expected(None, ("document", doc["id"]), {"error": ANY}, from_request=False)


async def _ocr_rerun(c: Ctx) -> Expected:
    member = await c.member()
    assert c.engine is not None
    doc = await upload(c.owner.client, languages="eng")
    await share(c.owner.client, doc["id"], member.email, "editor")
    await run_ocr(c.app, c.engine, doc["id"])
    await c.mark()
    assert (await member.client.post(f"{DOCS}/{doc['id']}/ocr", json={"languages": "eng"})).status_code == 202
    return Expected(member, ("document", doc["id"]), {"languages": "eng"})


@dataclass(frozen=True)
class Scenario:
    action: str
    act: Callable[[Ctx], Awaitable[Expected]]
    name: str = ""
    needs_ocr: bool = False

    def __str__(self) -> str:
        return self.name or self.action


SCENARIOS = [
    Scenario("auth.signup", _signup),
    Scenario("auth.login", _login),
    Scenario("auth.login_failed", _login_failed),
    Scenario("auth.logout", _logout),
    Scenario("auth.logout_all", _logout_all),
    Scenario("auth.session_revoked", _session_revoked),
    Scenario("auth.password_changed", _password_changed),
    Scenario("auth.throttled", _throttled),
    Scenario("auth.session_expired", _session_expired),
    Scenario("document.create", _create),
    Scenario("document.view", _view),
    Scenario("document.update", _update),
    Scenario("document.restore_version", _restore_version),
    Scenario("document.download", _download),
    Scenario("document.trash", _trash),
    Scenario("document.restore", _restore),
    Scenario("document.purge", _purge),
    Scenario("document.duplicate", _duplicate),
    Scenario("share.grant", _grant),
    Scenario("share.role_change", _role_change),
    Scenario("share.revoke", _revoke),
    Scenario("share.revoke", _leave, name="share.revoke-leave"),
    Scenario("link.create", _link_create),
    Scenario("link.access", _link_access),
    Scenario("link.access_denied", _link_access_denied),
    Scenario("link.access_denied", _link_access_denied_unknown, name="link.access_denied-unknown-token"),
    Scenario("link.revoke", _link_revoke),
    Scenario("upload.accepted", _upload_accepted),
    Scenario("upload.rejected", _upload_rejected),
    Scenario("ocr.done", _ocr_done, needs_ocr=True),
    Scenario("ocr.failed", _ocr_failed, needs_ocr=True),
    Scenario("ocr.rerun", _ocr_rerun, needs_ocr=True),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
async def test_each_action_leaves_exactly_one_row_with_actor_target_and_details(
    scenario: Scenario,
    app: FastAPI,
    owner: Person,
    new_client: ClientFactory,
    sign_up: SignUp,
    clock: Clock,
    request: pytest.FixtureRequest,
) -> None:
    engine = request.getfixturevalue("engine") if scenario.needs_ocr else None
    ctx = Ctx(app, owner, new_client, sign_up, clock, engine)

    expected = await scenario.act(ctx)

    rows = [row for row in await audit_rows(app, scenario.action) if row.id > ctx.since]
    wanted = [expected, *expected.also]
    assert len(rows) == len(wanted)
    for row, want in zip(rows, wanted, strict=True):
        actor = (want.actor.id, want.actor.email) if want.actor else (None, None)
        assert (str(row.actor_id) if row.actor_id else None, row.actor_email) == actor
        assert (row.target_type, row.target_id) == (want.target or (None, None))
        assert row.details == want.details
        if want.from_request:
            assert (row.ip, row.user_agent) == (ASGI_CLIENT_IP, f"python-httpx/{httpx.__version__}")
        else:
            assert (row.ip, row.user_agent) == (None, None)


# --- refusals outlive their request -------------------------------------------------------------


async def test_a_failed_login_is_recorded_though_its_request_rolled_back(
    app: FastAPI, owner: Person, new_client: ClientFactory
) -> None:
    async with app.state.db.engine.connect() as conn:
        sessions_before = await conn.scalar(select(func.count()).select_from(Session))

    response = await new_client().post(LOGIN, json={"email": owner.email, "password": "not my password"})

    assert response.status_code == 401
    async with app.state.db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Session)) == sessions_before
    assert len(await audit_rows(app, "auth.login_failed")) == 1


@pytest.mark.parametrize("settings", [{"max_upload_mb": 1}], indirect=True)
@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"plain text, not a scan", 415, "unsupported_file_type"),
        (b"", 422, "empty_file"),
        (png_bytes() + b"\x00" * (1024 * 1024), 413, "file_too_large"),
        (png_bytes() + b"\x00" * (3 * 1024 * 1024), 413, ANY),  # refused on its Content-Length alone
    ],
    ids=["wrong-type", "empty", "just-over-the-limit", "far-over-the-limit"],
)
async def test_every_refused_upload_is_recorded_though_nothing_else_is_kept(
    app: FastAPI, owner: Person, content: bytes, status: int, code: Any
) -> None:
    response = await owner.client.post(f"{DOCS}/upload", files={"file": ("scan.png", content)})

    assert response.status_code == status
    async with app.state.db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Document)) == 0
    assert stored_objects(app) == set()
    rows = await audit_rows(app, "upload.rejected")
    assert [(row.actor_email, row.details) for row in rows] == [(owner.email, {"code": code})]


async def test_refused_link_accesses_are_recorded_and_not_counted(
    app: FastAPI, owner: Person, new_client: ClientFactory, clock: Clock
) -> None:
    reasons = ("wrong_password", "revoked", "expired", "trashed")
    links = {}
    for reason in reasons:
        doc = await create_doc(owner.client)
        expiry = {"expires_at": (clock.now + timedelta(hours=1)).isoformat()} if reason == "expired" else {}
        links[reason] = await create_link(owner.client, doc["id"], password="open sesame", **expiry)
        if reason == "revoked":
            await owner.client.delete(f"{DOCS}/{doc['id']}/links/{links[reason]['id']}")
        elif reason == "trashed":
            await owner.client.delete(f"{DOCS}/{doc['id']}")
    clock.advance(hours=2)
    anonymous = new_client()

    for reason, link in links.items():
        password = "wrong" if reason == "wrong_password" else "open sesame"
        response = await anonymous.get(f"{SHARED}/{link['token']}", headers={"X-Share-Password": password})
        assert response.status_code == 404, reason

    rows = await audit_rows(app, "link.access_denied")
    assert [row.details for row in rows] == [{"reason": r, "link_id": links[r]["id"]} for r in reasons]
    assert await audit_rows(app, "link.access") == []
    async with app.state.db.engine.connect() as conn:
        assert set((await conn.execute(select(ShareLink.access_count))).scalars()) == {0}


# --- views are throttled ------------------------------------------------------------------------


async def test_a_view_is_recorded_at_most_once_per_10_minutes_per_user_and_document(
    app: FastAPI, owner: Person, member: Person, clock: Clock
) -> None:
    doc = await create_doc(owner.client)
    other = await create_doc(owner.client)
    await share(owner.client, doc["id"], member.email, "viewer")

    async def views() -> list[tuple[str | None, str | None]]:
        return [(row.actor_email, row.target_id) for row in await audit_rows(app, "document.view")]

    for _ in range(3):
        await owner.client.get(f"{DOCS}/{doc['id']}")
    await member.client.get(f"{DOCS}/{doc['id']}")
    await owner.client.get(f"{DOCS}/{other['id']}")
    assert await views() == [(owner.email, doc["id"]), (member.email, doc["id"]), (owner.email, other["id"])]

    clock.advance(minutes=9, seconds=59)
    await owner.client.get(f"{DOCS}/{doc['id']}")
    assert len(await views()) == 3

    clock.advance(minutes=1, seconds=1)
    await owner.client.get(f"{DOCS}/{doc['id']}")
    assert (await views())[3:] == [(owner.email, doc["id"])]


# --- what a row never holds ---------------------------------------------------------------------


async def test_no_row_holds_a_password_or_a_token(
    app: FastAPI, owner: Person, new_client: ClientFactory, sign_up: SignUp
) -> None:
    secrets = ["first secret passphrase", "wrong secret passphrase", "second secret passphrase", "link passphrase"]
    browser = new_client()
    user = await sign_up(browser, password=secrets[0])
    await new_client().post(LOGIN, json={"email": user["email"], "password": secrets[1]})
    await browser.post(f"{API}/auth/password", json={"current_password": secrets[0], "new_password": secrets[2]})
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"], password=secrets[3])
    await new_client().get(f"{SHARED}/{link['token']}", headers={"X-Share-Password": secrets[3]})
    await new_client().post(f"{SHARED}/{link['token']}", json={"password": secrets[1]})
    await owner.client.delete(f"{DOCS}/{doc['id']}/links/{link['id']}")
    cookies = [c.cookies.get(SESSION_COOKIE) for c in (browser, owner.client)]

    stored = await all_audit_text(app)

    assert "link.access_denied" in stored and "auth.password_changed" in stored
    for secret in [*secrets, link["token"], *cookies]:
        assert secret and secret not in stored


# --- purge keeps the trail ----------------------------------------------------------------------


async def test_purging_a_document_keeps_its_audit_rows(app: FastAPI, owner: Person, member: Person) -> None:
    doc = await create_doc(owner.client, title="Short-lived")
    await share(owner.client, doc["id"], member.email, "editor")
    await member.client.patch(f"{DOCS}/{doc['id']}", json={"content": "edited"})
    before = await audit_rows(app, target_id=doc["id"])

    await owner.client.delete(f"{DOCS}/{doc['id']}?permanent=true")

    after = await audit_rows(app, target_id=doc["id"])
    assert after[:-1] == before
    assert [row.action for row in after] == ["document.create", "share.grant", "document.update", "document.purge"]
    assert (await owner.client.get(activity_url(doc["id"]))).status_code == 404
    mine = (await member.client.get(AUDIT_ME)).json()["items"]
    assert any(e["action"] == "document.update" and e["target_id"] == doc["id"] for e in mine)


# --- reading the trail --------------------------------------------------------------------------


async def test_activity_is_shown_to_every_member_and_hidden_from_everyone_else(
    owner: Person, member: Person, new_client: ClientFactory, sign_up: SignUp
) -> None:
    viewer = await sign_up_as(new_client, sign_up, "viewer")
    stranger = await sign_up_as(new_client, sign_up, "stranger")
    doc = await create_doc(owner.client)
    await share(owner.client, doc["id"], member.email, "editor")
    await share(owner.client, doc["id"], viewer.email, "viewer")

    statuses = {
        who: (await client.get(activity_url(doc["id"]))).status_code
        for who, client in [
            ("owner", owner.client),
            ("editor", member.client),
            ("viewer", viewer.client),
            ("stranger", stranger.client),
            ("anonymous", new_client()),
        ]
    }

    assert statuses == {"owner": 200, "editor": 200, "viewer": 200, "stranger": 404, "anonymous": 401}
    seen_by_viewer = await activity(viewer.client, doc["id"])
    assert [e["action"] for e in seen_by_viewer["items"]] == ["share.grant", "share.grant", "document.create"]


async def test_the_owner_sees_on_the_source_who_copied_it_when_and_the_copys_id(owner: Person, member: Person) -> None:
    doc = await create_doc(owner.client)
    await share(owner.client, doc["id"], member.email, "viewer")
    before = datetime.now(UTC)

    response = await member.client.post(f"{DOCS}/{doc['id']}/duplicate")

    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    copy = response.json()
    newest = (await activity(owner.client, doc["id"]))["items"][0]
    assert (newest["action"], newest["target_id"]) == ("document.duplicate", doc["id"])
    assert (newest["actor_id"], newest["actor_email"]) == (member.id, member.email)
    assert newest["details"] == {"copy_id": copy["id"]}
    assert before <= datetime.fromisoformat(newest["occurred_at"]) <= after
    on_copy = (await activity(member.client, copy["id"]))["items"]
    assert [(e["action"], e["details"]) for e in on_copy] == [("document.duplicate", {"source_id": doc["id"]})]


async def test_activity_is_paginated_newest_first_and_only_about_this_document(owner: Person) -> None:
    doc = await create_doc(owner.client, title="v1")
    other = await create_doc(owner.client)
    for n in (2, 3, 4):
        await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": f"v{n}"})
    await owner.client.patch(f"{DOCS}/{other['id']}", json={"title": "elsewhere"})

    first = await activity(owner.client, doc["id"], limit=2)
    rest = await activity(owner.client, doc["id"], limit=2, offset=2)

    assert (first["total"], first["limit"], first["offset"]) == (4, 2, 0)
    assert [e["details"].get("version") for e in first["items"] + rest["items"]] == [4, 3, 2, None]
    assert [e["action"] for e in rest["items"]] == ["document.update", "document.create"]
    assert all(e["target_id"] == doc["id"] for e in first["items"] + rest["items"])
    assert set(first["items"][0]) == {
        *("id", "occurred_at", "actor_id", "actor_email", "action", "target_type", "target_id", "details", "count"),
    }


async def test_audit_me_shows_your_own_events_with_where_they_came_from(owner: Person, member: Person) -> None:
    doc = await create_doc(owner.client)
    await share(owner.client, doc["id"], member.email, "editor")
    await member.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Member's"}, headers={"User-Agent": "Lekhapadi/2"})

    mine = (await member.client.get(AUDIT_ME)).json()

    assert [e["action"] for e in mine["items"]] == ["document.update", "auth.signup"]
    assert mine["total"] == 2
    assert {e["actor_id"] for e in mine["items"]} == {member.id}
    assert (mine["items"][0]["ip"], mine["items"][0]["user_agent"]) == (ASGI_CLIENT_IP, "Lekhapadi/2")
    owners = (await owner.client.get(AUDIT_ME)).json()["items"]
    assert [e["action"] for e in owners] == ["share.grant", "document.create", "auth.signup"]


async def test_audit_me_needs_a_session(new_client: ClientFactory) -> None:
    assert (await new_client().get(AUDIT_ME)).status_code == 401


async def test_a_refused_change_leaves_no_row(app: FastAPI, owner: Person, member: Person) -> None:
    doc = await create_doc(owner.client)
    await share(owner.client, doc["id"], member.email, "viewer")
    before = await audit_rows(app)

    refused = [
        await member.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Not allowed"}),
        await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Stale", "version": 7}),
        await owner.client.post(f"{DOCS}/{doc['id']}/shares", json={"email": "nobody@example.com", "role": "viewer"}),
        await member.client.delete(f"{DOCS}/{doc['id']}"),
        await owner.client.patch(f"{DOCS}/{doc['id']}/shares/{member.id}", json={"role": "owner"}),
    ]

    assert [r.status_code for r in refused] == [403, 409, 404, 403, 422]
    assert await audit_rows(app) == before


# --- nothing changes the trail ------------------------------------------------------------------


async def test_no_endpoint_changes_or_removes_audit_rows(owner: Person) -> None:
    doc = await create_doc(owner.client)
    methods = ("POST", "PUT", "PATCH", "DELETE")

    statuses = {
        (method, url): (await owner.client.request(method, url, json={})).status_code
        for url in (AUDIT_ME, activity_url(doc["id"]))
        for method in methods
    }

    assert statuses == dict.fromkeys(statuses, 405)
    assert len(statuses) == 8


async def test_the_api_offers_only_reads_of_the_trail(app: FastAPI) -> None:
    paths = app.openapi()["paths"]

    trail = {path: set(operations) for path, operations in paths.items() if "audit" in path or "activity" in path}

    assert trail == {"/api/v1/audit/me": {"get"}, "/api/v1/documents/{document_id}/activity": {"get"}}
