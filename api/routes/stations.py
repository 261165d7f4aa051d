"""The public read API for riders and integrators: nearest stations, listings, one station."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Query, Request
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from api import schema_docs as doc
from api.deps import (
    MAX_K,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_RADIUS_M,
    IndexDep,
    ServicesDep,
    StationId,
    get_index,
    networks_of,
    parse_crs_param,
    parse_listing_filters,
    parse_nearest,
    parse_time,
)
from api.etags import tagged
from api.links import this_url
from api.params import Param, QuerySpec
from api.problems import Problem
from api.representation import (
    GEOJSON,
    feature,
    nearest_body,
    nearest_json,
    nearest_response,
    station_json,
    stations_csv,
    stations_page,
    travel_fields,
)
from api.responses import json_response
from geodata import when
from geodata.crs import CoordinateSystem
from stations.domain.listings import MAPPED_WORDS
from stations.readmodel.index import StationIndex
from stations.readmodel.ops import OpsModel, OpsSnapshot
from stations.services import feed as feed_service
from stations.services.nearest import FAR_M, NearestQuery, find_nearest, find_nearest_by_route

router = APIRouter(prefix="/v1", tags=["stations"])

DEFAULT_LIMIT = 100

_NEAREST_EXAMPLE = {
    "query": {
        "lon": 106.5772,
        "lat": 29.557,
        "crs": "wgs84",
        "at": "2025-10-01T14:30:00+08:00",
        "k": 2,
        "radius_m": None,
        "open_now": True,
        "self_service": None,
        "amenity": [],
        "status": ["active"],
        "travel": "walk",
    },
    # With travel=walk|ebike only (nearest by route): travel, travel_label, unreachable,
    # and each result's route_m and duration_s.
    "travel": "walk",
    "travel_label": "步行",
    "unreachable": [{"id": 57, "name": "朝天门码头驿站", "distance_m": 640.2, "snap_m": 412.5}],
    "count": 2,
    "results": [
        {
            "id": 42,
            "name": "解放碑工会驿站",
            "address": "重庆市渝中区民族路1号",
            "host": "中国工商银行重庆解放碑支行",
            "contact_phone": "023-63000000",
            "code": "K7QX2M9P",
            "page_url": "/s/K7QX2M9P",
            "distance_m": 183.4,
            "route_m": 246.8,
            "duration_s": 197,
            "bearing_deg": 71.2,
            "lon": 106.5790,
            "lat": 29.5576,
            "crs": "wgs84",
            "open_now": True,
            "next_change": "2025-10-01T20:00:00+08:00",
            "hours": "Mo-Su 08:00-20:00",
            "hours_text": "每天 8:00-20:00",
            "amenities": ["hot_water", "microwave", "phone_charging", "toilet"],
            "self_service_24h": False,
            "entry_methods": ["staffed"],
            "registration_required": False,
            "status": "active",
            "district_adcode": "500103",
            "rating": {"average": 4.6, "count": 23},
            "stars": 4,
            "last_confirmed": {
                "at": "2025-09-28T10:15:00+08:00",
                "how": "inspection",
                "label": "抽查确认",
            },
            "mobile": False,
            "event": {
                "id": 7,
                "title": "每周免费午餐",
                "kind": "free_meal",
                "kind_label": "免费餐",
                "start": "2025-10-01T11:00:00+08:00",
                "end": "2025-10-01T15:00:00+08:00",
            },
            "next_event": {
                "id": 7,
                "title": "每周免费午餐",
                "kind": "free_meal",
                "kind_label": "免费餐",
                "start": "2025-10-03T11:00:00+08:00",
                "end": "2025-10-03T15:00:00+08:00",
            },
            "navigation": {
                "amap": "https://uri.amap.com/navigation?to=...",
                "baidu": "https://api.map.baidu.com/marker?location=...",
            },
        },
        {
            # A mobile station (流动驿站) placed at its stop at `at`: the stop's position.
            "id": 88,
            "name": "渝中区流动驿站（爱心巴士）",
            "address": "重庆市渝中区",
            "host": "渝中区总工会",
            "contact_phone": "023-63001111",
            "code": "B5HN8RWD",
            "page_url": "/s/B5HN8RWD",
            "distance_m": 402.7,
            "route_m": 455.1,
            "duration_s": 364,
            "bearing_deg": 208.5,
            "lon": 106.5751,
            "lat": 29.5538,
            "crs": "wgs84",
            "open_now": True,
            "next_change": "2025-10-01T17:00:00+08:00",
            "hours": "Mo-Su 09:00-17:00",
            "hours_text": "每天 9:00-17:00",
            "amenities": ["hot_water", "phone_charging", "first_aid"],
            "self_service_24h": False,
            "entry_methods": ["staffed"],
            "registration_required": False,
            "status": "active",
            "district_adcode": "500103",
            "rating": {"average": 4.8, "count": 5},
            "stars": 3,
            "last_confirmed": {
                "at": "2025-09-30T16:40:00+08:00",
                "how": "union_edit",
                "label": "工会更新",
            },
            "mobile": True,
            "stop_name": "较场口",
            "stop_until": "2025-10-01T17:00:00+08:00",
            "stop_hours": "每天 10:00-17:00",
            # null when none (the document drops nulls from examples: this bus has both).
            "event": {
                "id": 12,
                "title": "冬日送温暖",
                "kind": "warmth",
                "kind_label": "送温暖",
                "start": "2025-10-01T09:00:00+08:00",
                "end": "2025-10-01T17:00:00+08:00",
            },
            "next_event": {
                "id": 15,
                "title": "爱心理发",
                "kind": "haircut",
                "kind_label": "理发",
                "start": "2025-10-04T10:00:00+08:00",
                "end": "2025-10-04T14:00:00+08:00",
            },
            "navigation": {
                "amap": "https://uri.amap.com/navigation?to=...",
                "baidu": "https://api.map.baidu.com/marker?location=...",
            },
        },
    ],
}


def ops_of(request: Request) -> OpsSnapshot:
    """The stations' rating, stars and last confirmation as last read (see OpsModel)."""
    model: OpsModel = request.app.state.ops
    return model.current()


def _format(f: str) -> str:
    if f not in ("json", "geojson", "csv"):
        raise Problem("bad_format", f"f={f!r}: use json, geojson or csv")
    return f


NEAREST = QuerySpec(
    Param(
        "lon",
        float,
        "longitude of the point, in `crs`; inside China",
        required=True,
        schema=doc.CHINA_LON,
        example=106.5772,
    ),
    Param(
        "lat",
        float,
        "latitude of the point, in `crs`; inside China",
        required=True,
        schema=doc.CHINA_LAT,
        example=29.557,
    ),
    Param("crs", str, "wgs84 | gcj02 | bd09 (also cgcs2000)", "wgs84", schema=doc.CRS),
    Param(
        "out_crs",
        str,
        "the system of the positions given back (default: `crs`), e.g. a GPS position in "
        "wgs84 drawn on Amap tiles in gcj02; `query` then echoes the point in it too "
        "(`out_lon`, `out_lat`, `out_crs`)",
        schema=doc.CRS,
    ),
    Param("k", int, f"how many stations (1–{MAX_K})", 10, schema=doc.between(1, MAX_K)),
    Param(
        "radius_m",
        float,
        "only stations within this many metres",
        schema={"exclusiveMinimum": 0, "maximum": MAX_RADIUS_M},
    ),
    Param("open_now", bool, "only stations open at `at`", False),
    Param(
        "at",
        str,
        "ISO 8601 time, 2000 to 2099; naive means Asia/Shanghai; default now",
        schema=doc.TIME,
    ),
    Param("self_service", bool, "true: only 24-hour self-service sites"),
    Param(
        "amenity",
        str,
        "repeatable (or comma-separated); every one must be offered",
        repeat=True,
        schema=doc.AMENITIES,
    ),
    Param(
        "status",
        str,
        "repeatable: active (default), temporarily_closed, planned, closed, or any",
        repeat=True,
        schema=doc.STATUSES,
    ),
    Param("f", str, "json | geojson", "json", schema=doc.enum("json", "geojson")),
    Param(
        "travel",
        str,
        "walk | ebike: nearest by route on that street network (`yizhan network import`), "
        "each result with `route_m` and `duration_s`; straight (the default): by the "
        "straight line",
        schema=doc.enum("walk", "ebike", "straight"),
    ),
)


@router.get(
    "/stations/nearest",
    summary="The nearest stations to a point, nearest first",
    description=(
        "The true k nearest stations by geodesic distance on the WGS-84 ellipsoid among those "
        "passing every filter. Positions in and out are in `crs` (Amap and Tencent use gcj02, "
        "Baidu bd09); `out_crs` gives them back in another system (a map on Amap tiles asks "
        "with a GPS point, `crs=wgs84&out_crs=gcj02`, and draws what it gets). GCJ-02 and "
        "BD-09 are shifted only inside Amap's own border (mainland China, Hong Kong, Macau), "
        "elsewhere they equal WGS-84. `open_now` and `next_change` are evaluated at `at` "
        "(default now) in Asia/Shanghai, honouring China's public holidays and make-up "
        "working days. By default only active stations are returned; `status=any` returns "
        "all. `query` echoes every filter. When nothing is found, or the nearest is more than "
        f"{FAR_M / 1000:.0f} km away, `hint` says so in Chinese and `nearest_m` how far the "
        "nearest station passing the filters is (null: none passes them). "
        "With `travel=walk` or `ebike` the stations are the k nearest by route on that street "
        "network (imported with `yizhan network import FILE --profile walk`): the point and "
        "the stations are snapped to the nearest way (at most the profile's snap distance); "
        "each result gains `route_m` (along the streets, both snap legs included, never less "
        "than `distance_m`, which stays the straight line) and `duration_s`, nearest by route "
        "first, and `radius_m` bounds `route_m`. `unreachable` names the stations passing "
        "every filter that are too far from any way to be routed to and nearer in a straight "
        "line than the last route returned (or than `radius_m`), at most 10. No network for "
        "the profile: 409 `network_not_loaded`; the point too far from any way: 422 "
        "`point_off_network`. Each result carries `mobile`: a mobile station (流动驿站, a bus) "
        "is placed at the stop where it stands at `at` (its position is the stop's, with "
        "`stop_name`, `stop_until` and `stop_hours`) and left out between stops; and `event` (the "
        "station's 活动 on at `at`) and `next_event` (the next one), null when none. The "
        "example is an answer with `travel=walk`: a fixed station with an event on, and a bus "
        "at its stop."
    ),
    responses=doc.result_schema("The nearest stations, nearest first", _NEAREST_EXAMPLE),
    openapi_extra=NEAREST.openapi(),
)
async def nearest(request: Request) -> Response:
    # A GET by the straight line is answered ahead of the router by api/fast_nearest.py,
    # with the same parts (keep the two in step: tests/api/test_fast_nearest.py compares
    # them); this route answers HEAD and travel=walk|ebike, and documents the operation.
    # Parameters parsed by NEAREST (see api/params.py), and async so that a request costs
    # no thread-pool hop.
    q = NEAREST.parse(request.query_params)
    index = await get_index(request)
    query = parse_nearest(q)
    if query.travel is not None:
        # In a worker thread: the first request after an import loads the network (seconds
        # for a city), and a search when few stations pass takes milliseconds; the event
        # loop keeps answering everyone else meanwhile.
        return await run_in_threadpool(_nearest_by_route, request, index, query, q["f"])
    body, media_type = straight_answer(request.app, index, query, q["f"])
    return Response(body, media_type=media_type)


def straight_answer(
    app: Starlette, index: StationIndex, query: NearestQuery, f: str
) -> tuple[bytes, str]:
    """The body and media type of a nearest answer by the straight line: the route's, and
    the one api/fast_nearest.py serves ahead of the router."""
    hits, note = find_nearest(index, query)
    memo_limit = app.state.services.settings.nearest_memo_stations
    model: OpsModel = app.state.ops
    ops = model.current()
    events = app.state.events.current()
    results = nearest_json(
        index, hits, query.out, memo_limit=memo_limit, ops=ops, at=query.at, events=events
    )
    return nearest_body(query, f, hits, results, note)


def _nearest_by_route(
    request: Request, index: StationIndex, query: NearestQuery, f: str
) -> Response:
    """``travel=walk|ebike``: the answer by route (apart, so the straight path stays as is)."""
    route = find_nearest_by_route(index, query, networks_of(request))
    memo_limit = request.app.state.services.settings.nearest_memo_stations
    results = nearest_json(
        index,
        route.hits,
        query.out,
        memo_limit=memo_limit,
        ops=ops_of(request),
        route=route,
        at=query.at,
        events=request.app.state.events.current(),
    )
    extra = travel_fields(index, route)
    return nearest_response(query, f, route.hits, results, route.note, travel=extra)


_NOT_MODIFIED = {"description": "Not Modified: If-None-Match named the current ETag"}


@router.get(
    "/stations",
    summary="List stations with filters and paging",
    responses={**doc.listing_schema("A page of station records"), 304: _NOT_MODIFIED},
    description=(
        "Every filter given must match. `total` (and the `X-Total-Count` header) counts all "
        "matches; `limit`/`offset` page, and a page's `Link` header (RFC 8288) gives the "
        '`rel="next"` and `rel="prev"` pages. `f=csv` without `limit` is every match, '
        "streamed; with `limit`, that page (its file name says which rows of how many). "
        "A page has a strong `ETag` (a hash of its body): `If-None-Match` answers 304 while "
        "it is unchanged. `updated_since` keeps the stations written at that time or later, "
        "and never says which were deleted: mirrors follow /v1/stations/changes. Each json "
        "and geojson record carries `event` (the station's 活动 on now, or at `at`) and "
        "`next_event` (the next one), null when none, as nearest results do."
    ),
)
def list_stations(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    district: Annotated[
        str | None,
        Query(description="6-digit adcode, e.g. 500103", json_schema_extra={"pattern": r"^\d{6}$"}),
    ] = None,
    owner: Annotated[str | None, Query(description="district:<adcode> or industry:<code>")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS-84)")] = None,
    status: Annotated[
        list[str] | None,
        Query(description="repeatable; default all", json_schema_extra=doc.STATUSES),
    ] = None,
    mapped: Annotated[
        str | None,
        Query(
            description="上图 state: full, partial, none; or true (listed anywhere) / false",
            json_schema_extra=doc.enum(*MAPPED_WORDS),
        ),
    ] = None,
    self_service: Annotated[bool | None, Query()] = None,
    amenity: Annotated[
        list[str] | None,
        Query(description="repeatable; all must match", json_schema_extra=doc.AMENITIES),
    ] = None,
    limit: Annotated[
        int | None,
        Query(
            description=(
                f"1–{MAX_LIMIT}; default {DEFAULT_LIMIT} for json and geojson. For csv, "
                "without a limit, every match (streamed); with one, that page"
            ),
            json_schema_extra=doc.between(1, MAX_LIMIT),
        ),
    ] = None,
    offset: Annotated[
        int,
        Query(
            description=f"0 to {MAX_OFFSET}",
            json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET},
        ),
    ] = 0,
    crs: Annotated[
        str, Query(description="positions in wgs84 | gcj02 | bd09", json_schema_extra=doc.CRS)
    ] = "wgs84",
    f: Annotated[
        str,
        Query(
            description="json | geojson | csv", json_schema_extra=doc.enum("json", "geojson", "csv")
        ),
    ] = "json",
    updated_since: Annotated[
        str | None,
        Query(
            description=(
                "ISO 8601 time (naive: Asia/Shanghai): only stations last written at it or "
                "later (inclusive). Deletions are not reported: a mirror follows "
                "/v1/stations/changes instead"
            ),
            json_schema_extra=doc.TIME,
        ),
    ] = None,
    at: Annotated[
        str | None,
        Query(
            description=(
                "ISO 8601 time (naive: Asia/Shanghai): the stations where they are then. A "
                "mobile station (流动驿站) is at the stop where it stands (its position, "
                "`stop_name`, `stop_until`; `bbox` reads the stop) or left out between stops; "
                "every result says `mobile`. Without `at`, every station as stored"
            ),
            json_schema_extra=doc.TIME,
        ),
    ] = None,
) -> Response:
    fmt = _format(f)
    everything = fmt == "csv" and limit is None
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise Problem("out_of_range", f"limit is 1 to {MAX_LIMIT} and offset 0 to {MAX_OFFSET}")
    filters = parse_listing_filters(
        services.districts,
        district=district,
        owner=owner,
        bbox=bbox,
        status=status,
        mapped=mapped,
        self_service=self_service,
        amenity=amenity,
    )
    when_at = parse_time(at) if at else None
    positions = index.select(**filters, at=when_at)
    if updated_since is not None:
        positions = feed_service.updated_since(index, positions, _since(updated_since))
    total = len(positions)
    if everything:
        return _csv_stream(index, positions[offset:], total=total, at=when_at)
    shown = positions[offset : offset + limit]
    page = stations_page(
        [index.stations[p] for p in shown],
        fmt,
        total=total,
        limit=limit,
        offset=offset,
        links=page_links(request, offset=offset, limit=limit, total=total),
        districts=services.districts,
        threshold_m=index.threshold_m,
        # csv has no positions to convert: its crs is not read (nor refused).
        crs=CoordinateSystem.WGS84 if fmt == "csv" else parse_crs_param(crs),
        ops=None if fmt == "csv" else ops_of(request),
        placed=None if when_at is None else [index.placement(p, when_at) for p in shown],
        events=None if fmt == "csv" else request.app.state.events.current(),
        at=when_at,
    )
    return tagged(request, page)


# An offset "+08:00" written into a URL unencoded arrives as " 08:00" (a query string reads
# '+' as a space): the updated_at a mirror pastes back is read as it was written.
_OFFSET_AS_SPACE = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)"
)


def _since(value: str) -> datetime:
    plus = _OFFSET_AS_SPACE.fullmatch(value.strip())
    try:
        return when.parse_time(f"{plus[1]}+{plus[2]}" if plus else value)
    except when.TimeError as exc:
        code = "time_out_of_range" if exc.code == "time_out_of_range" else "bad_time"
        raise Problem(code, f"updated_since: {exc}") from None


def _csv_stream(
    index: StationIndex,
    positions: npt.NDArray[np.intp],
    *,
    total: int,
    at: datetime | None = None,
) -> Response:
    """Every match as CSV, streamed (see :func:`_csv_chunks`); with ``at``, the mobile
    stations at their stops."""
    return StreamingResponse(
        _csv_chunks(index, positions, at=at),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="stations.csv"',
            "X-Total-Count": str(total),
        },
    )


CSV_CHUNK_STATIONS = 1000


def _csv_chunks(
    index: StationIndex, positions: npt.NDArray[np.intp], *, at: datetime | None = None
) -> Iterator[str]:
    """The CSV of every station at ``positions`` of this snapshot, a thousand rows at a
    time: memory stays near one chunk's, whatever the registry's size."""
    yield "\ufeff" + stations_csv([])  # the header row
    for start in range(0, len(positions), CSV_CHUNK_STATIONS):
        chunk = [
            index.stations[p] if at is None else index.placed_station(p, at)
            for p in positions[start : start + CSV_CHUNK_STATIONS]
        ]
        yield stations_csv(chunk).split("\n", 1)[1]  # without its header row


def page_links(request: Request, *, offset: int, limit: int, total: int) -> str:
    """RFC 8288 ``Link`` header value for the next and previous pages (empty: neither)."""
    links = []
    if offset + limit < total:
        links.append((this_url(request, offset=offset + limit, limit=limit), "next"))
    if offset > 0:
        links.append((this_url(request, offset=max(0, offset - limit), limit=limit), "prev"))
    return ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)


@router.get(
    "/stations/{station_id}",
    summary="One station, with its 上图 listings",
    description=(
        "The station's record: its fields, 上图 listings, navigation links, its phone page "
        "(`page_url`), and its operations: `rating` {average, count}, `stars`, "
        "`last_confirmed` {at, how, label} (re-read every minute or so; rating comments "
        "are never public); `event` (its 活动 on now) and `next_event` (the next one), null "
        'when none. `ETag` is `"<version>.<hash>"`: `If-None-Match` with it '
        "answers 304 while the record is unchanged (an event starting, ending or changed "
        "changes it too), and If-Match on PATCH and DELETE takes it (its version)."
    ),
    responses={**doc.record_schema("The station's record"), 304: _NOT_MODIFIED},
)
def get_station(
    request: Request,
    station_id: StationId,
    index: IndexDep,
    services: ServicesDep,
    crs: Annotated[str, Query(description="position in wgs84 | gcj02 | bd09")] = "wgs84",
    f: Annotated[str, Query(description="json | geojson")] = "json",
) -> Response:
    station = index.get(station_id)
    if station is None:
        raise Problem("station_not_found", f"no station with id {station_id}")
    doc = station_json(
        station,
        districts=services.districts,
        threshold_m=index.threshold_m,
        crs=parse_crs_param(crs),
        ops=ops_of(request),
        events=request.app.state.events.current(),
    )
    if f == "geojson":
        response = json_response(feature(doc, station), media_type=GEOJSON)
    elif f == "json":
        response = json_response(doc)
    else:
        raise Problem("bad_format", f"f={f!r}: use json or geojson")
    # "<version>.<body hash>": rating, stars, last_confirmed and the event fields change
    # outside versions.
    return tagged(request, response, version=station.version)
