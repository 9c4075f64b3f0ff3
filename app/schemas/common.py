from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused, so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """The one error shape. Some errors add fields (e.g. `current_version`, `errors`)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    code: str


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations for the error statuses a route can return."""
    return {code: {"model": ErrorOut} for code in codes}
