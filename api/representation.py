"""How stations look on the wire: JSON records, GeoJSON features, CSV rows, navigation links."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson
from starlette.responses import Response

from api.responses import JSON, json_response
from geodata.crs import CoordinateSystem, from_wgs84
from geodata.districts import Districts
from geodata.hours import TZ
from stations.domain.listings import is_precise, listing_offsets, mapped_states
from stations.domain.mobile import Placement, at_stop
from stations.domain.model import Station
from stations.domain.records import station_to_dict, stop_to_dict
from stations.formats.io import write_csv
from stations.readmodel.index import Hit, PerStationName, StationIndex
from stations.readmodel.ops import OpsSnapshot
from stations.services.events import EventsCalendar, add_event_fields, event_parts
from stations.services.nearest import NearestQuery, RouteAnswer

GEOJSON = "application/geo+json"

# Per snapshot, at most this many stations keep their serialised nearest-result part
# (~1.6 KB each with their links); beyond it the memo starts again, so memory stays
# bounded at any scale. Set by YIZHAN_NEAREST_MEMO_STATIONS.
NEAREST_MEMO_LIMIT = 250_000


def links_at(name: str, glon: float, glat: float, blon: float, blat: float) -> dict[str, str]:
    """Links that open a place named ``name`` in Amap and Baidu, at its GCJ-02 and BD-09
    positions (each provider's own system).

    ``amap``/``baidu`` are web links that hand over to the app when it is installed
    (``callnative=1``) and otherwise work in the browser; ``*_app`` are the app schemes.
    Baidu's web link is its marker page (the place, with its own 到这里去): its web
    direction page needs an origin, which a link made before the rider taps has not; its
    app plans from where the phone is.

    Written out rather than through ``urlencode`` (5× slower): every value is
    percent-encoded with ``quote(safe="")``, as ``urlencode(quote_via=quote)`` does.
    """
    n = quote(name, safe="")
    gx, gy = f"{glon:.6f}", f"{glat:.6f}"
    b = f"{blat:.6f}%2C{blon:.6f}"  # Baidu writes latitude first
    return {
        "amap": f"https://uri.amap.com/navigation?to={gx}%2C{gy}%2C{n}"
        "&mode=walk&coordinate=gaode&callnative=1&src=yizhan",
        "amap_app": f"amapuri://route/plan/?dlat={gy}&dlon={gx}&dname={n}"
        "&dev=0&t=2&sourceApplication=yizhan",
        "baidu": f"https://api.map.baidu.com/marker?location={b}&title={n}&content={n}"
        "&coord_type=bd09ll&output=html&src=yizhan",
        "baidu_app": f"baidumap://map/direction?destination=latlng%3A{b}%7Cname%3A{n}"
        "&mode=walking&coord_type=bd09ll&src=yizhan",
    }


def page_url(station: Station) -> str | None:
    """The station's own phone page, the one its poster's QR code opens (relative)."""
    return f"/s/{station.code}" if station.code else None


def station_json(
    station: Station,
    *,
    districts: Districts,
    threshold_m: float,
    crs: CoordinateSystem = CoordinateSystem.WGS84,
    ops: OpsSnapshot | None = None,
    events: EventsCalendar | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The full public record of a station, with derived 上图 figures and links (and with
    ``ops``, its rating, stars and last confirmation; with ``events``, its ``event`` and
    ``next_event`` at ``at``, default now)."""
    return stations_json(
        [station],
        districts=districts,
        threshold_m=threshold_m,
        crs=crs,
        ops=ops,
        events=events,
        at=at,
    )[0]


def stations_json(
    stations: Sequence[Station],
    *,
    districts: Districts,
    threshold_m: float,
    crs: CoordinateSystem = CoordinateSystem.WGS84,
    ops: OpsSnapshot | None = None,
    events: EventsCalendar | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """:func:`station_json` of each station, converting the positions in bulk: one at a
    time, the listings' GCJ-02/BD-09 inverses cost ~0.5 ms a station (5 s for a page of
    10,000), and the navigation links' forward ones ~40 µs. With ``events``, each one's
    ``event`` and ``next_event`` at ``at`` (default now), as every nearest result has them
    (stations.services.events.add_event_fields, under :func:`extra_fields`' event_parts)."""
    offsets = listing_offsets(stations)
    lon, lat = np.array([s.lon for s in stations]), np.array([s.lat for s in stations])
    out_lon, out_lat = from_wgs84(lon, lat, crs=crs) if stations else (lon, lat)
    (glon, glat), (blon, blat) = (
        from_wgs84(lon, lat, crs=system) if stations else (lon, lat)
        for system in (CoordinateSystem.GCJ02, CoordinateSystem.BD09)
    )
    states = mapped_states(stations, threshold_m=threshold_m, offsets=offsets)
    stops = _stops_in(stations, crs)
    docs = []
    for i, station in enumerate(stations):
        doc = station_to_dict(station)
        if crs is not CoordinateSystem.WGS84:
            doc["lon"], doc["lat"] = float(out_lon[i]), float(out_lat[i])
        doc["crs"] = crs.value
        doc["mobile"] = station.mobile
        doc["stops"] = next(stops) if station.stops else []
        district = districts.find(station.district_adcode)
        doc["district_name"] = district.name if district else None
        for listing_doc, listing in zip(doc["listings"], station.listings, strict=True):
            offset = float(offsets[listing.provider][i])
            known = listing.listed and listing.has_position and offset == offset  # not NaN
            listing_doc["offset_m"] = round(offset, 2) if known else None
            listing_doc["precise"] = is_precise(offset, threshold_m=threshold_m) if known else None
        doc["page_url"] = page_url(station)
        doc["mapped_state"] = states[i].value
        doc["navigation"] = links_at(
            station.name, float(glon[i]), float(glat[i]), float(blon[i]), float(blat[i])
        )
        if ops is not None:
            doc.update(ops.fields(station.id))
        docs.append(doc)
    if events is not None:
        when = datetime.now(TZ) if at is None else at
        add_event_fields(docs, [s.id or 0 for s in stations], events, when)
    return docs


def _stops_in(stations: Sequence[Station], crs: CoordinateSystem) -> Iterator[list[dict[str, Any]]]:
    """The stops of each mobile station among ``stations`` (in order), positions in ``crs``
    (converted in one call for all of them)."""
    every = [stop for s in stations for stop in s.stops]
    if every and crs is not CoordinateSystem.WGS84:
        x, y = from_wgs84([p.lon for p in every], [p.lat for p in every], crs=crs)
        xs, ys = x.tolist(), y.tolist()
    else:
        xs, ys = [p.lon for p in every], [p.lat for p in every]
    at = 0
    for station in stations:
        if not station.stops:
            continue
        docs = [stop_to_dict(stop) for stop in station.stops]
        for k, doc in enumerate(docs):
            doc["lon"], doc["lat"] = float(xs[at + k]), float(ys[at + k])
        at += len(docs)
        yield docs


def feature(
    properties: dict[str, Any], station: Station, *, at: Placement | None = None
) -> dict[str, Any]:
    """A GeoJSON Feature; the geometry is WGS-84 as RFC 7946 requires: the station's, or
    with ``at`` the stop where the mobile station stands."""
    lon, lat = (station.lon, station.lat) if at is None else (at.stop.lon, at.stop.lat)
    return {
        "type": "Feature",
        "id": station.id,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def placed_fields(station: Station, at: Placement | None) -> dict[str, Any]:
    """The fields of a result placed at a time: a fixed station's ``mobile: false``; a
    mobile one's stop (``stop_name``, ``stop_until`` ISO 8601 Asia/Shanghai or null) and
    ``mobile: true``, and the stop's hours as the union wrote them (``stop_hours``). Its
    position is the stop's: the caller puts it in the asked crs."""
    if at is None:
        return {"mobile": station.mobile}
    until = None if at.until is None else at.until.astimezone(TZ).isoformat()
    stop = at.stop
    return {
        "mobile": True,
        "stop_name": stop.name,
        "stop_until": until,
        "stop_hours": stop.hours_text or stop.hours,
    }


def stations_csv(stations: Iterable[Station]) -> str:
    """CSV text of stations (formula-neutralised, WGS-84) for spreadsheet users."""
    out = io.StringIO()
    write_csv(stations, out)
    return out.getvalue()


# The fields of the station record (station_to_dict) that nearest results leave out: the
# position is the query's part (in the asked system); the rest is for editors and the full
# record. Any other field of the record, a new one too, is in every nearest result.
NEAREST_LEAVES_OUT = frozenset(
    {
        "external_id",
        "owner",
        "lon",
        "lat",
        "source_lon",
        "source_lat",
        "source_crs",
        "signage_unified",
        "brand",
        "listings",
        "sample",
        "version",
        "updated_at",
    }
)

# Each station's serialised nearest-result part, kept per snapshot (see _nearest_fixed_parts).
NEAREST_PARTS = PerStationName[bytes]("nearest", limit=NEAREST_MEMO_LIMIT)


def nearest_record(station: Station, links: dict[str, str]) -> dict[str, Any]:
    """The fields of a nearest result that do not depend on the query: the station's
    record without :data:`NEAREST_LEAVES_OUT`, and its navigation links. (A mobile
    station's ``mobile`` and ``stops`` are left out too: the result says where it stands,
    :func:`_mobile_part`.)"""
    doc = station_to_dict(station)
    for name in NEAREST_LEAVES_OUT:  # deleting: half the time of a filtered copy
        del doc[name]
    if station.mobile:
        del doc["mobile"], doc["stops"]
    doc["navigation"] = links
    doc["page_url"] = page_url(station)
    return doc


def _placed_part(index: StationIndex, hit: Hit) -> bytes:
    """:func:`_nearest_fixed_parts` of a mobile station placed at a stop: navigation
    links to the stop (made per answer: a stop is not a station's own position)."""
    (glon, glat), (blon, blat) = (
        from_wgs84(hit.lon, hit.lat, crs=system)
        for system in (CoordinateSystem.GCJ02, CoordinateSystem.BD09)
    )
    station = index.stations[hit.position]
    links = links_at(station.name, float(glon), float(glat), float(blon), float(blat))
    return orjson.dumps(nearest_record(station, links))[1:-1]


_FIXED_PART = b'"mobile":false,'


def _mobile_part(hit: Hit) -> bytes:
    """``mobile`` (and, placed at a stop, ``stop_name`` and ``stop_until``) of a result."""
    placement = hit.placement
    if placement is None:
        return _FIXED_PART
    return orjson.dumps(placed_fields(hit.station, placement))[1:-1] + b","


def _nearest_fixed_parts(
    index: StationIndex, positions: Sequence[int], *, limit: int = NEAREST_MEMO_LIMIT
) -> list[bytes]:
    """The serialised fields of nearest results that do not depend on the query.

    Each is the object's members without its braces, to follow the query-dependent
    part. Kept per station in the snapshot (carried over to the next for the stations
    that did not change), at most ``limit`` of them: with the navigation links, each
    costs about 8 µs to make, as much as the nearest search for ten stations.
    """
    cache = index.per_station(NEAREST_PARTS)
    found = cache.get(positions)
    if None not in found:
        return found  # type: ignore[return-value]
    (glon, glat), (blon, blat) = index.gcj02, index.bd09
    made: dict[int, bytes] = {}
    for i, part in enumerate(found):
        if part is not None:
            continue
        p = positions[i]
        station = index.stations[p]
        links = links_at(
            station.name, float(glon[p]), float(glat[p]), float(blon[p]), float(blat[p])
        )
        made[p] = found[i] = orjson.dumps(nearest_record(station, links))[1:-1]
    cache.put(made, limit=limit)
    return found  # type: ignore[return-value]


def fill_nearest_parts(
    index: StationIndex,
    *,
    limit: int = NEAREST_MEMO_LIMIT,
    chunk: int = 1000,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Make every station's :func:`_nearest_fixed_parts` ahead of the answers that need
    them (the warm-up after start-up does, api/warm.py): a cold part costs a nearest
    answer ~25 µs a result, most of its time across China. Nothing when the registry is
    larger than ``limit`` (the memo would start again); ``chunk`` stations at a time
    until ``stopping()``. How many stations have theirs."""
    n = len(index)
    if n > limit:
        return 0
    for start in range(0, n, chunk):
        if stopping():
            return start
        _nearest_fixed_parts(index, range(start, min(n, start + chunk)), limit=limit)
    return n


def rounded(x: float, ndigits: int) -> float:
    """``round(x, ndigits)`` (the float nearest the decimal, half to even), in a third of
    its time for the rider's answer's twenty numbers: ``round(x * 10**ndigits)`` over
    ``10**ndigits`` is that float whenever the product lies clear of a half (its rounding
    error is below 2.4e-7 under 2**31; the division is correctly rounded); near a half,
    at zero (its sign) and for anything else, ``round`` decides. tests/api/test_nearest_bytes.py."""
    scale = _SCALES[ndigits]
    t = x * scale
    if -2147483648.0 < t < 2147483648.0:
        n = round(t)
        if n and -0.499999 < t - n < 0.499999:
            return n / scale
    return round(x, ndigits)


_SCALES = (1.0, 10.0, 100.0)


def nearest_results(
    index: StationIndex,
    hits: Sequence[Hit],
    crs: CoordinateSystem,
    *,
    memo_limit: int = NEAREST_MEMO_LIMIT,
    ops: OpsSnapshot | None = None,
    route: RouteAnswer | None = None,
    at: datetime | None = None,
    events: EventsCalendar | None = None,
) -> list[dict[str, Any]]:
    """The results of a nearest query as dicts (for answers that add fields to each, like
    along-route's), each one that ``orjson.dumps`` writes as :func:`nearest_json` does:
    ``next_change`` carries as its value (an ``orjson.Fragment``) its own JSON followed by
    the rest of the object's members (:func:`_result_parts`)."""
    if not hits:
        return []
    lons, lats, rest = _result_parts(index, hits, crs, memo_limit, ops, route, at, events)
    system = crs.value
    fragment, join = orjson.Fragment, b"".join
    return [
        {
            "distance_m": rounded(hit.distance_m, 2),
            "bearing_deg": rounded(hit.bearing_deg, 1),
            "lon": lon,
            "lat": lat,
            "crs": system,
            "open_now": hit.open_now,
            "next_change": fragment(join(after)),
        }
        for hit, lon, lat, after in zip(hits, lons, lats, rest, strict=True)
    ]


def nearest_json(
    index: StationIndex,
    hits: Sequence[Hit],
    crs: CoordinateSystem,
    *,
    memo_limit: int = NEAREST_MEMO_LIMIT,
    ops: OpsSnapshot | None = None,
    route: RouteAnswer | None = None,
    at: datetime | None = None,
    events: EventsCalendar | None = None,
) -> list[bytes]:
    """The results of a nearest query, each its JSON object: the bytes ``orjson.dumps``
    writes for :func:`nearest_results`' dict, put together without building the dicts
    (the rider's hot path: each result's numbers written in one ``dumps`` of them all, and
    its pieces in one join)."""
    if not hits:
        return []
    lons, lats, rest = _result_parts(index, hits, crs, memo_limit, ops, route, at, events)
    numbers: list[float] = []
    for hit, lon, lat in zip(hits, lons, lats, strict=True):
        numbers += (rounded(hit.distance_m, 2), rounded(hit.bearing_deg, 1), lon, lat)
    text = orjson.dumps(numbers)[1:-1].split(b",")
    crs_part = b',"crs":"' + crs.value.encode()
    is_open = crs_part + b'","open_now":true,"next_change":'
    is_closed = crs_part + b'","open_now":false,"next_change":'
    join = b"".join
    out = []
    for i, (hit, after) in enumerate(zip(hits, rest, strict=True)):
        j = 4 * i
        out.append(
            join(
                (
                    b'{"distance_m":',
                    text[j],
                    b',"bearing_deg":',
                    text[j + 1],
                    b',"lon":',
                    text[j + 2],
                    b',"lat":',
                    text[j + 3],
                    is_open if hit.open_now else is_closed,
                    *after,
                    b"}",
                )
            )
        )
    return out


def _result_parts(
    index: StationIndex,
    hits: Sequence[Hit],
    crs: CoordinateSystem,
    memo_limit: int,
    ops: OpsSnapshot | None,
    route: RouteAnswer | None,
    at: datetime | None,
    events: EventsCalendar | None,
) -> tuple[list[float], list[float], list[list[bytes]]]:
    """Of each hit: its position in ``crs``; and the pieces of the object after
    ``"next_change":``, to be joined: its JSON, the members that depend on the query,
    each with its comma (``mobile`` and a placed mobile station's stop;
    :func:`extra_fields`; with ``ops``, the station's rating, stars and last
    confirmation, serialised once per reading of them; with ``route``, its ``route_m``
    and ``duration_s``), then the memoised members that do not
    (:func:`_nearest_fixed_parts`, or at a mobile station's stop :func:`_placed_part`)."""
    if crs is CoordinateSystem.WGS84:
        lons, lats = [h.lon for h in hits], [h.lat for h in hits]
    else:
        x, y = from_wgs84([h.lon for h in hits], [h.lat for h in hits], crs=crs)
        lons, lats = x.tolist(), y.tolist()
    positions = [h.position for h in hits]
    fixed = _nearest_fixed_parts(index, positions, limit=memo_limit)
    # By the ids' array (a Station object is a cache miss away), once for both.
    ids = index.ids[positions].tolist() if ops is not None or events is not None else None
    extras = extra_fields(index, hits, at, events, ids=ids)
    rated = [ops.part(i) for i in ids] if ops is not None else None  # type: ignore[union-attr]
    rest = []
    for i, h in enumerate(hits):
        # next_change's JSON: an ISO 8601 time is digits, "-", ":", "T", "+": JSON as it
        # is, between quotes.
        text = h.next_change_text
        after = [b"null," if text is None else b'"' + text.encode() + b'",', extras[i]]
        if rated is not None:
            after += (rated[i], b",")
        if route is not None:
            after.append(_route_part(route.route_m[i], route.duration_s[i]))
        after.append(fixed[i] if h.placement is None else _placed_part(index, h))
        rest.append(after)
    return lons, lats, rest


def extra_fields(
    index: StationIndex,
    hits: Sequence[Hit],
    at: datetime | None,
    events: EventsCalendar | None = None,
    *,
    ids: list[int] | None = None,
) -> list[bytes]:
    """Per result, the query-dependent members every nearest answer (fast path, route,
    along-route) adds, each ``"name":value,``: ``mobile``, and a placed mobile station's
    ``stop_name`` and ``stop_until``; with ``events`` (and ``at``, the time asked about),
    the station's ``event`` and ``next_event`` then. THE place for more such fields, one
    call per result list. ``ids``: the hits' station ids, when known."""
    parts = [_FIXED_PART if h.placement is None else _mobile_part(h) for h in hits]
    if events is not None and at is not None and hits:
        if ids is None:
            ids = index.ids[[h.position for h in hits]].tolist()
        parts = [a + b for a, b in zip(parts, event_parts(events, ids, at), strict=True)]
    return parts


def _route_part(route_m: float, duration_s: float) -> bytes:
    # Rounded up to the decimetre: never shown shorter than the straight distance_m.
    return (
        orjson.dumps(
            {"route_m": math.ceil(route_m * 10 - 1e-9) / 10, "duration_s": round(duration_s)}
        )[1:-1]
        + b","
    )


def unreachable_json(index: StationIndex, route: RouteAnswer) -> list[dict[str, Any]]:
    """``unreachable`` of an answer by route: the stations too far from any way."""
    return [
        {
            "id": int(index.ids[u.position]),
            "name": index.stations[u.position].name,
            "distance_m": round(u.distance_m, 2),
            "snap_m": None if u.snap_m is None else round(u.snap_m, 1),
        }
        for u in route.unreachable
    ]


def nearest_query_echo(q: NearestQuery) -> dict[str, Any]:
    """``query`` of a nearest answer, for ``orjson.dumps``: every filter as understood, and
    with ``out_crs`` the point in that system too (``out_lon``, ``out_lat``, ``out_crs``)."""
    # For orjson, which writes an enum as its value, a tuple as a list and an aware time
    # as isoformat() does (Asia/Shanghai, 2000-2099: tests/api/test_nearest_bytes.py):
    # ~2 µs of the rider's answer less than asking for them here.
    query: dict[str, Any] = {
        "lon": q.lon,
        "lat": q.lat,
        "crs": q.crs,
        "at": q.at,
        "k": q.k,
        "radius_m": q.radius_m,
        "open_now": q.open_now,
        "self_service": q.self_service,
        "amenity": q.amenities,
        "status": q.statuses,
    }
    if q.out_crs is not None:
        query.update(echo_in(q.lon, q.lat, q.wlon, q.wlat, given=q.crs, out=q.out_crs))
    return query


def echo_in(
    lon: float,
    lat: float,
    wlon: float,
    wlat: float,
    *,
    given: CoordinateSystem,
    out: CoordinateSystem,
) -> dict[str, Any]:
    """The query point ``lon``/``lat`` (in ``given``; ``wlon``/``wlat`` in WGS-84) in
    ``out``, for ``query``: as given when the systems agree, else from WGS-84."""
    if out is given:
        olon, olat = lon, lat
    elif out is CoordinateSystem.WGS84:
        olon, olat = wlon, wlat
    else:
        olon, olat = from_wgs84(wlon, wlat, crs=out)
    return {"out_lon": olon, "out_lat": olat, "out_crs": out.value}


def nearest_body(
    q: NearestQuery,
    f: str,
    hits: Sequence[Hit],
    results: Sequence[bytes],
    note: dict[str, Any] | None,
    *,
    travel: dict[str, Any] | None = None,
) -> tuple[bytes, str]:
    """The nearest answer in format ``f`` (json or geojson) and its media type: ``query``,
    the far ``note`` when there is one, and the ``results`` (:func:`nearest_json`) of
    ``hits`` (GeoJSON: as the properties of features at the hits' WGS-84 positions); by
    route, ``travel`` (:func:`travel_fields`) too. Both ways of serving nearest answer
    with it (the route in api/routes/stations.py and api/fast_nearest.py)."""
    body: dict[str, Any] = {"query": nearest_query_echo(q)}
    if travel is not None:
        body["query"]["travel"] = travel["travel"]
        body.update(travel)
    if note is not None:
        body.update(note)
    if f == "geojson":
        head = orjson.dumps({"type": "FeatureCollection", **body}, option=_NUMPY)
        points = orjson.dumps([x for h in hits for x in (h.lon, h.lat)])[1:-1].split(b",")
        features = [
            b'{"type":"Feature","id":%b,"geometry":{"type":"Point","coordinates":[%b,%b]},'
            b'"properties":%b}' % (orjson.dumps(h.station.id), points[2 * i], points[2 * i + 1], r)
            for i, (h, r) in enumerate(zip(hits, results, strict=True))
        ]
        return head[:-1] + b',"features":[' + b",".join(features) + b"]}", GEOJSON
    head = orjson.dumps({**body, "count": len(results)}, option=_NUMPY)
    # One join: each ``+`` would copy the results (16 kB for ten) again.
    return b"".join((head[:-1], b',"results":[', b",".join(results), b"]}")), JSON


_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def nearest_response(
    q: NearestQuery,
    f: str,
    hits: Sequence[Hit],
    results: Sequence[bytes],
    note: dict[str, Any] | None,
    *,
    travel: dict[str, Any] | None = None,
) -> Response:
    """:func:`nearest_body` as a response."""
    body, media_type = nearest_body(q, f, hits, results, note, travel=travel)
    return Response(body, media_type=media_type)


def travel_fields(index: StationIndex, route: RouteAnswer) -> dict[str, Any]:
    """The top-level fields of an answer by route."""
    return {
        "travel": route.travel.value,
        "travel_label": route.travel.label,
        "unreachable": unreachable_json(index, route),
    }


def stations_page(
    page: Sequence[Station],
    fmt: str,
    *,
    total: int,
    limit: int,
    offset: int,
    links: str,
    districts: Districts,
    threshold_m: float,
    crs: CoordinateSystem,
    ops: OpsSnapshot | None = None,
    placed: Sequence[Placement | None] | None = None,
    events: EventsCalendar | None = None,
    at: datetime | None = None,
) -> Response:
    """One page of a station listing in ``fmt`` (json, geojson or csv), ``total`` matches
    in all, with its ``X-Total-Count`` and (when ``links``) ``Link`` headers. ``placed``
    (a listing at a time): each station's placement, its stop's position and fields for
    a mobile station (:func:`placed_fields`). ``events``: each station's ``event`` and
    ``next_event`` at ``at`` (default now; not in csv)."""
    if placed is not None:
        page = [s if p is None else at_stop(s, p) for s, p in zip(page, placed, strict=True)]
    paging = {"X-Total-Count": str(total)}
    if links:
        paging["Link"] = links
    if fmt == "csv":
        # A page the user asked for says so: in its name, and in its Link and count headers.
        last = offset + len(page)
        name = f"stations-{offset + 1}-{last}-of-{total}.csv" if page else "stations.csv"
        return Response(
            "\ufeff" + stations_csv(page),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', **paging},
        )
    docs = stations_json(
        page,
        districts=districts,
        threshold_m=threshold_m,
        crs=crs,
        ops=ops,
        events=events,
        at=at,
    )
    if placed is not None:
        for d, s, p in zip(docs, page, placed, strict=True):
            d.update(placed_fields(s, p))
    if fmt == "geojson":
        response = json_response(
            {
                "type": "FeatureCollection",
                "numberMatched": total,
                "numberReturned": len(page),
                "features": [feature(d, s) for d, s in zip(docs, page, strict=True)],
            },
            media_type=GEOJSON,
        )
    else:
        response = json_response({"total": total, "limit": limit, "offset": offset, "items": docs})
    response.headers.update(paging)
    return response
