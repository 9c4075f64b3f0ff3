from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.schemas.common import InputModel
from app.schemas.types import Email, FullName, LoginEmail, Password, valid_unicode


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
    password: Annotated[str, Field(max_length=1024), AfterValidator(valid_unicode)]


class AuthState(BaseModel):
    authenticated: bool
    user: UserRead | None
