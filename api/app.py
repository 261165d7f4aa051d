"""The application factory: nothing is created at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.responses import Response

from geodata.districts import Districts, load_districts
from stations.open import open_store
from stations.readindex import IndexHolder
from stations.settings import Settings
from stations.store import Store

from . import (
    problems,
    routes_feedback,
    routes_maps,
    routes_ogc,
    routes_planners,
    routes_rider,
    routes_stations,
    routes_writes,
)
from .auth import failure_limiter
from .deps import Services, ServicesDep
from .limits import BodySizeLimit

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
    store = store or open_store(settings.database_url, timeouts=settings.timeouts)
    districts = districts or load_districts(settings.districts_source)
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
        yield
        services.index.close()  # the index watcher thread, if any

    app = FastAPI(
        lifespan=lifespan,
        title="yizhan 驿站",
        version="1.0.0",
        description=DESCRIPTION,
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
    app.state.auth_limiter = failure_limiter(
        store,
        limit=settings.auth_failures_per_minute,
        max_clients=settings.auth_failure_clients_max,
    )
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.include_router(routes_stations.router)
    app.include_router(routes_writes.router)
    app.include_router(routes_feedback.router)
    app.include_router(routes_planners.router)
    app.include_router(routes_maps.router)
    app.include_router(routes_ogc.router)
    app.include_router(routes_rider.router)

    @app.get("/healthz", tags=["service"], summary="Liveness and registry version")
    def healthz(services: ServicesDep) -> Response:
        index = services.index.current()
        body: dict[str, Any] = {"status": "ok", "stations": len(index), "version": index.version}
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get("/problems/{code}", tags=["service"], summary="What a problem type means")
    def problem_type(code: str) -> Response:
        if code not in problems.PROBLEMS:
            raise problems.Problem("not_found", f"no problem type {code!r}")
        status, title = problems.PROBLEMS[code]
        body = {"type": f"/problems/{code}", "title": title, "status": status}
        return Response(orjson.dumps(body), media_type="application/json")

    log.info("yizhan API ready: %d stations", len(services.index.current()))
    return app
