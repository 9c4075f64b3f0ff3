"""The audit trail. `record` writes in the caller's transaction, so an event exists exactly when
the change it describes does; `record_refusal` writes in a short transaction of its own once the
caller's has ended, for refused or failed actions whose request rolls back (a failed login, a
rejected upload); `record_alone` does that outside any request.

Client address and user agent come from the request being served (set by the request middleware);
the worker records with neither. Details never hold passwords or tokens.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import audit as audit_crud
from app.db.session import Database, after_finish
from app.models import AuditEvent
from app.models.base import utcnow

log = logging.getLogger("lekhamudra.audit")


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Actor:
    id: uuid.UUID
    email: str


request_origin: ContextVar[RequestOrigin | None] = ContextVar("request_origin", default=None)


def event_values(
    action: str,
    *,
    actor: Actor | None,
    target: tuple[str, uuid.UUID | str] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event of the request being served, as its columns' values (all but the id): for a
    statement that writes it (app.crud.document's), with no ORM instance to build."""
    origin = request_origin.get()
    return {
        "occurred_at": utcnow(),
        "actor_id": actor.id if actor else None,
        "actor_email": actor.email if actor else None,
        "action": action,
        "target_type": target[0] if target else None,
        "target_id": str(target[1]) if target else None,
        "ip": origin.ip if origin else None,
        "user_agent": (origin.user_agent or "")[:512] or None if origin else None,
        "details": details or {},
    }


def new_event(
    action: str,
    *,
    actor: Actor | None,
    target: tuple[str, uuid.UUID | str] | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event of the request being served (not yet added anywhere)."""
    return AuditEvent(**event_values(action, actor=actor, target=target, details=details))


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Actor | None,
    target: tuple[str, uuid.UUID | str] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await audit_crud.add_event(session=session, event=new_event(action, actor=actor, target=target, details=details))


async def record_alone(
    db: Database,
    action: str,
    *,
    actor: Actor | None,
    target: tuple[str, uuid.UUID | str] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    try:
        async with db.unit_of_work() as session:
            await audit_crud.add_event(
                session=session, event=new_event(action, actor=actor, target=target, details=details)
            )
    except Exception:  # the refusal still stands; a lost event must not turn it into a 500
        log.exception("could not record audit event %s", action)


def record_refusal(
    session: AsyncSession,
    db: Database,
    action: str,
    *,
    actor: Actor | None,
    target: tuple[str, uuid.UUID | str] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    event = new_event(
        action, actor=actor, target=target, details=details
    )  # built now, while the request's origin is known

    async def write() -> None:
        try:
            async with db.unit_of_work() as own:
                await audit_crud.add_event(session=own, event=event)
        except Exception:
            log.exception("could not record audit event %s", action)

    after_finish(session, write)


def document_target(document_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("document", document_id)
