"""The application factory: nothing is created at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import docs_pages, problems
from api.auth import failure_limiter
from api.console import accounts as console_accounts
from api.console import errors as console_errors
from api.console import events as console_events
from api.console import home as console_home
from api.console import inspections as console_inspections
from api.console import planner as console_planner
from api.console import reports as console_reports
from api.console import stars as console_stars
from api.console import stations as console_stations
from api.console import uploads as console_uploads
from api.console import usage as console_usage
from api.deferred import Deferred
from api.deps import Services
from api.fast_nearest import FastNearest, NearestFirstAPI
from api.heavy import HeavyGate, HeavyTurns
from api.limits import BodySizeLimit
from api.routes import along_route as routes_along_route
from api.routes import cases as routes_cases
from api.routes import changes as routes_changes
from api.routes import events as routes_events
from api.routes import feedback as routes_feedback
from api.routes import inspections as routes_inspections
from api.routes import maps as routes_maps
from api.routes import networks as routes_networks
from api.routes import ogc as routes_ogc
from api.routes import planners as routes_planners
from api.routes import posters as routes_posters
from api.routes import ratings as routes_ratings
from api.routes import rider as routes_rider
from api.routes import service as routes_service
from api.routes import stars as routes_stars
from api.routes import station_page as routes_station_page
from api.routes import stations as routes_stations
from api.routes import tiles as routes_tiles
from api.routes import visits as routes_visits
from api.routes import writes as routes_writes
from api.warm import Warmer, start_warming
from geodata.crs import load_shift_area
from geodata.districts import Districts, load_districts
from stations.config import Settings
from stations.domain.checklist import load_checklist
from stations.domain.errors import DatabaseUnavailableError
from stations.domain.stars import load_rule
from stations.readmodel.index import IndexHolder
from stations.readmodel.network import NetworkHolder
from stations.readmodel.ops import OpsModel
from stations.services.events import EventsHolder
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
        app.state.ops.close()  # the operations figures' refresher thread, if any
        app.state.networks.close()  # the station lists' builder thread, if any
        app.state.events.close()  # the events calendar's builder thread, if any

    app = NearestFirstAPI(  # a FastAPI, answering plain nearest requests first
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
            {"name": "inspections", "description": "Spot checks, photos, rectifications"},
            {"name": "rider", "description": "The rider's phone page (HTML)"},
            {"name": "planners", "description": "Figures per district, targets, progress"},
            {"name": "stars", "description": "Star ratings (星级评定) and 最美驿站 candidates"},
            {"name": "OGC API – Features", "description": "For GIS clients (QGIS, GDAL)"},
            {"name": "service", "description": "Health and problem types"},
        ],
    )
    app.state.services = services
    app.state.checklist = load_checklist(settings.checklist_file)  # a broken file stops here
    # A broken star-rating rule stops the start here, saying what is wrong (StarRuleError).
    app.state.stars_rule = load_rule(settings.stars_file)
    app.state.ops = OpsModel(
        store,
        refresh_s=settings.ops_refresh_s,
        check_in_day_min=app.state.stars_rule.check_in_day_min,
    )

    # The street networks nearest and coverage route on (travel=walk|ebike), per worker.
    app.state.networks = NetworkHolder(store, settings.routing())
    # Events at the stations: each worker's calendar, rebuilt when the events version changes.
    app.state.events = EventsHolder(store)
    app.state.auth_limiter = _auth_limiter(store, settings)
    app.state.heavy_gate = HeavyGate()  # turns for costly computations (api/heavy.py)
    problems.install(app, page_for=console_errors.page_for_problem)
    console_errors.install(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_upload_bytes,
        page_for=console_errors.page_for_too_large,
    )
    # Turns for costly computations, per client (api/heavy.py).
    app.add_middleware(HeavyTurns)
    # Added last, so outermost of ours: GET /v1/stations/nearest (straight) without the router.
    app.add_middleware(FastNearest)
    # Fixed paths under /v1/stations/ before /v1/stations/{station_id} takes them.
    app.include_router(routes_along_route.router)
    app.include_router(routes_changes.router)
    app.include_router(routes_stations.router)
    app.include_router(routes_networks.router)
    app.include_router(routes_posters.router)
    app.include_router(routes_writes.router)
    app.include_router(routes_events.router)  # before planners': /districts/events
    app.include_router(routes_feedback.router)
    app.include_router(routes_inspections.router)
    app.include_router(routes_ratings.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_visits.router)
    app.include_router(routes_planners.router)
    app.include_router(routes_maps.router)
    app.include_router(routes_tiles.router)
    app.include_router(routes_ogc.router)
    app.include_router(routes_stars.router)
    app.include_router(routes_rider.router)
    app.include_router(routes_station_page.router)
    app.include_router(docs_pages.router)
    app.include_router(console_home.router)
    app.include_router(console_stars.router)
    app.include_router(console_events.router)
    app.include_router(console_stations.router)
    app.include_router(console_reports.router)
    app.include_router(console_inspections.router)
    app.include_router(console_planner.router)
    app.include_router(console_accounts.router)
    app.include_router(console_uploads.router)
    app.include_router(console_usage.router)

    app.include_router(routes_service.router)

    try:
        log.info("yizhan API ready: %d stations", len(services.index.current()))
    except DatabaseUnavailableError:  # the store has said why
        log.warning("yizhan API started without its database: 503 until it answers")
    return app


def _auth_limiter(store: Store, settings: Settings) -> Any:
    """The failed-authentication limiter; made at its first use if the database is down."""

    def make() -> Any:
        return failure_limiter(
            store,
            limit=settings.auth_failures_per_minute,
            max_clients=settings.auth_failure_clients_max,
        )

    try:
        return make()
    except DatabaseUnavailableError:  # made at its first use, once the database answers
        return Deferred(make)
