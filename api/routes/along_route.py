"""Along-route search for riders between orders: GET with a WKT route, POST with GeoJSON.

Its own router, included before ``api.routes.stations`` so that ``/v1/stations/{station_id}``
does not take ``along-route`` for an id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import shapely
from fastapi import APIRouter, Request
from shapely.errors import GEOSException
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api import schema_docs as doc
from api.deps import get_index, parse_amenities, parse_crs_param, parse_statuses, parse_time
from api.params import Param, QuerySpec
from api.problems import Problem
from api.representation import GEOJSON, feature, nearest_results
from api.responses import json_response
from api.routes.stations import NEAREST, ops_of
from geodata import when
from geodata.along_route import (
    MAX_DISTANCE_M,
    MAX_ROUTE_M,
    MAX_VERTICES,
    MIN_DISTANCE_M,
    Route,
    RouteError,
    TooMuchWorkError,
    check_distance,
    check_route,
)
from geodata.crs import CoordinateSystem, to_wgs84
from geodata.hours import TZ
from stations.domain.model import Status
from stations.readmodel.index import StationIndex, computing
from stations.services.along_route import (
    DEFAULT_LIMIT,
    DEFAULT_SPEED_KMH,
    MAX_LIMIT,
    MAX_SPEED_KMH,
    MIN_SPEED_KMH,
    AlongRoutePage,
    AlongRouteQuery,
    stations_along_route,
)

router = APIRouter(prefix="/v1", tags=["stations"])

# A POST body larger than this is refused before it is parsed: 10,000 vertices written
# with 15 digits and spaces take about 0.5 MB.
MAX_BODY_BYTES = 2 * 1024 * 1024
_TOKEN_PREFIX = "a1."  # noqa: S105 - a format tag, not a secret

_NEAREST = {p.name: p for p in NEAREST.params}
# The parameters shared with nearest: the same names, defaults, checks and descriptions.
_SHARED = ("crs", "out_crs", "open_now", "at", "self_service", "amenity", "status", "f")

ALONG = QuerySpec(
    Param(
        "route",
        str,
        "the route as WKT, `LINESTRING(lon lat, lon lat, ...)` in `crs`: each segment is "
        "the shorter geodesic between its vertices (a route may cross 180°); at most "
        f"{MAX_VERTICES:,} vertices and {MAX_ROUTE_M / 1000:,.0f} km (long routes: POST)",
        required=True,
        example="LINESTRING(106.5516 29.5630, 106.5772 29.5570, 106.5860 29.5640)",
    ),
    Param(
        "distance_m",
        float,
        "stations within this many metres of the route, on the ellipsoid",
        500.0,
        schema=doc.between(MIN_DISTANCE_M, MAX_DISTANCE_M),
    ),
    Param(
        "limit",
        int,
        f"stations per page (1–{MAX_LIMIT})",
        DEFAULT_LIMIT,
        schema=doc.between(1, MAX_LIMIT),
    ),
    Param(
        "next",
        str,
        "the previous page's `next`: the same request with it gives the next page "
        "(`limit`, `out_crs` and `f` may change; anything else gives 400 `bad_page_token`)",
    ),
    Param(
        "speed_kmh",
        float,
        "the rider's speed along the route, for `arrival` = `at` + `along_m` / speed",
        DEFAULT_SPEED_KMH,
        schema=doc.between(MIN_SPEED_KMH, MAX_SPEED_KMH),
    ),
    Param(
        "open_on_arrival",
        bool,
        "only stations open when the rider gets there (`arrival`)",
        False,
    ),
    *(_NEAREST[name] for name in _SHARED),
)

_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["route"],
    "additionalProperties": False,
    "properties": {
        "route": {
            "description": "a GeoJSON LineString (or a Feature of one, or WKT as in GET), "
            "positions in `crs`",
            "type": ["object", "string"],
            "example": {
                "type": "LineString",
                "coordinates": [[106.5516, 29.5630], [106.5772, 29.5570], [106.5860, 29.5640]],
            },
        },
        **{
            p.name: {**p.openapi()["schema"], "description": p.description}
            for p in ALONG.params
            if p.name != "route"
        },
    },
}

_DESCRIPTION = (
    "Every station passing the filters within `distance_m` of the route, ordered along it "
    "(by `along_m`, then id), a page of `limit` at a time. Each has the fields of a nearest "
    "result (`distance_m` is its distance from the route and `bearing_deg` the bearing from "
    "the route's nearest point to it) and `along_m` (metres along the route from its start "
    "to that nearest point), `offset_m` (metres from it, geodesic on WGS-84), `arrival` "
    "(`at` + `along_m` / `speed_kmh`: a steady speed along the route, not a travel-time "
    "model) and `open_on_arrival` (by its hours then, in Asia/Shanghai with China's "
    "holidays and make-up working days, as `open_now`). Positions in and out are in `crs` "
    "(`out_crs` to give them back in another). `next` is a token for the following page "
    "(null on the last), valid for the same request. A mobile station (流动驿站, a bus) is "
    "along the route at a stop near it where it stands on the rider's `arrival` there "
    "(`mobile: true`, the stop's position, `stop_name`, `stop_until`); fixed stations carry "
    "`mobile: false`. Every result carries `event` and `next_event` (the station's 活动 at "
    "`at` and the next one; null: none). "
)


@router.get(
    "/stations/along-route",
    summary="The stations along a route, in order along it",
    description=_DESCRIPTION + "Routes too long for a URL: POST the same as JSON.",
    responses=doc.result_schema("The stations along the route, in order along it"),
    openapi_extra=ALONG.openapi(),
)
async def along_route_get(request: Request) -> Response:
    q = ALONG.parse(request.query_params)
    index = await get_index(request)
    # In a worker thread: a long route costs tens of milliseconds, which would hold up
    # every other request of the worker on the event loop.
    return await run_in_threadpool(_answer, request, index, q, _wkt_positions)


@router.post(
    "/stations/along-route",
    summary="The stations along a route given as GeoJSON (long routes)",
    description=_DESCRIPTION
    + "The body holds `route` (a GeoJSON LineString) and every parameter of the GET form "
    f"by the same name (`crs`, `distance_m`, `amenity`, ...); the query string is not read. "
    f"At most {MAX_BODY_BYTES // 1024 // 1024} MB.",
    responses=doc.result_schema("The stations along the route, in order along it"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        }
    },
)
async def along_route_post(request: Request) -> Response:
    raw = await _read_body(request)
    index = await get_index(request)
    return await run_in_threadpool(_answer_body, request, index, raw)


# -- parsing ------------------------------------------------------------------------------

Positions = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _wkt_positions(route: Any) -> Positions:
    """lon and lat of a WKT LINESTRING (a Z or M is dropped)."""
    try:
        geometry = shapely.from_wkt(route)
    except (GEOSException, ValueError, TypeError) as exc:
        text = str(exc).split("\n")[0][:200]
        raise Problem("bad_route", f"route 不是可读的 WKT LINESTRING：{text}") from None
    if geometry is None or geometry.geom_type != "LineString":
        kind = "空值" if geometry is None else geometry.geom_type
        raise Problem("bad_route", f"route 须是 LINESTRING，而不是 {kind}")
    xy = shapely.get_coordinates(geometry)
    return xy[:, 0].copy(), xy[:, 1].copy()


def _geojson_positions(route: Any) -> Positions:
    """lon and lat of a GeoJSON LineString geometry (or a Feature of one; or WKT text)."""
    if isinstance(route, str):
        return _wkt_positions(route)
    if isinstance(route, dict) and route.get("type") == "Feature":
        route = route.get("geometry")
    if not isinstance(route, dict) or route.get("type") != "LineString":
        kind = route.get("type") if isinstance(route, dict) else type(route).__name__
        raise Problem("bad_route", f"route 须是 GeoJSON LineString，而不是 {kind}")
    coordinates = route.get("coordinates")
    if not isinstance(coordinates, list):
        raise Problem("bad_route", "route 的 coordinates 须是 [[经度, 纬度], …] 列表")
    if len(coordinates) > MAX_VERTICES:
        raise Problem(
            "route_too_long", f"路线有 {len(coordinates):,} 个点，一次最多查询 {MAX_VERTICES:,} 个"
        )
    for i, position in enumerate(coordinates):
        if not (
            isinstance(position, list)
            and 2 <= len(position) <= 3
            and all(_is_number(v) for v in position)
        ):
            raise Problem(
                "bad_route", f"route 的第 {i + 1} 个点不是 [经度, 纬度]：{position!r}"[:300]
            )
    xy = np.array([p[:2] for p in coordinates], dtype=np.float64).reshape(-1, 2)
    return xy[:, 0].copy(), xy[:, 1].copy()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def _read_body(request: Request) -> bytes:
    """The request's body, refused with 413 past :data:`MAX_BODY_BYTES` (before reading
    it when its length is declared)."""
    limit = f"{MAX_BODY_BYTES // 1024 // 1024} MB"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_BODY_BYTES):
        raise Problem("payload_too_large", f"请求正文超过 {limit} 的上限：请简化路线或分段查询")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Problem("payload_too_large", f"请求正文超过 {limit} 的上限：请简化路线或分段查询")
        chunks.append(chunk)
    return b"".join(chunks)


def _body_params(raw: bytes) -> tuple[dict[str, Any], Any]:
    """The parameters of a POST body, as ``ALONG.parse`` gives them, and its route."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem("bad_request", f"请求正文不是 JSON：{exc}") from None
    if not isinstance(body, dict):
        raise Problem("bad_request", '请求正文须是 JSON 对象：{"route": {…}, …}')
    known = {p.name for p in ALONG.params}
    errors = [
        {"field": name, "code": "unknown", "message": "不是这个接口的参数"}
        for name in body
        if name not in known
    ]
    if "route" not in body:
        errors.append({"field": "route", "code": "missing", "message": "Field required"})
    out: dict[str, Any] = {}
    for p in ALONG.params:
        value = body.get(p.name)
        if p.name == "route" or value is None:
            out[p.name] = p.default
            continue
        try:
            out[p.name] = _json_value(p, value)
        except ValueError as exc:
            errors.append({"field": p.name, "code": "invalid", "message": str(exc)})
    if errors:
        names = ", ".join(e["field"] for e in errors)
        raise Problem("invalid_parameter", f"这些参数无效：{names}", errors=errors)
    return out, body["route"]


def _json_value(p: Param, value: Any) -> Any:
    """A JSON value for parameter ``p``, checked as the query string's text would be."""
    if p.repeat:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            msg = "Input should be a string or a list of strings"
            raise ValueError(msg)
        return values
    if p.kind is bool and isinstance(value, bool):
        return value
    if p.kind is str and isinstance(value, str):
        return value
    if p.kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if p.kind is float and _is_number(value) and math.isfinite(value):
        return float(value)
    msg = f"Input should be a valid {doc_type(p.kind)}"
    raise ValueError(msg)


def doc_type(kind: type) -> str:
    return {bool: "boolean", str: "string", int: "integer", float: "number"}[kind]


@dataclass(frozen=True, slots=True)
class _Checked:
    query: AlongRouteQuery
    crs: CoordinateSystem
    out: CoordinateSystem
    out_crs: CoordinateSystem | None
    f: str
    key: str  # names the request for its page tokens


def _route_in_wgs84(lon: Any, lat: Any, crs: CoordinateSystem) -> Route:
    try:
        given = check_route(lon, lat)  # finite, on Earth, within the limits, as given
        wlon, wlat = to_wgs84(given.lon, given.lat, crs=crs)
        return check_route(np.asarray(wlon), np.asarray(wlat))
    except RouteError as exc:
        code = "route_too_long" if exc.code == "too_long" else "bad_route"
        raise Problem(code, f"route：{_ROUTE_ZH.get(exc.code, '')}{exc}") from None


_ROUTE_ZH = {
    "too_long": f"路线超过一次查询的上限（{MAX_ROUTE_M / 1000:.0f} 公里、{MAX_VERTICES} 个点）：",
    "bad_route": "路线不能查询：",
}


def _check_ranges(q: dict[str, Any]) -> None:
    """Format, limit, distance and speed, in that order."""
    f, limit, distance_m, speed = q["f"], q["limit"], q["distance_m"], q["speed_kmh"]
    if f not in ("json", "geojson"):
        raise Problem("bad_format", f"f={f!r}：请用 json 或 geojson")
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem("out_of_range", f"limit={limit} 超出范围：1 到 {MAX_LIMIT}")
    try:
        check_distance(distance_m)
    except RouteError:
        raise Problem(
            "out_of_range",
            f"distance_m={distance_m} 超出范围：{MIN_DISTANCE_M:.0f} 到 {MAX_DISTANCE_M:.0f} 米",
        ) from None
    if not MIN_SPEED_KMH <= speed <= MAX_SPEED_KMH:
        raise Problem(
            "out_of_range",
            f"speed_kmh={speed} 超出范围：{MIN_SPEED_KMH:.0f} 到 {MAX_SPEED_KMH:.0f} 公里每小时",
        )


def _check(q: dict[str, Any], positions: Positions) -> _Checked:
    """The along-route question from its parameters, checked in this order: format,
    limit, distance, speed, crs, route, statuses, amenities, out_crs, page token, time."""
    _check_ranges(q)
    crs = parse_crs_param(q["crs"])
    route = _route_in_wgs84(*positions, crs)
    statuses = parse_statuses(q["status"], default=(Status.ACTIVE,))
    amenities = parse_amenities(q["amenity"])
    out_crs = None if q["out_crs"] is None else parse_crs_param(q["out_crs"])
    token = _read_token(q["next"]) if q["next"] else None
    at = parse_time(q["at"] if q["at"] or token is None else token[3])
    query = AlongRouteQuery(
        route=route,
        distance_m=q["distance_m"],
        at=at,
        speed_kmh=q["speed_kmh"],
        limit=q["limit"],
        open_now=q["open_now"],
        open_on_arrival=q["open_on_arrival"],
        self_service=q["self_service"],
        amenities=tuple(sorted(set(amenities))),
        statuses=tuple(sorted(set(statuses), key=list(Status).index)),
    )
    key = _request_key(query)
    if token is not None:
        if token[0] != key:
            raise Problem(
                "bad_page_token",
                "next 不属于这次查询：路线、距离、筛选条件、at 或 speed_kmh 与取得它的查询不同",
            )
        query.after = (token[1], token[2])
    out = crs if out_crs is None else out_crs
    return _Checked(query, crs, out, out_crs, q["f"], key)


def _request_key(q: AlongRouteQuery) -> str:
    """A digest of everything that decides the stations and their order (not the page
    size nor how positions are written)."""
    h = hashlib.sha256(q.route.lon.tobytes() + q.route.lat.tobytes())
    h.update(
        orjson.dumps(
            [
                q.distance_m,
                q.at.astimezone(TZ).isoformat(),  # the instant, however it was written
                q.speed_kmh,
                q.open_now,
                q.open_on_arrival,
                q.self_service,
                list(q.amenities),
                [s.value for s in q.statuses],
            ]
        )
    )
    return h.hexdigest()[:24]


def _make_token(key: str, last: tuple[float, int], at: datetime) -> str:
    data = orjson.dumps([key, last[0], last[1], at.astimezone(TZ).isoformat()])
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(data).decode().rstrip("=")


def _read_token(text: str) -> tuple[str, float, int, str]:
    """(request key, along_m, id, at) of a page token; a damaged one is a 400."""
    bad = Problem("bad_page_token", "next 不是本接口给出的翻页标记（可能被截断或改动）")
    if not text.startswith(_TOKEN_PREFIX) or len(text) > 400:
        raise bad
    body = text[len(_TOKEN_PREFIX) :]
    try:
        key, along, station_id, at = orjson.loads(
            base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        )
        when.parse_time(at)
    except (ValueError, TypeError, binascii.Error, when.TimeError):
        raise bad from None
    if not (
        isinstance(key, str)
        and _is_number(along)
        and math.isfinite(along)
        and isinstance(station_id, int)
        and not isinstance(station_id, bool)
    ):
        raise bad
    return key, float(along), station_id, at


# -- answering ----------------------------------------------------------------------------


def _answer(request: Request, index: StationIndex, q: dict[str, Any], read: Any) -> Response:
    """The answer to parameters ``q`` (``read`` gives the route's positions)."""
    return _respond(request, index, _check(q, read(q["route"])))


def _answer_body(request: Request, index: StationIndex, raw: bytes) -> Response:
    q, route = _body_params(raw)
    return _respond(request, index, _check(q, _geojson_positions(route)))


def _respond(request: Request, index: StationIndex, c: _Checked) -> Response:
    try:
        with computing():  # the request's turn (api/heavy.py)
            page = stations_along_route(index, c.query)
    except TooMuchWorkError as exc:
        detail = f"这条路线要查的驿站太多：请缩短路线或减小 distance_m 后分段查询（{exc}）"
        raise Problem("too_much_work", detail) from None
    memo_limit = request.app.state.services.settings.nearest_memo_stations
    results = nearest_results(
        index,
        page.hits,
        c.out,
        memo_limit=memo_limit,
        ops=ops_of(request),
        at=c.query.at,
        events=request.app.state.events.current(),
    )
    for i, r in enumerate(results):
        r.update(_along_part(page, i))
    token = None if page.last is None else _make_token(c.key, page.last, c.query.at)
    body: dict[str, Any] = {"query": _echo(c), "count": len(results), "total": page.total}
    if page.total == 0:
        body["hint"] = (
            f"路线 {c.query.distance_m:g} 米内没有符合条件的驿站："
            "请加大 distance_m 或放宽筛选条件。"
        )
    body["next"] = token
    if c.f == "geojson":
        features = [
            feature(r, h.station, at=p)
            for r, h, p in zip(results, page.hits, page.placements, strict=True)
        ]
        return json_response(
            {"type": "FeatureCollection", **body, "features": features}, media_type=GEOJSON
        )
    return json_response({**body, "stations": results})


def _along_part(page: AlongRoutePage, i: int) -> dict[str, Any]:
    return {
        "along_m": round(page.along_m[i], 2),
        "offset_m": round(page.offset_m[i], 2),
        "arrival": page.arrival[i].isoformat(timespec="seconds"),
        "open_on_arrival": page.open_on_arrival[i],
    }


def _echo(c: _Checked) -> dict[str, Any]:
    """``query``: every parameter as understood (the route by its size, not its positions)."""
    q = c.query
    echo: dict[str, Any] = {
        "route": {"vertices": len(q.route.lon), "length_m": round(q.route.length_m, 1)},
        "crs": c.crs.value,
        "distance_m": q.distance_m,
        "limit": q.limit,
        "at": q.at.isoformat(),
        "speed_kmh": q.speed_kmh,
        "open_now": q.open_now,
        "open_on_arrival": q.open_on_arrival,
        "self_service": q.self_service,
        "amenity": list(q.amenities),
        "status": [s.value for s in q.statuses],
    }
    if c.out_crs is not None:
        echo["out_crs"] = c.out_crs.value
    return echo
