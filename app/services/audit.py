"""The audit trail. `record` writes in the caller's transaction, so an event exists exactly when
the change it describes does; `record_refusal` writes in a short transaction of its own once the
caller's has ended, for refused or failed actions whose request rolls back (a failed login, a
refused share-link open); `record_alone` does that outside any request.

Refusals can be had by the thousand for nothing (random link tokens, wrong passwords), so the
repeats of one are one row: the same action, client IP, actor, target and details within one
minute add to the first row's `count`. Rows grow with the kinds of refusal, not their number.

Client address and user agent come from the request being served (set by the request middleware);
the worker records with neither. Details never hold passwords or tokens.
"""

from __future__ import annotations

import hashlib
import json
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
    sample: dict[str, Any] | None = None,
) -> None:
    """Record a refused action once the request has ended, as one more of its minute's repeats.
    `sample` holds what varies between repeats without making them different refusals (the
    email a stranger tried): the row keeps the first one's."""
    # Built now, while the request's origin is known.
    values = event_values(action, actor=actor, target=target, details={**(details or {}), **(sample or {})})
    key = refusal_key(values, details or {})

    async def write() -> None:
        try:
            async with db.unit_of_work() as own:
                await audit_crud.add_refusal(session=own, values=values, key=key)
        except Exception:
            log.exception("could not record audit event %s", action)

    after_finish(session, write)


def refusal_key(values: dict[str, Any], details: dict[str, Any]) -> str:
    """What makes two refusals repeats of one: action, client IP, minute, actor, target, details."""
    minute = values["occurred_at"].replace(second=0, microsecond=0).isoformat()
    parts = [values[k] for k in ("action", "ip", "actor_id", "target_type", "target_id")]
    return hashlib.sha256(json.dumps([minute, *parts, details], sort_keys=True, default=str).encode()).hexdigest()


def document_target(document_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("document", document_id)
