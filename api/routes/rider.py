"""Routes of the rider's phone page: the page, its script and styles, districts, Leaflet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import ServicesDep
from api.problems import Problem
from api.rider_page import (
    IMMUTABLE,
    REVALIDATE,
    Asset,
    app_asset,
    district_centres,
    leaflet_asset,
    leaflet_version,
    page_response,
)
from geodata.tiles import drawn_in
from stations.domain.jsonbytes import kept_json

router = APIRouter(tags=["rider"])


@router.get(
    "/app",
    summary="The rider's phone page (Chinese, HTML)",
    description="Also served at `/` to browsers (`Accept: text/html`, or `f=html`).",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
)
def app_page(request: Request, services: ServicesDep) -> Response:
    return page_response(request, tiles=services.settings.rider_tile_providers)


@router.get(
    "/app/districts.json",
    summary="Districts and their centres, for the page's picker",
    description=(
        "`lon`/`lat` in WGS-84; `drawn` gives the same point in the system of each of the "
        "page's tiles (gcj02 for Amap, converted here: the page converts nothing)."
    ),
)
def districts(request: Request, services: ServicesDep) -> Response:
    cached: Asset | None = getattr(request.app.state, "district_centres", None)
    if cached is None:
        systems = tuple(drawn_in(t) for t in services.settings.rider_tile_providers)
        centres = district_centres(services.districts, drawn_in=systems)
        cached = Asset.of(kept_json({"districts": centres}), "application/json")
        request.app.state.district_centres = cached
    return cached.response(request, cache_control=REVALIDATE)


@router.get("/app/{name}", include_in_schema=False)
def app_file(name: str, request: Request) -> Response:
    asset = app_asset(name)
    if asset is None:
        raise Problem("not_found", f"no file {name!r} here")
    versioned = request.query_params.get("v") == asset.version
    return asset.response(request, cache_control=IMMUTABLE if versioned else REVALIDATE)


@router.get("/static/leaflet/{version}/{path:path}", include_in_schema=False)
def leaflet_file(version: str, path: str, request: Request) -> Response:
    asset = leaflet_asset(path) if version == leaflet_version() else None
    if asset is None:
        raise Problem("not_found", f"no Leaflet file {version}/{path!r} here")
    return asset.response(request, cache_control=IMMUTABLE)
