from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from app.schemas.common import InputModel
from app.schemas.password_rules import password_refusal
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

    @field_validator("password")
    @classmethod
    def _not_the_email(cls, value: str, info: ValidationInfo) -> str:
        # `email` is validated first: absent here when it was refused.
        refusal = password_refusal(value, email=info.data.get("email"))
        if refusal is not None:
            raise PydanticCustomError(refusal.code, refusal.message)
        return value


class LoginIn(InputModel):
    email: LoginEmail
    # Any length is checked against the hash (a wrong password is a 401, not a 422).
    password: Annotated[str, Field(max_length=1024), AfterValidator(valid_unicode)]


class PasswordChange(InputModel):
    current_password: Annotated[str, Field(max_length=1024), AfterValidator(valid_unicode)]
    new_password: Password


class SessionRead(BaseModel):
    """A signed-in browser; `id` is an opaque handle, never the token."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool = False


class AuthState(BaseModel):
    authenticated: bool
    user: UserRead | None
