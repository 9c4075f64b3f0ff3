"""JSON bodies written straight from rows, for the busiest routes: the document list, a document
and a new one (orjson); and `model_response`, a model written without FastAPI validating it again.

FastAPI's response-model path builds a model per row, validates it again and serializes it
through pydantic-core: work these routes need not repeat on every request, since their rows are
already what the model holds (figures in docs/benchmarks.md). The routes keep their
`response_model` for OpenAPI; each body is what that model would serialize to (fields in its
order, UTC as `Z`), as tests check byte for byte on both engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from fastapi import Response
from pydantic import BaseModel
from starlette.background import BackgroundTask


class ByName(Protocol):
    """A row read by column name: a RowMapping, or an asyncpg Record (which is no Mapping)."""

    def __getitem__(self, key: str, /) -> Any: ...


def _other(value: Any) -> str:
    """What orjson does not know: asyncpg's own UUID type (a `uuid.UUID` subclass)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_other, option=orjson.OPT_UTC_Z)


def page_response(rows: Iterable[ByName], fields: tuple[str, ...], *, total: int, limit: int, offset: int) -> Response:
    """`Page` of `rows`, each as its `fields` (a model's, in order), as JSON."""
    items = [{name: row[name] for name in fields} for row in rows]
    return object_response({"items": items, "total": total, "limit": limit, "offset": offset})


def object_response(
    value: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """`value` (a model's fields, in its order) as JSON; then `background`, once it is sent."""
    return Response(
        _dumps(value), status_code=status_code, media_type="application/json", headers=headers, background=background
    )


def model_response(model: BaseModel) -> Response:
    """`model` as JSON, as its response model would write it."""
    return Response(model.__pydantic_serializer__.to_json(model), media_type="application/json")
