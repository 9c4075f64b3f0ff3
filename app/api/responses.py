"""A JSON body written straight from rows, for the busiest list (orjson).

FastAPI's response-model path builds a model per row, validates the page again and serializes it
through pydantic-core: for a page of 20 document summaries 62 µs of CPU, where orjson writes the
same bytes from the rows' values in 10 µs. The route keeps its `response_model` for OpenAPI;
the body is what that model would serialize to (fields in its order, UTC as `Z`), as a test
checks byte for byte on both engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel


def _other(value: Any) -> str:
    """What orjson does not know: asyncpg's own UUID type (a `uuid.UUID` subclass)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def fields_of(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_other, option=orjson.OPT_UTC_Z)


def page_response(
    rows: Iterable[Mapping[str, Any]], fields: tuple[str, ...], *, total: int, limit: int, offset: int
) -> Response:
    """`Page` of `rows`, each as its `fields` (a model's, in order), as JSON."""
    items = [{name: row[name] for name in fields} for row in rows]
    return object_response({"items": items, "total": total, "limit": limit, "offset": offset})


def object_response(value: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    """`value` (a model's fields, in its order) as JSON."""
    return Response(_dumps(value), media_type="application/json", headers=headers)
