"""Request dependencies and the parsing of shared query parameters into domain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from api.problems import Problem
from geodata import when
from geodata.crs import CoordinateSystem, parse_crs, to_wgs84
from geodata.districts import Districts
from geodata.hours import TZ
from stations.config import Settings
from stations.domain.listings import mapped_filter
from stations.domain.model import AMENITIES, AMENITY_LABELS, Owner, Status
from stations.domain.travel import Travel, parse_travel
from stations.domain.validation import PositionVerdict, on_earth, position_verdict
from stations.readmodel.index import IndexHolder, StationIndex
from stations.readmodel.network import NetworkHolder
from stations.services.nearest import NearestQuery
from stations.storage.store import Store


@dataclass
class Services:
    """What the app holds for its lifetime; built by create_app, not at import time."""

    settings: Settings
    store: Store
    districts: Districts
    index: IndexHolder


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_index(request: Request) -> StationIndex:
    # async: a plain def would cost a thread-pool hop per request (~140 µs measured); the
    # body is one small SQLite read (the registry's version), microseconds, or with
    # PostgreSQL a clock read (a watcher thread asks the database; see IndexHolder).
    return get_services(request).index.current()


ServicesDep = Annotated[Services, Depends(get_services)]
IndexDep = Annotated[StationIndex, Depends(get_index)]
# Ids are SQLite/PostgreSQL 64-bit integers; a larger number is a bad request, not a crash.
MAX_ID = 2**63 - 1
# The largest offset a page may start at: SQLite takes no larger, and it is echoed back.
MAX_OFFSET = 2**31 - 1
StationId = Annotated[int, Path(ge=1, le=MAX_ID, description="the station's id", examples=[1])]
# A page of a station listing (/v1/stations and the OGC items, both slices of the in-memory
# index) holds at most this many stations. The feedback list (api/routes/feedback.py,
# 1000) is another rule: an authenticated read of the store per request (SQL LIMIT), with
# its own bound.
MAX_LIMIT = 10_000
# The nearest query's bounds (/v1/stations/nearest).
MAX_K = 100
MAX_RADIUS_M = 500_000.0


def networks_of(request: Request) -> NetworkHolder:
    """This worker's street networks (travel=walk|ebike; see NetworkHolder)."""
    holder: NetworkHolder = request.app.state.networks
    return holder


def parse_time(value: str | None) -> datetime:
    """An ISO 8601 time (see :func:`geodata.when.parse_time`); None means now."""
    if value is None or value == "":
        return datetime.now(TZ)
    try:
        return when.parse_time(value)
    except when.TimeError as exc:
        code = "time_out_of_range" if exc.code == "time_out_of_range" else "bad_time"
        raise Problem(code, f"at: {exc}") from None


async def one_file_part(request: Request) -> None:
    """Refuse a multipart form with several ``file`` parts (only one would be read)."""
    # The form is parsed once per request (Starlette keeps it); this reads it again.
    parts = (await request.form()).getlist("file")
    if len(parts) > 1:
        raise Problem(
            "invalid_parameter",
            f"file: {len(parts)} parts named file were sent; send one file per request",
            errors=[{"field": "file", "code": "several_files", "message": "one file only"}],
        )


def parse_crs_param(value: str) -> CoordinateSystem:
    try:
        return parse_crs(value)
    except ValueError as exc:
        raise Problem("bad_crs", str(exc)) from None


def parse_point(lon: float, lat: float, crs: CoordinateSystem) -> tuple[float, float]:
    """Check a query point and return it in WGS-84; explain swapped axes."""
    verdict = position_verdict(lon, lat)
    if not on_earth(lon, lat):
        hint = " (lat and lon look swapped)" if on_earth(lat, lon) else ""
        raise Problem(
            "bad_coordinates",
            f"lon={lon}, lat={lat} is not a position: lon is -180..180, lat is -90..90{hint}",
            swapped=bool(hint),
        )
    if verdict is PositionVerdict.SWAPPED:
        raise Problem(
            "bad_coordinates",
            f"lon={lon}, lat={lat} is outside China, but lon={lat}, lat={lon} is inside: "
            "lat and lon look swapped",
            swapped=True,
        )
    if verdict is PositionVerdict.OUTSIDE_CHINA:
        raise Problem(
            "outside_china",
            f"lon={lon}, lat={lat} is outside China; yizhan covers stations in China only",
        )
    wlon, wlat = to_wgs84(lon, lat, crs=crs)
    return float(wlon), float(wlat)


def parse_amenities(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for raw in values or ():
        for value in raw.split(","):
            v = value.strip()
            if not v:
                continue
            if v not in AMENITIES:
                allowed = ", ".join(f"{a} ({AMENITY_LABELS[a]})" for a in AMENITIES)
                raise Problem(
                    "unknown_amenity",
                    f"unknown amenity {v!r}; allowed: {allowed}",
                    allowed=list(AMENITIES),
                )
            out.append(v)
    return tuple(out)


def parse_statuses(values: list[str] | None, *, default: tuple[Status, ...]) -> tuple[Status, ...]:
    if not values:
        return default
    out: list[Status] = []
    for raw in values:
        for value in raw.split(","):
            v = value.strip()
            if v in ("any", "all"):
                return tuple(Status)
            try:
                out.append(Status(v))
            except ValueError:
                allowed = ", ".join(s.value for s in Status)
                raise Problem(
                    "unknown_status", f"unknown status {v!r}; allowed: {allowed}, any"
                ) from None
    return tuple(out)


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS-84 (OGC API order)."""
    if value is None or value == "":
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not (parts[0] <= parts[2] and parts[1] <= parts[3]):
        raise Problem(
            "bad_bbox",
            f"bbox={value!r} must be minlon,minlat,maxlon,maxlat with min <= max (WGS-84)",
        )
    return parts[0], parts[1], parts[2], parts[3]


def parse_nearest(q: dict[str, Any]) -> NearestQuery:
    """The nearest query from its parameters as ``NEAREST.parse`` gives them, checked in
    this order: format, k, radius, crs, point, time, statuses, amenities, out_crs, travel."""
    f, k, radius_m = q["f"], q["k"], q["radius_m"]
    if f not in ("json", "geojson"):
        raise Problem("bad_format", f"f={f!r}: use json or geojson")
    if not 1 <= k <= MAX_K:
        raise Problem("out_of_range", f"k={k} is out of range: 1 to {MAX_K}")
    if radius_m is not None and not 0 < radius_m <= MAX_RADIUS_M:
        raise Problem(
            "out_of_range",
            f"radius_m={radius_m} is out of range: more than 0, at most {MAX_RADIUS_M:.0f}",
        )
    system = parse_crs_param(q["crs"])
    lon, lat = q["lon"], q["lat"]
    wlon, wlat = parse_point(lon, lat, system)
    return NearestQuery(
        lon=lon,
        lat=lat,
        crs=system,
        wlon=wlon,
        wlat=wlat,
        at=parse_time(q["at"]),
        k=k,
        radius_m=radius_m,
        open_now=q["open_now"],
        self_service=q["self_service"],
        statuses=parse_statuses(q["status"], default=(Status.ACTIVE,)),
        amenities=parse_amenities(q["amenity"]),
        # Only converted when asked: the default answer and its cost are as without out_crs.
        out_crs=None if q["out_crs"] is None else parse_crs_param(q["out_crs"]),
        travel=None if q["travel"] is None else parse_travel_param(q["travel"]),
    )


def parse_travel_param(value: str) -> Travel | None:
    """``travel``: walk or ebike (None: straight, the default); else a problem in Chinese."""
    try:
        return parse_travel(value)
    except ValueError as exc:
        raise Problem(
            "invalid_parameter",
            f"travel: {exc}",
            errors=[{"field": "travel", "code": "invalid", "message": str(exc)}],
        ) from None


def parse_listing_filters(
    districts: Districts,
    *,
    district: str | None,
    owner: str | None,
    bbox: str | None,
    status: list[str] | None,
    mapped: str | None,
    self_service: bool | None,
    amenity: list[str] | None,
) -> dict[str, Any]:
    """The filters of a station listing, checked, as ``StationIndex.select`` takes them."""
    if district is not None and district not in districts:
        raise Problem(
            "unknown_district",
            f"没有行政区划代码为 {district!r} 的区县或省份（no district with adcode {district!r}）",
        )
    try:
        owner_value = Owner.parse(owner) if owner else None
        mapped_states = () if mapped is None else mapped_filter(mapped)
    except ValueError as exc:
        raise Problem("invalid_parameter", str(exc)) from None
    return {
        "district": district,
        "owner": owner_value,
        "bbox": parse_bbox(bbox),
        "statuses": parse_statuses(status, default=()),
        "mapped": mapped_states,
        "self_service": self_service,
        "amenities": parse_amenities(amenity),
    }
