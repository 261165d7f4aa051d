"""The stations along a rider's route, a page at a time, and whether each is open on arrival.

A mobile station (流动驿站) is along the route at one of its stops near it when it stands
there as the rider gets to that point (``at`` + metres along / speed, the same arrival as a
fixed station's): the first such stop along the route is where it is listed, at the stop's
position, and it is open on arrival by definition. Its base position is never listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from geodata.along_route import FloatArray, IntArray, Route, arrival_s
from geodata.hours import TZ, hours
from stations.domain.mobile import Placement, place
from stations.domain.model import Status
from stations.readmodel.index import Hit, StationIndex

DEFAULT_SPEED_KMH = 15.0  # an e-bike in town; riders say their own
MIN_SPEED_KMH = 1.0  # slower, 3,000 km would take years to ride
MAX_SPEED_KMH = 120.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(slots=True)
class AlongRouteQuery:
    """An along-route question, checked: the route in WGS-84, the distance, the page
    (``after``: the (along_m, id) of the last station of the previous page), the time and
    speed that give each station's arrival, and every filter of a nearest question.
    ``open_on_arrival`` true keeps only the stations open when the rider gets there."""

    route: Route
    distance_m: float
    at: datetime
    speed_kmh: float = DEFAULT_SPEED_KMH
    limit: int = DEFAULT_LIMIT
    after: tuple[float, int] | None = None
    open_now: bool = False
    open_on_arrival: bool = False
    self_service: bool | None = None
    amenities: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = (Status.ACTIVE,)


@dataclass(slots=True)
class AlongRoutePage:
    """One page: ``hits`` in order along the route (``distance_m`` is the offset from the
    route and ``bearing_deg`` the bearing from the nearest point on it), their metres
    along and off the route, arrival times and whether each is open then; ``total``
    stations match in all, and ``last`` is the (along_m, id) to continue after, None
    when this page is the last."""

    hits: list[Hit]
    along_m: list[float]
    offset_m: list[float]
    arrival: list[datetime]
    open_on_arrival: list[bool]
    total: int
    last: tuple[float, int] | None
    # Per hit: where a mobile station stands on arrival (None for a fixed station).
    placements: list[Placement | None]


def _open_at(index: StationIndex, positions: IntArray, arrivals: list[datetime]) -> list[bool]:
    """Whether each station is open (active, and by its hours) at its arrival time: once
    per distinct hours string and minute (hours change on whole minutes)."""
    seen: dict[tuple[int, datetime], bool] = {}
    hours_list = index.hours_list
    out = []
    for hours_id, active, arrival in zip(
        index.hours_id[positions].tolist(),
        index.status_mask(Status.ACTIVE)[positions].tolist(),
        arrivals,
        strict=True,
    ):
        if not active:
            out.append(False)
            continue
        minute = arrival.replace(second=0, microsecond=0)
        key = (hours_id, minute)
        state = seen.get(key)
        if state is None:
            state = seen[key] = hours(hours_list[hours_id]).is_open(minute)
        out.append(state)
    return out


def _arrivals(q: AlongRouteQuery, along_m: FloatArray) -> list[datetime]:
    start = q.at.astimezone(TZ)
    return [start + timedelta(seconds=s) for s in arrival_s(along_m, q.speed_kmh).tolist()]


def _mobile_along(
    index: StationIndex, q: AlongRouteQuery
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, list[Placement]]:
    """The mobile stations standing, on the rider's arrival, at a stop within
    ``q.distance_m`` of the route (each at its first such stop along it): their positions,
    metres along and off the route, bearings, and placements. With ``open_now`` a bus
    must stand at that stop at ``q.at`` too (open now where it is shown)."""
    found = index.stops_along_route(
        q.route,
        distance_m=q.distance_m,
        statuses=q.statuses,
        self_service=q.self_service,
        amenities=q.amenities,
    )
    points, stations = index.stop_points, index.stations
    picked: list[int] = []  # rows of ``found``
    placements: list[Placement] = []
    seen: set[int] = set()
    arrivals = _arrivals(q, found.along_m)
    for k, (row, arrival) in enumerate(zip(found.index.tolist(), arrivals, strict=True)):
        pos = int(points.owner[row])
        if pos in seen:
            continue
        stop = stations[pos].stops[int(points.stop[row])]
        if not hours(stop.hours).is_open(arrival):
            continue  # not there then: place() would say so, at the cost of every stop
        placed = place(stations[pos], arrival)
        if placed is None or placed.index != points.stop[row]:
            continue
        if q.open_now:
            now = place(stations[pos], q.at)
            if now is None or now.index != placed.index:
                continue
        seen.add(pos)
        picked.append(k)
        placements.append(placed)
    take = np.asarray(picked, np.intp)
    return (
        points.owner[found.index[take]],
        found.along_m[take],
        found.offset_m[take],
        found.bearing_deg[take],
        placements,
    )


def _mobile_hits(
    index: StationIndex,
    positions: IntArray,
    offset: FloatArray,
    bearing: FloatArray,
    placements: list[Placement],
    at: datetime,
) -> list[Hit]:
    """Hits of mobile stations at their stops: the stop's position, and its hours'
    state at ``at`` (open now where it is shown)."""
    minute = at.astimezone(TZ).replace(second=0, microsecond=0)
    out = []
    for pos, off, bear, placed in zip(
        positions.tolist(), offset.tolist(), bearing.tolist(), placements, strict=True
    ):
        h = hours(placed.stop.hours)
        change = h.next_change(minute)
        out.append(
            Hit(
                index.stations,
                pos,
                placed.stop.lon,
                placed.stop.lat,
                off,
                bear,
                h.is_open(minute),
                change,
                None if change is None else change.isoformat(),
                placed,
            )
        )
    return out


def stations_along_route(index: StationIndex, q: AlongRouteQuery) -> AlongRoutePage:
    """The page of stations within ``q.distance_m`` of ``q.route`` after ``q.after``,
    ordered by (along_m, id), each with its arrival at ``q.speed_kmh`` from ``q.at``
    (``at + along_m / speed``: the distance along the route at a steady speed, not a
    travel-time model) and whether it is open then, in Asia/Shanghai with China's
    holidays and make-up working days as nearest reads them."""
    found = index.along_route(
        q.route,
        distance_m=q.distance_m,
        at=q.at,
        open_now=q.open_now,
        statuses=q.statuses,
        self_service=q.self_service,
        amenities=q.amenities,
    )
    positions, along, offset, bearing = (
        found.index,
        found.along_m,
        found.offset_m,
        found.bearing_deg,
    )
    if q.open_on_arrival and len(positions):
        keep = np.array(_open_at(index, positions, _arrivals(q, along)), np.bool_)
        positions, along, offset, bearing = (
            positions[keep],
            along[keep],
            offset[keep],
            bearing[keep],
        )
    placed: list[Placement | None] = [None] * len(positions)
    if len(index.mobile_positions):
        mpos, malong, moff, mbear, mplaced = _mobile_along(index, q)
        if len(mpos):
            positions = np.concatenate([positions, mpos])
            along = np.concatenate([along, malong])
            offset = np.concatenate([offset, moff])
            bearing = np.concatenate([bearing, mbear])
            placed = placed + list(mplaced)
            order = np.lexsort((index.ids[positions], along))
            positions, along, offset, bearing = (
                positions[order],
                along[order],
                offset[order],
                bearing[order],
            )
            placed = [placed[o] for o in order.tolist()]
    total = len(positions)
    ids = index.ids[positions]
    if q.after is not None:
        after_along, after_id = q.after
        later = (along > after_along) | ((along == after_along) & (ids > after_id))
        start = int(np.argmax(later)) if later.any() else len(positions)
    else:
        start = 0
    page = slice(start, start + q.limit)
    positions, along, offset, bearing = (
        positions[page],
        along[page],
        offset[page],
        bearing[page],
    )
    placed = placed[page]
    arrivals = _arrivals(q, along)
    hits = index.hits(positions, offset.tolist(), bearing.tolist(), q.at)
    on_arrival = _open_at(index, positions, arrivals)
    mobile = [i for i, p in enumerate(placed) if p is not None]
    if mobile:
        at = np.asarray(mobile, np.intp)
        stands = [p for p in placed if p is not None]  # in the order of ``mobile``
        moved = _mobile_hits(index, positions[at], offset[at], bearing[at], stands, q.at)
        for i, hit in zip(mobile, moved, strict=True):
            hits[i] = hit
            on_arrival[i] = True  # it stands there when the rider comes
    more = start + q.limit < total
    last = (float(along[-1]), int(ids[page][-1])) if more and len(positions) else None
    return AlongRoutePage(
        hits,
        along.tolist(),
        offset.tolist(),
        arrivals,
        on_arrival,
        total,
        last,
        placed,
    )
