"""The busiest routes, answered without FastAPI's router and dependency solver.

FastAPI 0.165 matches a request against the routes twice on its way down (to pick the router,
then inside it) and solves each dependency and parameter in a step of its own: measured in
process, `GET /documents/{id}` cost 370-400 µs of CPU through it and 220 µs answered here by the
same code. So a few routes that every page view calls are answered by this layer, the innermost
middleware, with the same functions their FastAPI route calls and the same error responses
(the app's handlers' for AppError and HTTPException, a 500 from CatchAllMiddleware for the rest).

Each stays a FastAPI route: the OpenAPI schema is FastAPI's, and so is the answer to any request
this layer passes on (with whatever of its body was read replayed): a path parameter not in the
route's shape (`/documents/recent` is another route's), input that does not validate, or a body
FastAPI would read differently; each answer function says which. The layer matches the path as
Starlette's router does (under the app's `root_path`). tests/test_hot_routes.py checks that both
paths give the same status, headers and body.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from os.path import commonpath

from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import app_error_response, http_error_response
from app.core.errors import AppError

# None: this layer does not answer (the request goes on to FastAPI).
Answer = Callable[[Request, Mapping[str, str]], Awaitable[Response | None]]
UUID_SEGMENT = "[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class HotRoute:
    """`route` (a FastAPI route under `prefix`) answered by `answer`; each path parameter must
    match its pattern in `params` (a segment that does not goes on to FastAPI)."""

    route: APIRoute
    answer: Answer
    prefix: str = ""
    params: Mapping[str, str] | None = None

    @property
    def method(self) -> str:
        (method,) = self.route.methods
        return method

    def pattern(self) -> re.Pattern[str]:
        params = self.params or {}
        parts = _PARAM.split(self.prefix + self.route.path)
        # split() alternates literal text and parameter names: text, name, text, ...
        missing = set(parts[1::2]) - set(params)
        if missing:
            raise ValueError(f"{self.route.path}: no pattern for {', '.join(sorted(missing))}")
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{params[part]})" for i, part in enumerate(parts)
        )
        return re.compile(regex)


def route_of(router_routes: Iterable[object], endpoint: Callable[..., object]) -> APIRoute:
    """The APIRoute whose endpoint is `endpoint`."""
    for route in router_routes:
        if isinstance(route, APIRoute) and route.endpoint is endpoint:
            return route
    raise LookupError(f"no route for {endpoint.__qualname__}")


class HotRoutesMiddleware:
    """Answers the hot routes (see the module's docstring); everything else goes on to `app`."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[HotRoute]) -> None:
        self.app = app
        self.by_method: dict[str, list[tuple[re.Pattern[str], HotRoute]]] = {}
        literals = []
        for hot in routes:
            self.by_method.setdefault(hot.method, []).append((hot.pattern(), hot))
            literals.append((hot.prefix + hot.route.path).split("{", 1)[0])
        # What every hot path starts with (`/api/v1`): the other requests pass on after one look.
        self.common = commonpath(literals) if literals else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.common in scope["path"]:
            path = get_route_path(scope)
            for pattern, hot in self.by_method.get(scope["method"], ()):
                match = pattern.fullmatch(path)
                if match is not None:
                    params, recorded = match.groupdict(), _Recorded(receive)
                    # What FastAPI's routing puts in the scope before the endpoint runs, for the
                    # log line and metrics (a 500 included).
                    scope["route"], scope["path_params"] = hot.route, params
                    response = await self._answer(hot, Request(scope, recorded), params)
                    if response is not None:
                        await response(scope, receive, send)
                        return
                    del scope["route"], scope["path_params"]
                    receive = recorded.replay()
                    break
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(hot: HotRoute, request: Request, params: dict[str, str]) -> Response | None:
        try:
            return await hot.answer(request, params)
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
