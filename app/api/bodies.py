"""Request bodies: which media types are JSON (one rule for every route, direct or not), the 415
for a JSON route sent anything else, and bodies that may come as JSON or as an HTML form (the
auth routes and a share link's password take both)."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from app.api.multipart import iter_multipart
from app.core.errors import BadRequest, UnsupportedMedia
from app.services.upload_parts import Field

M = TypeVar("M", bound=BaseModel)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Fields an OAuth2 password form may carry that mean nothing here.
_OAUTH2_FORM_EXTRAS = frozenset({"grant_type", "scope", "client_id", "client_secret"})
MAX_FORM_FIELDS = 20


def media_type_of(request: Request) -> str:
    """The Content-Type without its parameters, lower-cased (`""` if none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_json_media_type(media_type: str) -> bool:
    """`application/json` or `application/<anything>+json`: what FastAPI reads a body as JSON
    (its request handler; anything else reaches a model as raw bytes). A JSON route accepts
    exactly these, on FastAPI's path and on the direct one (app.api.direct_routes)."""
    maintype, _, subtype = media_type.partition("/")
    return maintype == "application" and "/" not in subtype and (subtype == "json" or subtype.endswith("+json"))


def has_body(request: Request) -> bool:
    return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers


async def require_json_body(request: Request) -> None:
    """A route that takes JSON refuses any other body type with 415 (not a confusing 422)."""
    if has_body(request) and not is_json_media_type(media_type_of(request)):
        raise UnsupportedMedia("Send the body as application/json")


JsonBody = Depends(require_json_body)


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    # ValueError covers JSONDecodeError, UnicodeDecodeError and integers over Python's 4 300
    # digits; RecursionError is a body nested too deep (`[[[[…`).
    except (ValueError, RecursionError) as exc:
        # 400, as FastAPI's routes answer an unreadable JSON body (app.api.errors).
        raise BadRequest(f"Malformed JSON body: {exc}") from None


async def _form_items(request: Request, media_type: str) -> list[tuple[str, Any]]:
    if media_type == "multipart/form-data":
        # Our streaming reader, not Starlette's form parser: that one decodes a part that is not
        # UTF-8 as Latin-1 (`z\xff@example.com` became an account for `zÿ@example.com`); ours
        # refuses it (422), as it does for uploads, and caps parts and field sizes the same way.
        items: list[tuple[str, Any]] = []
        async for part in iter_multipart(request):
            if not isinstance(part, Field):
                raise BadRequest("Files are not accepted here")
            items.append((part.name, part.value))
        return items
    # Parsed here rather than by Starlette, which reads raw (not %-encoded) bytes as Latin-1:
    # `curl -d 'full_name=राम'` must arrive as राम.
    try:
        body = (await request.body()).decode("utf-8")
        return parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestValidationError(
            [{"type": "form_invalid", "loc": ("body",), "msg": f"Malformed form body: {exc}", "input": None}]
        ) from None


async def _read_form(request: Request, media_type: str, *, username_is_email: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in await _form_items(request, media_type):
        if key in _OAUTH2_FORM_EXTRAS:
            continue
        if username_is_email and key == "username":
            key = "email"
        if key in data:
            raise RequestValidationError(
                [{"type": "duplicate_field", "loc": ("body", key), "msg": "Field given more than once", "input": None}]
            )
        data[key] = value
    return data


async def parse_json_or_form(request: Request, model: type[M], *, username_is_email: bool = False) -> M:
    media_type = media_type_of(request)
    if is_json_media_type(media_type):
        data = await _read_json(request)
    elif media_type in _FORM_TYPES:
        data = await _read_form(request, media_type, username_is_email=username_is_email)
    else:
        raise UnsupportedMedia("Send the body as application/json or application/x-www-form-urlencoded")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False, include_input=False)]
        raise RequestValidationError(errors) from None


def json_or_form_openapi(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` declaring both body encodings for a route that parses its own body."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    }
