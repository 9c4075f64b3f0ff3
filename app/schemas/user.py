from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import InputModel
from app.schemas.types import Email, FullName, LoginEmail, Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    created_at: datetime


class UserCreate(InputModel):
    email: Email
    password: Password
    full_name: FullName = None


class LoginIn(InputModel):
    email: LoginEmail
    # Any length is checked against the hash (a wrong password is a 401, not a 422).
    password: str = Field(max_length=1024)


class AuthState(BaseModel):
    authenticated: bool
    user: UserRead | None
