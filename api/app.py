"""The application factory: nothing is created at import time."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.responses import Response

from api import docs_pages, problem_docs, problems
from api.auth import failure_limiter
from api.deps import Services, ServicesDep
from api.limits import BodySizeLimit
from api.routes import feedback as routes_feedback
from api.routes import maps as routes_maps
from api.routes import ogc as routes_ogc
from api.routes import planners as routes_planners
from api.routes import rider as routes_rider
from api.routes import stations as routes_stations
from api.routes import writes as routes_writes
from geodata import workdays
from geodata.crs import load_shift_area
from geodata.districts import Districts, load_districts
from geodata.hours import TZ
from stations.config import Settings
from stations.domain.errors import DatabaseUnavailableError
from stations.readmodel.index import IndexHolder
from stations.storage.open import open_store
from stations.storage.store import Store

log = logging.getLogger("yizhan.api")

DESCRIPTION = """
The open registry of trade-union rest stations (工会驿站).

* **Riders**: the phone page at `/app` (and `/` in a browser); `GET /v1/stations/nearest` —
  the nearest stations open now, with distance, amenities, how to get in and navigation
  links; `POST /v1/stations/{id}/feedback` to report a problem at a station.
* **Integrators and GIS**: `GET /v1/stations`, and OGC API – Features at `/collections`.
* Positions: WGS-84 by default; `crs=gcj02` (Amap, Tencent) or `crs=bd09` (Baidu) in and out.
* Times: Asia/Shanghai, with China's public holidays and make-up working days.
* Errors: `application/problem+json` (RFC 9457) with a stable `type` per error.
"""


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    districts: Districts | None = None,
) -> FastAPI:
    """Build the app on ``store`` (default: the one ``settings`` names)."""
    settings = settings or Settings()
    # A server starts even while its database cannot be reached (answering 503 meanwhile).
    store = store or open_store(
        settings.database_url, timeouts=settings.timeouts, start_unavailable=True
    )
    districts = districts or load_districts(settings.districts_source)
    load_shift_area()  # where GCJ-02 applies: read once at start, not in the first request
    services = Services(
        settings=settings,
        store=store,
        districts=districts,
        index=IndexHolder(
            store,
            threshold_m=settings.precise_threshold_m,
            check_interval_s=settings.index_check_interval_s,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.warm_start:
            app.state.warmer = start_warming(app)
        yield
        warmer: Warmer | None = getattr(app.state, "warmer", None)
        if warmer is not None:  # it uses the store: done with it before the store closes
            warmer.stop()
        services.index.close()  # the index watcher thread, if any

    app = FastAPI(
        lifespan=lifespan,
        title="yizhan 驿站",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,  # docs_pages: the same pages, their scripts from a package, not a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "stations", "description": "Stations for riders and integrators"},
            {"name": "writes", "description": "For unions, with a bearer token"},
            {"name": "feedback", "description": "Riders report problems; unions resolve them"},
            {"name": "rider", "description": "The rider's phone page (HTML)"},
            {"name": "planners", "description": "Figures per district, targets, progress"},
            {"name": "OGC API – Features", "description": "For GIS clients (QGIS, GDAL)"},
            {"name": "service", "description": "Health and problem types"},
        ],
    )
    app.state.services = services

    def make_limiter() -> Any:
        return failure_limiter(
            store,
            limit=settings.auth_failures_per_minute,
            max_clients=settings.auth_failure_clients_max,
        )

    try:
        app.state.auth_limiter = make_limiter()
    except DatabaseUnavailableError:  # made at its first use, once the database answers
        app.state.auth_limiter = _Deferred(make_limiter)
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.include_router(routes_stations.router)
    app.include_router(routes_writes.router)
    app.include_router(routes_feedback.router)
    app.include_router(routes_planners.router)
    app.include_router(routes_maps.router)
    app.include_router(routes_ogc.router)
    app.include_router(routes_rider.router)
    app.include_router(docs_pages.router)

    @app.get(
        "/healthz",
        tags=["service"],
        summary="Liveness, registry version and holiday calendar, for load balancers",
        description=(
            "200 while this worker can answer from a current registry; 503 "
            "/problems/database_unavailable while its database cannot be reached. "
            "`holiday_calendar` says until which year China's official calendar is known "
            "(a warning when the next year is not yet)"
        ),
    )
    def healthz(services: ServicesDep) -> Response:
        """``holiday_calendar``: the last year of published holidays and 调休 days, and a
        ``warning`` when this year or the next must be computed by rule (README: updating
        the holiday calendar)."""
        index = services.index.current()
        body: dict[str, Any] = {"status": "ok", "stations": len(index), "version": index.version}
        body["holiday_calendar"] = workdays.calendar_status(datetime.now(TZ).date())
        if services.store.read_only:
            body["read_only"] = True  # a read replica's: writes go to the primary
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get(
        "/problems/{code}",
        tags=["service"],
        summary="What a problem type means",
        description=(
            "The type's title and status, and `explanation`: what happened and how to fix it, "
            "in Chinese (`zh`) and English (`en`)."
        ),
    )
    def problem_type(code: str) -> Response:
        if code not in problems.PROBLEMS:
            raise problems.Problem("not_found", f"no problem type {code!r}")
        status, title = problems.PROBLEMS[code]
        body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status}
        explained = problem_docs.EXPLANATIONS.get(code)
        if explained is not None:
            body["explanation"] = explained.as_dict()
        return Response(orjson.dumps(body), media_type="application/json")

    try:
        log.info("yizhan API ready: %d stations", len(services.index.current()))
    except DatabaseUnavailableError:  # the store has said why
        log.warning("yizhan API started without its database: 503 until it answers")
    return app


class _Deferred:
    """What ``make`` returns, made at the first use of an attribute (then kept)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
                made = self._made
        return getattr(made, name)


# What a planner opens first, and what takes seconds on a cold snapshot (coverage of every
# district, the map drawn): asked for once after start-up, as a client would, so that the
# answers are kept in the snapshot's memo before anyone waits for them.
WARM_PATHS = ("/v1/districts", "/maps/coverage")


class Warmer:
    """The warm-up thread: :meth:`stop` skips what it has not started and waits for it."""

    def __init__(self, app: FastAPI, paths: Sequence[str]) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=lambda: asyncio.run(_warm(app, paths, self.stopping)),
            name="yizhan-warm",
            daemon=True,
        )
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout_s: float = 60.0) -> None:
        self.stopping.set()
        self.thread.join(timeout_s)


def start_warming(app: FastAPI, paths: Sequence[str] = WARM_PATHS) -> Warmer:
    """Request ``paths`` from ``app`` itself in a background thread (its own event loop)."""
    return Warmer(app, paths)


async def _warm(app: FastAPI, paths: Sequence[str], stopping: threading.Event) -> None:
    for path in paths:
        if stopping.is_set():
            return
        started = time.perf_counter()
        try:
            status = await _get(app, path)
        except Exception:  # a warm-up that fails leaves the first request to do the work
            log.exception("warming %s failed", path)
            continue
        log.info("warmed %s (%d) in %.1f s", path, status, time.perf_counter() - started)


async def _get(app: FastAPI, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"user-agent", b"yizhan-warm")],
        "client": ("127.0.0.1", 0),
        "server": ("localhost", 80),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0] if status else 0
