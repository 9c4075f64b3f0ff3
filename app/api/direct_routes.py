"""The busiest routes, answered without FastAPI's router and dependency solver.

FastAPI matches a request against the routes on its way down to pick the router, then again
inside it, and solves each dependency and parameter in a step of its own; for a route every page
view calls, that is most of its CPU (docs/benchmarks.md). So a few routes are answered by this
layer, the innermost middleware, with the same functions their FastAPI route calls and the same
error responses (the app's handlers' for AppError and HTTPException, a 500 from
CatchAllMiddleware for the rest).

Each stays a FastAPI route: the OpenAPI schema is FastAPI's, and so is the answer to any request
this layer passes on (with whatever of its body was read replayed): a path parameter not in the
route's shape (`/documents/recent` is another route's), input that does not validate, or a body
FastAPI would read differently; each answer function says which. The layer matches a request with
the app's own route (FastAPI's matching, under the app's `root_path`).

What keeps the two from drifting: each `DirectRoute` lists, in `reproduces`, the parameters and
dependencies its answer gives the endpoint, written as `needs_of` writes a FastAPI route's
`dependant`; `bind` (called as the app is made) refuses a route whose dependant says otherwise,
naming the difference. tests/test_direct_routes.py checks that both paths give the same status,
headers and body.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os.path import commonpath
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import app_error_response, http_error_response
from app.core.errors import AppError

# None: this layer does not answer (the request goes on to FastAPI).
Answer = Callable[[Request, Mapping[str, str]], Awaitable[Response | None]]
UUID_SEGMENT = "[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"
# A need: (kind, name). Kinds: path, query, header, cookie, body (name: type), depends (the
# function and, in brackets, its own needs), special (Request, Response... passed as they are).
Need = tuple[str, str]


@dataclass(frozen=True)
class DirectRoute:
    """The FastAPI route of `endpoint`, answered by `answer`, which gives the endpoint what
    `reproduces` lists; each path parameter must match its pattern in `params` (a segment that
    does not goes on to FastAPI)."""

    endpoint: Callable[..., object]
    answer: Answer
    reproduces: tuple[Need, ...]
    params: Mapping[str, str] = field(default_factory=dict)


class DirectRouteDrift(RuntimeError):
    """A direct route's FastAPI route takes other parameters or dependencies than it declares."""


_PARAMS = (
    ("path", "path_params"),
    ("query", "query_params"),
    ("header", "header_params"),
    ("cookie", "cookie_params"),
    ("body", "body_params"),
)
_SPECIALS = (
    ("Request", "request_param_name"),
    ("Response", "response_param_name"),
    ("WebSocket", "websocket_param_name"),
    ("HTTPConnection", "http_connection_param_name"),
    ("BackgroundTasks", "background_tasks_param_name"),
    ("SecurityScopes", "security_scopes_param_name"),
)


def _type_name(annotation: Any) -> str:
    return annotation.__qualname__ if isinstance(annotation, type) else repr(annotation).replace("typing.", "")


def _call_name(call: Callable[..., Any] | None) -> str:
    return getattr(call, "__qualname__", type(call).__qualname__)


def _render(need: Need) -> str:
    kind, name = need
    return name if kind == "special" else f"{kind} {name}"


def needs_of(dependant: Dependant) -> tuple[Need, ...]:
    """What FastAPI gives the endpoint (or dependency) of `dependant`, sorted: each parameter by
    where it is read (under its alias, with its type), each dependency by its function and its
    own needs (in brackets, in alphabetical order), a route's `dependencies=[...]` included."""
    needs = [
        (kind, f"{param.alias}: {_type_name(param.field_info.annotation)}")
        for kind, attribute in _PARAMS
        for param in getattr(dependant, attribute)
    ]
    needs += [("special", name) for name, attribute in _SPECIALS if getattr(dependant, attribute) is not None]
    needs += [
        ("depends", f"{_call_name(sub.call)}({', '.join(sorted(map(_render, needs_of(sub))))})")
        for sub in dependant.dependencies
    ]
    return tuple(sorted(needs))


@dataclass(frozen=True)
class BoundRoute:
    """A direct route with the app's own route for it."""

    direct: DirectRoute
    route: BaseRoute  # what FastAPI puts in the scope as "route"
    path: str
    method: str
    matches: Callable[[Scope], tuple[Match, Scope]]
    params: tuple[tuple[str, re.Pattern[str]], ...]


def bind(routes: Sequence[BaseRoute], direct_routes: Iterable[DirectRoute]) -> tuple[BoundRoute, ...]:
    """Each direct route with its route among the app's `routes`; DirectRouteDrift if that route's
    parameters and dependencies are not the ones the direct route declares."""
    contexts = list(iter_route_contexts(routes))
    return tuple(_bind(contexts, direct) for direct in direct_routes)


def _bind(contexts: list[RouteContext], direct: DirectRoute) -> BoundRoute:
    found = [context for context in contexts if context.endpoint is direct.endpoint]
    if len(found) != 1:
        raise LookupError(f"{direct.endpoint.__qualname__}: {len(found)} routes, expected one")
    (context,) = found
    path, (method,) = context.path or "", context.methods or {""}
    label = f"{method} {path}"
    actual, declared = needs_of(context.dependant), tuple(sorted(direct.reproduces))
    if actual != declared:
        lines = [f"{label}: its FastAPI route and {direct.answer.__qualname__} (a direct route) differ;"]
        lines += [f"  the route takes {_render(need)}, not reproduced" for need in sorted(set(actual) - set(declared))]
        lines += [f"  declared {_render(need)}, not in the route" for need in sorted(set(declared) - set(actual))]
        lines.append("Give the direct answer what the route now takes, then change its `reproduces`.")
        raise DirectRouteDrift("\n".join(lines))
    unknown = set(direct.params) - set(context.param_convertors)
    if unknown:
        raise LookupError(f"{label}: no path parameter {', '.join(sorted(unknown))}")
    params = tuple((name, re.compile(pattern)) for name, pattern in direct.params.items())
    return BoundRoute(direct, context.route, path, method, context.matches, params)


class DirectRoutesMiddleware:
    """Answers the direct routes (see the module's docstring); everything else goes on to `app`."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[BoundRoute]) -> None:
        self.app = app
        self.by_method: dict[str, list[BoundRoute]] = {}
        literals = []
        for bound in routes:
            self.by_method.setdefault(bound.method, []).append(bound)
            literals.append(bound.path.split("{", 1)[0])
        # What every direct path starts with (`/api/v1`): the other requests pass on after one look.
        self.common = commonpath(literals) if literals else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.common in scope["path"]:
            for bound in self.by_method.get(scope["method"], ()):
                match, child_scope = bound.matches(scope)
                if match is not Match.FULL:
                    continue
                params = child_scope["path_params"]
                if any(pattern.fullmatch(params[name]) is None for name, pattern in bound.params):
                    continue
                recorded = _Recorded(receive)
                # What FastAPI's routing puts in the scope before the endpoint runs, for the log
                # line and metrics (a 500 included).
                scope["route"], scope["path_params"] = bound.route, params
                response = await self._answer(bound.direct, Request(scope, recorded), params)
                if response is not None:
                    await response(scope, receive, send)
                    return
                del scope["route"], scope["path_params"]
                receive = recorded.replay()
                break
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(direct: DirectRoute, request: Request, params: dict[str, str]) -> Response | None:
        try:
            return await direct.answer(request, params)
        except AppError as exc:
            return app_error_response(exc)
        except HTTPException as exc:  # BodyLimitMiddleware's 413, raised as the body streams in
            return http_error_response(exc)


class _Recorded:
    """A `receive` that keeps what it was given, so a request passed on gets its body again."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.messages: list[Message] = []

    async def __call__(self) -> Message:
        message = await self.receive()
        self.messages.append(message)
        return message

    def replay(self) -> Receive:
        pending = list(self.messages)

        async def receive() -> Message:
            return pending.pop(0) if pending else await self.receive()

        return receive
