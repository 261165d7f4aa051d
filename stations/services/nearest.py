"""The nearest stations to a point, and what to tell a rider when they are far or none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from geodata.crs import CoordinateSystem
from geodata.distance import wgs84_geod
from geodata.nearest import bearings_deg
from geodata.routing import PointOffNetworkError, Router, Snaps
from stations.domain.model import Status
from stations.domain.travel import OffNetworkError, Travel
from stations.readmodel.index import CacheName, Hit, StationIndex
from stations.readmodel.network import NetworkHolder

# Beyond this, the nearest station is not "nearby" for a rider: the answer says so.
FAR_M = 10_000.0


@dataclass(slots=True)
class NearestQuery:
    """A nearest question, checked: the point as given (``lon``/``lat`` in ``crs``) and in
    WGS-84 (``wlon``/``wlat``), the system of the answer, and every filter.

    Not frozen: on the hot path, a frozen dataclass costs a ``object.__setattr__`` per field.
    """

    lon: float
    lat: float
    crs: CoordinateSystem
    wlon: float
    wlat: float
    out_crs: CoordinateSystem | None  # None: positions are given back in ``crs``
    at: datetime
    k: int
    radius_m: float | None
    open_now: bool
    self_service: bool | None
    amenities: tuple[str, ...]
    statuses: tuple[Status, ...]
    travel: Travel | None = None  # None: by the straight line (the default)

    @property
    def out(self) -> CoordinateSystem:
        """The system of the positions given back."""
        return self.crs if self.out_crs is None else self.out_crs


def find_nearest(index: StationIndex, q: NearestQuery) -> tuple[list[Hit], dict[str, Any] | None]:
    """The ``k`` nearest stations passing every filter, nearest first, and, when there is
    none or the nearest is beyond :data:`FAR_M`, the note :func:`far_note` gives."""
    hits = index.search(
        q.wlon,
        q.wlat,
        k=q.k,
        radius_m=q.radius_m,
        at=q.at,
        open_now=q.open_now,
        statuses=q.statuses,
        self_service=q.self_service,
        amenities=q.amenities,
    )
    if hits and hits[0].distance_m <= FAR_M:
        return hits, None
    return hits, far_note(index, q, hits)  # the rare path: say how far, or that none is


def _distance_text(distance_m: float) -> str:
    if distance_m < 1000:
        return f"{distance_m:.0f} 米"
    km = distance_m / 1000
    return f"{km:.1f} 公里" if km < 100 else f"{km:,.0f} 公里"


def far_note(index: StationIndex, q: NearestQuery, hits: list[Hit]) -> dict[str, Any]:
    """``nearest_m`` and a Chinese ``hint`` when the nearest answer is empty or far away:
    how far the nearest station passing the filters is, or that there is none."""
    if hits:
        d = hits[0].distance_m
        return {
            "nearest_m": round(d, 1),
            "hint": f"附近没有驿站：最近的一个在 {_distance_text(d)}外。",
        }
    filters: dict[str, Any] = {
        "at": q.at,
        "statuses": q.statuses,
        "self_service": q.self_service,
        "amenities": q.amenities,
    }
    beyond = index.search(q.wlon, q.wlat, k=1, open_now=q.open_now, **filters)
    if beyond and q.radius_m is not None:
        d = beyond[0].distance_m
        return {
            "nearest_m": round(d, 1),
            "hint": (
                f"{_distance_text(q.radius_m)}内没有符合条件的驿站；最近的一个在 "
                f"{_distance_text(d)}外（去掉 radius_m 可以看到它）。"
            ),
        }
    if q.open_now:
        closed = index.search(q.wlon, q.wlat, k=1, open_now=False, **filters)
        if closed:
            d = closed[0].distance_m
            return {
                "nearest_m": None,
                "hint": (
                    "现在没有开放的符合条件的驿站；最近的一个（现在不开放）在 "
                    f"{_distance_text(d)}外。"
                ),
            }
    return {"nearest_m": None, "hint": "没有符合这些条件的驿站：请放宽筛选条件。"}


# -- nearest by route on a street network (travel=walk|ebike) ------------------------------

# At most this many stations too far from any way are named in an answer by route.
UNREACHABLE_MAX = 10


@dataclass(slots=True)
class Unreachable:
    """A station passing every filter that no route reaches: farther than the snap
    distance from every way of the network."""

    position: int  # in the snapshot's arrays
    distance_m: float  # straight line from the point asked about
    snap_m: float | None  # to its nearest way, however far; None: the network has none


@dataclass(slots=True)
class RouteAnswer:
    """The answer by route: ``hits`` nearest by route first (``distance_m`` still the
    straight line), each one's ``route_m`` and ``duration_s``, the stations no route
    reaches that could have been among them, and the far note when there is one."""

    travel: Travel
    hits: list[Hit]
    route_m: list[float]
    duration_s: list[float]
    unreachable: list[Unreachable]
    note: dict[str, Any] | None


def _passing(index: StationIndex, q: NearestQuery, *, open_now: bool) -> npt.NDArray[np.bool_]:
    mask = index.passing_mask(
        at=q.at,
        open_now=open_now,
        statuses=q.statuses,
        self_service=q.self_service,
        amenities=q.amenities,
    )
    mask = np.ones(len(index), np.bool_) if mask is None else mask
    # By route, a mobile station (流动驿站) is left out: the network snaps stations at
    # their base, which is not where the vehicle stands.
    return mask & ~index.mobile if len(index.mobile_positions) else mask


def _route(
    router: Router,
    q: NearestQuery,
    *,
    k: int,
    mask: npt.NDArray[np.bool_],
    max_route_m: float | None,
) -> tuple[list[int], list[float], list[float]]:
    """Positions, route metres and seconds of the ``k`` passing ``mask`` nearest by route."""
    assert q.travel is not None
    try:
        routes = router.nearest(q.wlon, q.wlat, k=k, mask=mask, max_route_m=max_route_m)
    except PointOffNetworkError as exc:
        raise OffNetworkError(q.travel, exc.snap_m, exc.max_m) from None
    return routes.index.tolist(), routes.route_m.tolist(), routes.duration_s.tolist()


def find_nearest_by_route(
    index: StationIndex, q: NearestQuery, networks: NetworkHolder
) -> RouteAnswer:
    """The ``k`` stations passing every filter nearest by route on ``q.travel``'s network
    (NoNetworkError when none is loaded; OffNetworkError when the point is farther than
    the snap distance from every way), at most ``radius_m`` by route; the stations too
    far from any way that could have been among them (:func:`unreachable`); and, when
    there is none or the nearest is beyond :data:`FAR_M` by route, :func:`route_far_note`."""
    assert q.travel is not None
    router = networks.router(q.travel, index)
    mask = _passing(index, q, open_now=q.open_now)
    positions, route_m, duration_s = _route(router, q, k=q.k, mask=mask, max_route_m=q.radius_m)
    at = np.asarray(positions, np.intp)
    distance_m: list[float] = []
    bearing: list[float] = []
    if len(at):
        n = len(at)
        lon, lat = index.nearest.lon[at], index.nearest.lat[at]
        _, _, dist = wgs84_geod().inv(np.full(n, q.wlon), np.full(n, q.wlat), lon, lat)
        distance_m = np.asarray(dist, np.float64).tolist()
        bearing = bearings_deg(q.wlon, q.wlat, index.nearest.xyz[at]).tolist()
    hits = index.hits(at, distance_m, bearing, q.at)
    # A station no route reaches is in the answer's place if it is nearer in a straight
    # line than the last one returned (a route is never shorter): with fewer than k,
    # any within radius_m is.
    bound = route_m[-1] if len(hits) == q.k else q.radius_m
    off = unreachable(index, router, q, mask, bound)
    note = None
    if not hits or route_m[0] > FAR_M:
        note = route_far_note(index, router, q, route_m, off)
    return RouteAnswer(q.travel, hits, route_m, duration_s, off, note)


def unreachable(
    index: StationIndex,
    router: Router,
    q: NearestQuery,
    mask: npt.NDArray[np.bool_],
    bound_m: float | None,
) -> list[Unreachable]:
    """The stations passing ``mask`` farther than the snap distance from every way, nearest
    in a straight line first, within ``bound_m`` (None: any), at most
    :data:`UNREACHABLE_MAX`."""
    if bound_m is not None and bound_m <= 0:
        return []
    reachable, reach_key = _reachable(index, router)
    if reach_key is None:
        return []
    # A filtered tree per (reachable set, filters), kept by the nearest index: across
    # China most stations are off a city's network, too many to measure every request.
    statuses = tuple(sorted({s.value for s in q.statuses}))
    key: tuple[object, ...] = (
        "unreachable",
        reach_key,
        statuses,
        q.self_service,
        tuple(sorted(set(q.amenities))),
        index.open_mask(q.at)[1] if q.open_now else None,
    )
    found = index.nearest.query(
        q.wlon,
        q.wlat,
        k=UNREACHABLE_MAX,
        radius_m=bound_m,
        mask=lambda: mask & ~reachable,
        mask_key=key,
    )
    # Their own snaps stop at the snap distance (inf beyond): how far their nearest way
    # is, measured for the few named (tens of microseconds each).
    lon, lat = index.nearest.lon, index.nearest.lat
    out = []
    for pos, dist in zip(found.index.tolist(), found.distance_m.tolist(), strict=True):
        snap = router.snapper.distance_m(float(lon[pos]), float(lat[pos]))
        out.append(Unreachable(pos, dist, snap))
    return out


# Per snapshot, per Router's station snaps: which stations are reachable, and a key naming
# that set (None: all are).
_REACHABLE = CacheName[int, tuple[Snaps, npt.NDArray[np.bool_], bytes | None]]("reachable", 8)


def _reachable(index: StationIndex, router: Router) -> tuple[npt.NDArray[np.bool_], bytes | None]:
    snaps = router.station_snaps
    cache = index.cache(_REACHABLE)
    found = cache.get(id(snaps))
    if found is None or found[0] is not snaps:  # a new Router may reuse a freed one's id
        reachable = router.reachable
        key = None if reachable.all() else np.packbits(reachable).tobytes()
        found = (snaps, reachable, key)
        cache.get_or_compute(id(snaps), lambda: found)
    return found[1], found[2]


def route_far_note(
    index: StationIndex,
    router: Router,
    q: NearestQuery,
    route_m: list[float],
    off: list[Unreachable],
) -> dict[str, Any]:
    """``nearest_m`` (by route) and a Chinese ``hint`` when the answer by route is empty
    or its nearest is far: how far by route, or why none is reached."""
    assert q.travel is not None
    label = q.travel.label
    if route_m:
        d = route_m[0]
        return {
            "nearest_m": round(d, 1),
            "hint": f"附近没有驿站：最近的一个{label} {_distance_text(d)}。",
        }
    mask = _passing(index, q, open_now=q.open_now)
    if q.radius_m is not None:
        _, beyond, _ = _route(router, q, k=1, mask=mask, max_route_m=None)
        if beyond:
            d = beyond[0]
            return {
                "nearest_m": round(d, 1),
                "hint": (
                    f"{label} {_distance_text(q.radius_m)}内没有符合条件的驿站；最近的一个"
                    f"{label} {_distance_text(d)}（去掉 radius_m 可以看到它）。"
                ),
            }
    if q.open_now:
        _, closed, _ = _route(
            router, q, k=1, mask=_passing(index, q, open_now=False), max_route_m=None
        )
        if closed:
            return {
                "nearest_m": None,
                "hint": (
                    "现在没有开放的符合条件的驿站；最近的一个（现在不开放）"
                    f"{label} {_distance_text(closed[0])}。"
                ),
            }
    if mask.any():
        far = f"其中 {len(off)} 个离{label}可走的道路太远（见 unreachable）；" if off else ""
        return {
            "nearest_m": None,
            "hint": (
                f"按{label}路网到不了任何符合条件的驿站：{far}去掉 travel 可以按直线距离查找。"
            ),
        }
    return {"nearest_m": None, "hint": "没有符合这些条件的驿站：请放宽筛选条件。"}
