"""The rider's hot path: ``GET /v1/stations/nearest`` by the straight line, as plain ASGI.

Through FastAPI a nearest answer spent about 42 % of its time in the framework (routing,
dependencies, response building: issue 18, plan B part 3). :class:`FastNearest` sits in
the middleware stack ahead of the router and answers that one request itself, with the
route's own parts: the parameters of ``NEAREST`` (api/params.py), the checks of
``parse_nearest``, the index of ``IndexHolder.current`` and the body of
:func:`api.routes.stations.straight_answer`. Everything else goes on to the router, the
FastAPI route included, which stays declared for /openapi.json and answers HEAD and
``travel=walk|ebike`` (that request is parsed again there: a few microseconds beside a
route search).

What wraps a request wraps this one too: it runs inside FastAPI's ServerErrorMiddleware
(an unexpected error: 500 problem+json, logged) and its telemetry (the route is named
as the router would). An error the app has a handler for (:func:`api.problems.install`:
``Problem``, ``StoreError``, ...) is answered by that same handler, so errors keep
their codes, texts and headers. The answer's headers are the route's
(``content-length``, ``content-type``); the server adds its own.

The app itself is a :class:`NearestFirstAPI`, which answers that request in the same way
before its middleware stack (Starlette's entry, ServerErrorMiddleware, FastAPI's exception
telemetry and body limit, this dispatch: 7-18 µs of a request's 150-210 µs of CPU in
process, measured for issue 18, "The rider's hot path"), as long as nothing in the stack
would act on it: without an error, and with the telemetry off. Anything else goes down
the stack to :class:`FastNearest` and on. tests/api/test_nearest_first.py compares the
three ways byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from fastapi import FastAPI
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import Services, parse_nearest
from api.params import RawQuery
from api.routes.stations import NEAREST, straight_answer
from stations.readmodel.index import StationIndex

# FastAPI's native telemetry (0.16x; on when an OpenTelemetry provider is configured)
# names the route of a request (http.route) this way, as its router would.
_name_route: Callable[..., None] | None
try:
    from fastapi.telemetry._api import _route_selected as _name_route
except ImportError:  # pragma: no cover - a FastAPI without it: nothing to name
    _name_route = None

PATH = "/v1/stations/nearest"

T = TypeVar("T")


class PerTurn(Generic[T]):
    """``compute()``'s value, asked once per turn of the running event loop: kept for the
    callbacks queued before it was computed, forgotten by the one it queues then.

    Why that is as good as asking for each request: every callback the loop runs before
    that one was queued before the value was computed, so a request served by one of them
    had been read before then, and anything that changed before it was read (a write in
    another process, the telemetry switched on) is in the value; a request read later is
    queued after that callback and computes it again. Under load a turn serves several
    requests, and each of them skips what it costs to ask (the SQLite data version ~5 µs,
    FastAPI's telemetry switch 5-8 µs). Outside a running loop: computed every time. An
    error is raised, never kept."""

    __slots__ = ("_compute", "_kept")

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._kept: tuple[asyncio.AbstractEventLoop, T] | None = None  # one atomic read

    def get(self) -> T:
        """The value, as of a moment after the caller's request was read."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._compute()
        kept = self._kept
        if kept is not None and kept[0] is loop:
            return kept[1]
        value = self._compute()
        self._kept = (loop, value)
        loop.call_soon(self._forget)
        return value

    def _forget(self) -> None:
        self._kept = None  # another loop's value too: it is only computed again


class NearestFirstAPI(FastAPI):
    """The app: a FastAPI that answers a plain nearest request (``GET`` :data:`PATH` by the
    straight line, with no error) before its middleware stack, and hands it everything
    else (see the module).

    The stack adds nothing to such an answer: ServerErrorMiddleware and FastAPI's
    exception telemetry act only on an error, its body limit only on a body (and there is
    none: ``max_body_size``), and the app's own middleware (api/app.py) answers this path
    with :class:`FastNearest` before the others see it. So this lane answers only while
    that holds: FastNearest is in the stack (tests and bench/http_api.py take it out to
    compare with the FastAPI route), FastAPI has no body limit and no ``root_path``, and
    its native telemetry is off (when on, it records each request around the stack: the
    request goes through it; a FastAPI without it: the lane is off). An error found here
    is not answered here: the request goes down the stack with it, and
    :class:`FastNearest` raises it where it would have met it (each of its handlers, the
    500 and its log as before), without asking the database a second time; one by route
    goes to the FastAPI route, as from FastNearest.
    """

    nearest_first = True  # False (before the first request): every request down the stack
    # Whether FastAPI's native telemetry is on, once per turn (None: the lane is off); set
    # with the stack.
    _lane_telemetry: PerTurn[bool] | None = None
    # The index of ``state.services``, once per turn (see PerTurn): set with the stack.
    lane_index: PerTurn[StationIndex] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        telemetry = getattr(self, "_native_telemetry", None)  # FastAPI 0.16x's
        lane = (
            self.nearest_first
            and getattr(self, "max_body_size", None) is None
            and any(m.cls is FastNearest for m in self.user_middleware)
        )
        self._lane_telemetry = None
        if lane and telemetry is not None and hasattr(telemetry, "enabled"):
            # Asked by name at each call: a test may patch it.
            self._lane_telemetry = PerTurn(lambda: bool(telemetry.enabled()))
        self.lane_index = PerTurn(lambda: self.state.services.index.current())
        return super().build_middleware_stack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "GET"
            and (telemetry := self._lane_telemetry) is not None
            and not self.root_path
            and "fastapi.telemetry" not in scope
            and not telemetry.get()
        ):
            scope["app"] = self  # as Starlette sets it, for the stack if it goes on there
            try:
                answer = _answer(self, scope)
            except Exception as exc:
                scope[_FOUND] = exc
            else:
                if answer is not None:
                    await _send_answer(send, *answer)
                    return
                scope[_FOUND] = _BY_ROUTE
        await super().__call__(scope, receive, send)


class FastNearest:
    """Pure ASGI middleware answering ``GET`` :data:`PATH` by the straight line (see the
    module); ``app`` gets every other request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if "fastapi.telemetry" in scope and _name_route is not None:
            _name_route(scope=scope, path=PATH)
        app = scope["app"]
        found = scope.pop(_FOUND, None)  # by NearestFirstAPI, ahead of the stack
        try:
            if isinstance(found, Exception):
                raise found
            answer = None if found is _BY_ROUTE else _answer(app, scope)
        except Exception as exc:
            handler = _handler(app, exc)
            if handler is None:
                raise  # to ServerErrorMiddleware, as from the route
            request = Request(scope, receive)
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            await response(scope, receive, send)
            return
        if answer is None:  # by route: the FastAPI route's (in a worker thread)
            await self.app(scope, receive, send)
            return
        await _send_answer(send, *answer)


# What NearestFirstAPI found a request to be, for FastNearest (a scope key): the error to
# raise, or _BY_ROUTE.
_FOUND = "yizhan.nearest_found"
_BY_ROUTE = object()


def _answer(app: Any, scope: Scope) -> tuple[bytes, str] | None:
    """The body and media type of the answer to a ``GET`` :data:`PATH` by the straight
    line; None for one by route (``travel=walk|ebike``: the FastAPI route's)."""
    q = NEAREST.parse(RawQuery(scope["query_string"]))
    lane_index: PerTurn[StationIndex] | None = getattr(app, "lane_index", None)
    if lane_index is None:  # an app of FastNearest's alone
        services: Services = app.state.services
        index = services.index.current()
    else:
        index = lane_index.get()
    query = parse_nearest(q)
    if query.travel is not None:
        return None
    return straight_answer(app, index, query, q["f"])


async def _send_answer(send: Send, body: bytes, media_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", media_type.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _handler(app: Any, exc: Exception) -> Any:
    """The app's handler of ``exc`` as its ExceptionMiddleware would choose it (the most
    specific class first); None for the catch-all, which ServerErrorMiddleware runs."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
