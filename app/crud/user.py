"""Users: data access only."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.emails import email_key
from app.core.errors import Conflict
from app.models import User


async def get_user_by_email(*, session: AsyncSession, email: str) -> User | None:
    """The account `email` names, in any spelling that has its key (app.core.emails)."""
    return await session.scalar(select(User).where(User.email_key == email_key(email)))


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def set_password_hash(*, session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


async def create_user(*, session: AsyncSession, email: str, password_hash: str, full_name: str | None) -> User:
    """`email` is kept as given; another account with the same key is a Conflict."""
    user = User(email=email, password_hash=password_hash, full_name=full_name)
    session.add(user)
    try:
        # A savepoint keeps the request's transaction usable when the email is taken.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("An account with this email already exists", code="email_taken") from None
    return user
