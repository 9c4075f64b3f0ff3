"""What the app holds for every request (app.state), and the request's unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import Passwords
from app.core.signing import DeviceCookies
from app.db.session import Database
from app.services.sessions import ClientInfo, SessionPolicy
from app.services.throttle import AuthThrottle
from app.storage import Storage
from app.worker.queue import Queue

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage


async def get_queue(request: Request) -> Queue:
    return request.app.state.queue


async def get_installed_languages(request: Request) -> list[str]:
    return request.app.state.installed_languages


async def get_policy(request: Request) -> SessionPolicy:
    return request.app.state.session_policy


async def get_throttle(request: Request) -> AuthThrottle:
    return request.app.state.throttle


async def get_device_cookies(request: Request) -> DeviceCookies:
    return request.app.state.device_cookies


async def get_now(request: Request) -> datetime:
    return request.app.state.clock()


async def get_session(request: Request, db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[AsyncSession]:
    """The request's one unit of work: commits before the response is sent, rolls back on error."""
    async with db.unit_of_work(write=request.method not in _SAFE_METHODS) as session:
        yield session


async def get_read_session(db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[AsyncSession]:
    """A unit of work that only reads, whatever the method: a POST that carries a share link's
    password changes nothing, and on SQLite a write transaction would hold the database's write
    lock while the password is checked."""
    async with db.unit_of_work(write=False) as session:
        yield session


async def get_client(request: Request) -> ClientInfo:
    return ClientInfo(
        user_agent=request.headers.get("user-agent"),
        ip=request.client.host if request.client else None,
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
StorageDep = Annotated[Storage, Depends(get_storage)]
QueueDep = Annotated[Queue, Depends(get_queue)]
InstalledLanguagesDep = Annotated[list[str], Depends(get_installed_languages)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
NowDep = Annotated[datetime, Depends(get_now)]
# scope="function": commit happens before the response goes out, so a failed commit is an error
# response rather than a success the client already saw.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
ClientDep = Annotated[ClientInfo, Depends(get_client)]
PolicyDep = Annotated[SessionPolicy, Depends(get_policy)]
ThrottleDep = Annotated[AuthThrottle, Depends(get_throttle)]
DeviceCookiesDep = Annotated[DeviceCookies, Depends(get_device_cookies)]
# A create's key: a retry with the same one gets the first answer (app.services.idempotency).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
