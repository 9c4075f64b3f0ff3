"""Sharing use cases: members with roles, and read-only public links."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from app.core.security import Passwords, new_session_token, token_digest
from app.crud import sharing as sharing_crud
from app.crud import user as user_crud
from app.db.session import Database, after_finish
from app.models import Document, ShareLink
from app.schemas.sharing import LinkCreate, MemberRead, MemberRole
from app.services import audit
from app.services.audit import document_target
from app.services.document_access import Access
from app.services.throttle import AuthThrottle


async def list_members(*, session: AsyncSession, access: Access) -> list[MemberRead]:
    members = await sharing_crud.list_members(session=session, document_id=access.document.id)
    return [MemberRead(user_id=u.id, email=u.email, full_name=u.full_name, role=role) for u, role in members]  # type: ignore[arg-type]  # roles as stored: owner, editor, viewer


async def grant(*, session: AsyncSession, access: Access, email: str, role: MemberRole, now: datetime) -> MemberRead:
    user = await user_crud.get_user_by_email(session=session, email=email)
    if user is None:
        raise NotFound("No account uses this email", code="user_not_found")
    if user.id == access.document.owner_id:
        raise Invalid("You cannot share a document with its owner", code="share_with_owner")
    if await sharing_crud.get_share(session=session, document_id=access.document.id, user_id=user.id):
        raise Conflict("Already shared with this person; change their role instead", code="already_member")
    await sharing_crud.add_share(session=session, document_id=access.document.id, user_id=user.id, role=role, now=now)
    await audit.record(
        session,
        "share.grant",
        actor=access.actor,
        target=document_target(access.document.id),
        details={"user_id": str(user.id), "email": user.email, "role": role},
    )
    return MemberRead(user_id=user.id, email=user.email, full_name=user.full_name, role=role)


async def change_role(*, session: AsyncSession, access: Access, user_id: uuid.UUID, role: MemberRole) -> MemberRead:
    share = await sharing_crud.get_share(session=session, document_id=access.document.id, user_id=user_id)
    user = await user_crud.get_user(session=session, user_id=user_id)
    if share is None or user is None:
        raise NotFound("Not a member of this document", code="member_not_found")
    old = share.role
    if old != role:
        share.role = role
        await session.flush()
        await audit.record(
            session,
            "share.role_change",
            actor=access.actor,
            target=document_target(access.document.id),
            details={"user_id": str(user_id), "old_role": old, "new_role": role},
        )
    return MemberRead(user_id=user.id, email=user.email, full_name=user.full_name, role=role)


async def revoke(*, session: AsyncSession, access: Access, user_id: uuid.UUID) -> None:
    """The owner removes a member; a member may remove themself (leave the document)."""
    leaving = user_id == access.actor.id
    if access.role != "owner" and not leaving:
        raise Forbidden("Only the owner manages who has access")
    if not await sharing_crud.delete_share(session=session, document_id=access.document.id, user_id=user_id):
        raise NotFound("Not a member of this document", code="member_not_found")
    await audit.record(
        session,
        "share.revoke",
        actor=access.actor,
        target=document_target(access.document.id),
        details={"user_id": str(user_id), "left": leaving},
    )


@dataclass(frozen=True, slots=True)
class NewLink:
    link: ShareLink
    token: str


async def create_link(
    *, session: AsyncSession, passwords: Passwords, access: Access, link_in: LinkCreate, now: datetime, limit: int
) -> NewLink:
    """A new link; Conflict `too_many_links` while the document has `limit` live ones (links cost
    their creator nothing, and each is one more door for guesses)."""
    if link_in.expires_at is not None and link_in.expires_at <= now:
        raise Invalid("expires_at must be in the future", code="validation_error")
    if await sharing_crud.count_live_links(session=session, document_id=access.document.id, now=now) >= limit:
        raise Conflict(
            f"This document already has {limit} live links: revoke one first", code="too_many_links", limit=limit
        )
    token = new_session_token()
    password_hash = await passwords.hash(link_in.password, anonymous=False) if link_in.password else None
    link = await sharing_crud.create_link(
        session=session,
        document_id=access.document.id,
        token_hash=token_digest(token) or "",
        password_hash=password_hash,
        expires_at=link_in.expires_at,
        created_by=access.actor.id,
        now=now,
    )
    await audit.record(
        session,
        "link.create",
        actor=access.actor,
        target=document_target(access.document.id),
        details={
            "link_id": str(link.id),
            "expires_at": link.expires_at.isoformat() if link.expires_at else None,
            "password": password_hash is not None,
        },
    )
    return NewLink(link=link, token=token)


async def revoke_link(*, session: AsyncSession, access: Access, link_id: uuid.UUID, now: datetime) -> None:
    if not await sharing_crud.revoke_link(session=session, document_id=access.document.id, link_id=link_id, now=now):
        raise NotFound("Link not found", code="link_not_found")
    await audit.record(
        session,
        "link.revoke",
        actor=access.actor,
        target=document_target(access.document.id),
        details={"link_id": str(link_id)},
    )


async def open_link(
    *,
    session: AsyncSession,
    db: Database,
    passwords: Passwords,
    throttle: AuthThrottle,
    token: str,
    password: str | None,
    ip: str | None,
    now: datetime,
    kind: str,
) -> Document:
    """The document behind a live link; NotFound for anything else (unknown, expired, revoked, trashed,
    wrong password), every refusal audited and counted against the client's IP; TooManyRequests while that IP
    is over its refusals, or the link is waiting out the delay after wrong passwords (audited as
    `link.throttled`)."""
    async with _throttled(session, db, None):
        await throttle.check_link_opener(ip=ip)
    token_hash = token_digest(token)
    found = None
    if token_hash:
        # Looked up in a transaction of its own, ended before the password is checked: the
        # request's session takes a pooled connection only afterwards, so a flood of guesses
        # waiting for the hashing threads holds none.
        async with db.unit_of_work(write=False) as lookup:
            found = await sharing_crud.get_link_by_token_hash(session=lookup, token_hash=token_hash)
    refusal = _refusal(found, now)
    if refusal is None and found is not None:
        async with _throttled(session, db, found):
            if not await _password_ok(passwords, throttle, found[0], password, ip):
                refusal = "wrong_password"
    if found is None or refusal is not None:
        target = document_target(found[1].id) if found else None
        details = {"reason": refusal or "unknown_token", **({"link_id": str(found[0].id)} if found else {})}
        audit.record_refusal(session, db, "link.access_denied", actor=None, target=target, details=details)
        await throttle.link_refused(ip=ip)
        raise NotFound("This link does not exist or no longer works", code="link_not_found")
    link, document = found
    link_id, document_id = link.id, document.id

    async def count_access() -> None:
        # After the request's read-only transaction, in one of its own (see documents.note_download).
        async with db.unit_of_work() as own:
            await sharing_crud.count_link_access(session=own, link_id=link_id, now=now)
            await audit.record(
                own,
                "link.access",
                actor=None,
                target=document_target(document_id),
                details={"link_id": str(link_id), "kind": kind},
            )

    after_finish(session, count_access)
    return document


@asynccontextmanager
async def _throttled(
    session: AsyncSession, db: Database, found: tuple[ShareLink, Document] | None
) -> AsyncIterator[None]:
    """A TooManyRequests from inside is audited as `link.throttled` (of the link, once it is known)."""
    try:
        yield
    except TooManyRequests:
        target = document_target(found[1].id) if found else None
        details = {"link_id": str(found[0].id)} if found else {}
        audit.record_refusal(session, db, "link.throttled", actor=None, target=target, details=details)
        raise


async def _password_ok(
    passwords: Passwords, throttle: AuthThrottle, link: ShareLink, password: str | None, ip: str | None
) -> bool:
    if link.password_hash is None:
        return True
    if not password:
        return False
    attempt = await throttle.begin_link_password(link_id=str(link.id), ip=ip)
    if not await passwords.verify(link.password_hash, password, anonymous=True):
        await attempt.failed()
        return False
    await attempt.succeeded()
    return True


def _refusal(found: tuple[ShareLink, Document] | None, now: datetime) -> str | None:
    if found is None:
        return None
    link, document = found
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    if document.trashed_at is not None:
        return "trashed"
    return None
