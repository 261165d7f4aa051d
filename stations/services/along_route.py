"""The stations along a rider's route, a page at a time, and whether each is open on arrival."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from geodata.along_route import FloatArray, IntArray, Route, arrival_s
from geodata.hours import TZ, hours
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
    arrivals = _arrivals(q, along)
    hits = index.hits(positions, offset.tolist(), bearing.tolist(), q.at)
    more = start + q.limit < total
    last = (float(along[-1]), int(ids[page][-1])) if more and len(positions) else None
    return AlongRoutePage(
        hits,
        along.tolist(),
        offset.tolist(),
        arrivals,
        _open_at(index, positions, arrivals),
        total,
        last,
    )
