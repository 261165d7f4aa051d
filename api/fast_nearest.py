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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import Services, parse_nearest
from api.params import RawQuery
from api.routes.stations import NEAREST, straight_answer

# FastAPI's native telemetry (0.16x; on when an OpenTelemetry provider is configured)
# names the route of a request (http.route) this way, as its router would.
_name_route: Callable[..., None] | None
try:
    from fastapi.telemetry._api import _route_selected as _name_route
except ImportError:  # pragma: no cover - a FastAPI without it: nothing to name
    _name_route = None

PATH = "/v1/stations/nearest"


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
        try:
            q = NEAREST.parse(RawQuery(scope["query_string"]))
            services: Services = app.state.services
            index = services.index.current()
            query = parse_nearest(q)
            by_route = query.travel is not None
            if not by_route:
                body, media_type = straight_answer(app, index, query, q["f"])
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
        if by_route:  # the FastAPI route's (in a worker thread), outside the try above
            await self.app(scope, receive, send)
            return
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
