"""The nearest stations to a point, and what to tell a rider when they are far or none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geodata.crs import CoordinateSystem
from stations.domain.model import Status
from stations.readmodel.index import Hit, StationIndex

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
