"""Station tiles: the registry as small clustered tiles (JSON for the planners' map at any size,
Mapbox Vector Tiles for other maps and GIS)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api import schema_docs as doc
from api.deps import IndexDep, Services, ServicesDep, parse_crs_param, parse_statuses, parse_time
from api.problems import Problem
from api.rider_page import Asset
from geodata.cluster_tiles import CELL_PX, MAX_POINTS, MAX_ZOOM, check_tile
from stations.domain.errors import InvalidOptionError
from stations.domain.listings import MAPPED_WORDS, mapped_filter
from stations.services.maps import (
    TileFilters,
    area_tile,
    area_tile_etag,
    station_tile,
    tile_etag,
)
from stations.services.planning import check_area
from stations.services.vector_tiles import station_vector_tile, vector_tile_etag

router = APIRouter(tags=["planners"])


def _tile_route(path: str, **kwargs: Any) -> Callable[[Callable[..., Response]], Any]:
    """GET ``path`` as documented, and HEAD (the same headers, no body: what a map cache or
    ``curl -I`` asks), which HTTP defines and the API description does not list again."""

    def register(endpoint: Callable[..., Response]) -> Any:
        router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)
        return router.get(path, **kwargs)(endpoint)

    return register


# The parameters both kinds of tile take.
TileZ = Annotated[int, Path(description=f"zoom, 0 to {MAX_ZOOM}")]
TileX = Annotated[int, Path(description="tile column, 0 to 2^z - 1 (XYZ scheme)")]
TileY = Annotated[int, Path(description="tile row from the north, 0 to 2^z - 1")]
TileCrs = Annotated[
    str,
    Query(
        description="the system the map's tiles are drawn in: gcj02 for Amap's",
        json_schema_extra=doc.CRS,
    ),
]
TileDistrict = Annotated[
    str | None, Query(description="one district's adcode, or a province's 2-digit code")
]
# The station tiles' filters (JSON and vector tiles alike).
TileStatus = Annotated[
    list[str] | None,
    Query(description="repeatable; default every one but closed", json_schema_extra=doc.STATUSES),
]
TileAt = Annotated[
    str | None,
    Query(
        description="only the stations open at this time (ISO 8601, Asia/Shanghai)",
        json_schema_extra=doc.TIME,
    ),
]
TileMapped = Annotated[
    str | None,
    Query(
        description="上图 state: full, partial, none; or true (listed anywhere) / false",
        json_schema_extra=doc.enum(*MAPPED_WORDS),
    ),
]

# Cached a minute, then revalidated (304 while the registry is unchanged). The map's page
# puts the registry's version in its tile URLs, so a new registry is never hidden by this.
TILE_CACHE = "public, max-age=60"
# Every tile may come gzipped (whenever that makes it smaller), so caches key it by
# Accept-Encoding: its 200s and 304s alike say so.
_TILE_VARY = {"Vary": "Accept-Encoding"}
TILE_DOC = (
    "The stations in tile `z/x/y` (Web Mercator XYZ, half-open edges: a station on a tile "
    "border is in the tile east or south of it), filtered as the coverage map is. `n` is how "
    f"many; with at most {MAX_POINTS}, `p` lists each one as `[px, py, id, state]` (pixels "
    "0–255 from the tile's top left; state: 上图 0 full, 1 partial, 2 none, +4 24-hour "
    "self-service, +8 not in service), else the stations are grouped in cells of "
    f"{CELL_PX} px of the zoom's pixel grid (the same whichever tile asks), a cell merged "
    "with its heaviest neighbour when their centres are within 48 px: `c` lists `[px, py, "
    "count, full, partial, none]` of the groups whose weighted centre is in the tile "
    "(wherever their stations are; `n` counts those, so the tiles over an area add up to "
    "its stations, each once; a group of one stays in `p`). With points, `e` lists "
    "`[px, py, state]` of the neighbours' "
    "stations within 8 px of the tile (drawn, not counted). A mobile station (流动驿站) is "
    "never in `p`, `c` or `n` (its base is not where it serves): `s` lists its stops in the "
    "tile as `[px, py, id, stop, here]` (`stop` its index in the record's `stops`; `here` 1 "
    "where the bus stands at `at`). Positions in `crs`. ETag; 304 on If-None-Match."
)


@_tile_route(
    "/tiles/stations/{z}/{x}/{y}.json",
    summary="A tile of stations, clustered (JSON)",
    description=TILE_DOC,
    responses={304: {"description": "Not modified (If-None-Match matched)"}},
)
def station_tile_json(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    z: TileZ,
    x: TileX,
    y: TileY,
    crs: TileCrs = "wgs84",
    status: TileStatus = None,
    at: TileAt = None,
    district: TileDistrict = None,
    mapped: TileMapped = None,
) -> Response:
    _check_tile(z, x, y)
    filters = _filters(services, status=status, at=at, district=district, mapped=mapped)
    system = parse_crs_param(crs)
    etag = tile_etag(index, z, x, y, filters, system)
    return _tile_response(
        request,
        etag,
        "application/json",
        lambda: orjson.dumps(station_tile(index, z, x, y, filters, system)),
    )


MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MVT_DOC = (
    "The same tile as `/tiles/stations/{z}/{x}/{y}.json` (the same filters, stations and "
    "clusters) as a Mapbox Vector Tile (MVT 2.1, extent 4096), for MapLibre, Mapbox, QGIS, "
    "GDAL. Layer `stations`: a point per station (feature id and `id` the station's, `name`, "
    "`count` 1, `state` as the JSON tile's and in words: `mapped` full/partial/none, "
    "`self_service`, `in_service`) at its position (within half a unit of the grid), and "
    f"above {MAX_POINTS} stations a point per cluster of {CELL_PX} px (`count` ≥ 2, `full`, "
    "`partial`, `none`) at the JSON tile's pixel; the counts add up to the JSON tile's `n`. "
    "Layer `edge` (with points): the neighbours' stations within 8 px of the tile (`state`, "
    "`mapped`, `self_service`, `in_service`), drawn, not counted. Layer `stops`: the mobile "
    "stations' stops (`id` the station's, `stop`, `name`, `here`). A tile with no station is "
    "a valid tile whose `stations` layer is empty (200, not 204). The tiles are Web "
    "Mercator's (EPSG:3857) over positions in `crs`: WGS-84 by default, for WGS-84 base maps "
    "(OpenStreetMap, Tianditu); over a GCJ-02 base map (Amap, Tencent) ask `crs=gcj02`, or "
    "every station is drawn 300–700 m off. Gzipped when accepted; ETag, 304 on "
    "If-None-Match; `Cache-Control` as the JSON tiles'."
)


@_tile_route(
    "/tiles/stations/{z}/{x}/{y}.mvt",
    summary="A tile of stations, clustered (Mapbox Vector Tile)",
    description=MVT_DOC,
    response_class=Response,
    responses={
        200: {"content": {MVT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "Not modified (If-None-Match matched)"},
    },
)
def station_tile_mvt(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    z: TileZ,
    x: TileX,
    y: TileY,
    crs: TileCrs = "wgs84",
    status: TileStatus = None,
    at: TileAt = None,
    district: TileDistrict = None,
    mapped: TileMapped = None,
) -> Response:
    _check_tile(z, x, y)
    filters = _filters(services, status=status, at=at, district=district, mapped=mapped)
    system = parse_crs_param(crs)
    etag = vector_tile_etag(index, z, x, y, filters, system)
    return _tile_response(
        request,
        etag,
        MVT_MEDIA_TYPE,
        lambda: station_vector_tile(index, z, x, y, filters, system),
    )


AREA_TILE_DOC = (
    "The districts in tile `z/x/y` (Web Mercator XYZ), clipped to it (with a margin of "
    "4 px) and simplified within half a pixel of its zoom (exact from zoom 12): `d` lists "
    "`[adcode, name, rings]`, `b` the provinces `[code, name, rings]` (their outlines; "
    "none when the districts are one province's); a ring is a flat list `[x0, y0, x1, y1, "
    "…]` of pixels from the tile's top left, outer rings and holes alike (fill by the "
    "even-odd rule). Positions in `crs`. Gzipped when accepted; ETag (the districts' layer, "
    "the tile, `crs`, `district`), 304 on If-None-Match."
)


@_tile_route(
    "/tiles/districts/{z}/{x}/{y}.json",
    summary="A tile of district areas (JSON)",
    description=AREA_TILE_DOC,
    responses={304: {"description": "Not modified (If-None-Match matched)"}},
)
def district_tile_json(
    request: Request,
    services: ServicesDep,
    z: TileZ,
    x: TileX,
    y: TileY,
    crs: TileCrs = "wgs84",
    district: TileDistrict = None,
) -> Response:
    _check_tile(z, x, y)
    _check_area(services, district)
    system = parse_crs_param(crs)
    districts = services.districts
    etag = area_tile_etag(districts, z, x, y, system, district)
    return _tile_response(
        request,
        etag,
        "application/json",
        lambda: orjson.dumps(area_tile(districts, z, x, y, system, district)),
    )


def _tile_response(
    request: Request, etag: str, media_type: str, render: Callable[[], bytes]
) -> Response:
    """A tile's answer: 304 on If-None-Match without drawing it (with the headers a 200
    carries, ``Vary`` included, as RFC 9110 asks), else the tile drawn, gzipped when the
    client accepts it and that makes it smaller."""
    if etag in request.headers.get("if-none-match", ""):
        headers = {"ETag": etag, "Cache-Control": TILE_CACHE, **_TILE_VARY}
        return Response(status_code=304, headers=headers)
    body = render()
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    asset = Asset(body, media_type, etag, packed if len(packed) < len(body) else None)
    return asset.response(request, cache_control=TILE_CACHE, headers=_TILE_VARY)


def _check_tile(z: int, x: int, y: int) -> None:
    try:
        check_tile(z, x, y)
    except ValueError:
        raise Problem(
            "out_of_range",
            f"瓦片 {z}/{x}/{y} 不存在：缩放级别为 0 到 {MAX_ZOOM}，x 与 y 为 0 到 2^z−1",
        ) from None


def _check_area(services: Services, district: str | None) -> None:
    try:
        check_area(services.districts, district)
    except InvalidOptionError:
        raise Problem("unknown_district", f"没有行政区划代码为 {district!r} 的区县或省份") from None


def _filters(
    services: Services,
    *,
    status: list[str] | None,
    at: str | None,
    district: str | None,
    mapped: str | None,
) -> TileFilters:
    """The map's filters from the query, checked."""
    _check_area(services, district)
    try:
        states = () if mapped is None else mapped_filter(mapped)
    except ValueError as exc:
        raise Problem("invalid_parameter", f"mapped：{exc}") from None
    return TileFilters(
        statuses=parse_statuses(status, default=()),
        mapped=states,
        district=district,
        at=parse_time(at) if at else None,
    )
