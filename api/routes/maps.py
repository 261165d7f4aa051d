"""Maps for planners: the coverage map as one self-contained HTML page (no public CDN)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api import schema_docs as doc
from api.deps import IndexDep, ServicesDep, networks_of, parse_time
from api.rider_page import REVALIDATE, Asset, content_security_policy, inline_script_hashes
from api.routes.planners import MinutesParam, TravelParam
from api.routes.stations import ops_of
from geodata.tiles import TILE_PROVIDERS
from stations.readmodel.index import CacheName
from stations.services import planning
from stations.services.maps import METRICS, station_map
from stations.services.planning import map_options

router = APIRouter(tags=["planners"])

# The rendered pages of a snapshot (with their Content-Security-Policy), by what was asked.
# Where a large registry's map fetches its stations (api/routes/tiles.py).
TILES = "/tiles/stations"


class _Tiled(TypedDict):
    tiles_url: str
    areas_url: str


# Where a large registry's map draws its stations and districts from.
TILED = _Tiled(tiles_url=TILES, areas_url="/tiles/districts")
MAPS = CacheName[tuple[Any, ...], tuple[Asset, str]]("maps", max_entries=8, turns=True)


@router.get(
    "/maps/coverage",
    summary="The coverage map (HTML)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
)
def coverage_map(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    tiles: Annotated[
        str,
        Query(
            description=(
                "the map tiles: osm (OpenStreetMap), amap (高德, GCJ-02: every point and area "
                "is shifted to it) or tianditu (天地图; only where YIZHAN_TIANDITU_KEY is set)"
            ),
            json_schema_extra=doc.enum(*TILE_PROVIDERS),
        ),
    ] = "osm",
    district: Annotated[
        str | None, Query(description="one district's adcode, or a province's 2-digit code")
    ] = None,
    at: Annotated[
        str | None,
        Query(
            description="show only stations open at this time (ISO 8601, Asia/Shanghai)",
            json_schema_extra=doc.TIME,
        ),
    ] = None,
    radius_m: Annotated[
        float | None,
        Query(
            description="coverage radius in metres (default 1000); not with `travel`",
            json_schema_extra=doc.RADIUS_M,
        ),
    ] = None,
    metric: Annotated[
        str,
        Query(
            description="the district colouring shown first", json_schema_extra=doc.enum(*METRICS)
        ),
    ] = "coverage",
    demand: Annotated[str | None, Query(description="a demand layer (for per_demand)")] = None,
    travel: TravelParam = None,
    minutes: MinutesParam = None,
) -> Response:
    """Stations coloured by 上图 state (all three providers and precise / partly / not
    listed), 24-hour self-service sites with their own symbol and layer, popups with name,
    address, hours, amenities, entry methods and listings, the area within and beyond
    `radius_m` (with `travel=walk|ebike` and `minutes`: the service areas within that
    travel time along the street network), a district choropleth per metric, a legend and
    a layer control. The page
    needs no public CDN: Leaflet is inlined; only the map tiles come from the tile server.
    Sent gzipped when the client accepts it, with an ETag (304 while the registry is
    unchanged)."""
    options = map_options(
        tile_providers=services.settings.tile_providers,
        districts=services.districts,
        store=services.store,
        tiles=tiles,
        metric=metric,
        radius_m=radius_m,
        district=district,
        at=parse_time(at) if at else None,
        demand=demand,
        travel=travel,
        minutes=minutes,
        cell_m=services.settings.network_cell_m,
    )
    provider = options.tiles
    networks = networks_of(request)
    network: tuple[int, ...] = ()
    if options.travel is not None:  # a new network version draws a new map
        network = (planning.network_version(networks, options.travel.travel),)
    assert not isinstance(provider, str)

    stars, stars_key = ops_of(request).stars()  # shown in the popups

    def draw() -> tuple[Asset, str]:
        drawn = station_map(
            index, services.districts, options, stars=stars, networks=networks, **TILED
        )
        # Gzipped once (a sixth of the size; level 6: level 9 takes 5 times as long for 1 %
        # less), with an ETag: the same map is not sent again while the registry is unchanged.
        html = drawn.get_root().render().encode()
        # folium's scripts are inline: those run, by their hashes, and no other; no script,
        # style or data from elsewhere, only the tiles.
        policy = content_security_policy((provider,), script_hashes=inline_script_hashes(html))
        return Asset.of(html, "text/html; charset=utf-8", compresslevel=6), policy

    page, policy = index.cache(MAPS).get_or_compute((*options.key(), *network, stars_key), draw)
    return page.response(
        request, cache_control=REVALIDATE, headers={"Content-Security-Policy": policy}
    )
