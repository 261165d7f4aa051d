"""How a rider travels (walk, e-bike), the street networks it is routed on, and their errors.

A network is imported per profile from an OpenStreetMap extract (``yizhan network import``,
stations.services.network) and kept in the store (:class:`NetworkInfo` describes one); the
routing itself is geodata.routing's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Travel(StrEnum):
    WALK = "walk"
    EBIKE = "ebike"

    @property
    def label(self) -> str:
        return TRAVEL_LABELS[self]


TRAVEL_LABELS: dict[Travel, str] = {Travel.WALK: "步行", Travel.EBIKE: "电动车"}
# The straight line (no network): how every answer was measured before issue 17.
STRAIGHT = "straight"


def parse_travel(value: str | None) -> Travel | None:
    """``walk``/``ebike`` (or 步行/电动车), None for none or ``straight``; else ValueError
    in Chinese."""
    if value is None or value.strip() in ("", STRAIGHT, "直线"):
        return None
    text = value.strip()
    for travel in Travel:
        if text.lower() == travel.value or text == travel.label:
            return travel
    msg = f"travel 只能是 walk（步行）或 ebike（电动车），不是 {text!r}"
    raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """A stored network, without its arrays (what ``yizhan network list`` shows)."""

    profile: Travel
    version: int  # changes on every import: workers reload when it does
    source_name: str  # the file's name as given (no directory)
    source_sha256: str
    imported_at: datetime
    imported_by: str
    nodes: int
    edges: int
    ways: int
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat (WGS-84)
    format: int
    # What the import counted and found (ways kept per highway class, clipped ways, stations
    # too far from any way at import…): JSON-able, shown by `network list`.
    stats: dict[str, Any] = field(default_factory=dict)
    speeds: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """What routing needs of the settings (``Settings.routing()`` builds it: services and the
    read model take settings as arguments)."""

    speed_kmh: dict[str, float]  # per profile
    steps_factor: float
    snap_m: dict[str, float]  # per profile
    list_size: int
    list_max_m: float
    check_interval_s: float = 0.0
    build_lists: bool = True  # False: never build lists (tests of the fallback)

    def speed(self, travel: Travel) -> float:
        return self.speed_kmh[travel.value]

    def snap(self, travel: Travel) -> float:
        return self.snap_m[travel.value]


class NetworkError(Exception):
    """Base of the street-network errors; ``code`` is mapped to HTTP in api/problems.py."""

    code = "network_error"


class NoNetworkError(NetworkError, LookupError):
    """No network is loaded for this profile: say how to load one."""

    code = "network_not_loaded"

    def __init__(self, travel: Travel) -> None:
        self.travel = travel
        super().__init__(
            f"还没有导入{travel.label}路网：请运行 yizhan network import FILE --profile "
            f"{travel.value}（FILE 是 OpenStreetMap 的 .osm.pbf 或 .osm 文件）"
        )


class OffNetworkError(NetworkError):
    """The point is farther from every way of the network than the snap distance."""

    code = "point_off_network"

    def __init__(self, travel: Travel, snap_m: float | None, max_m: float) -> None:
        self.travel = travel
        self.snap_m = snap_m  # None: no way at all within reach
        self.max_m = max_m
        if snap_m is None:
            where = f"附近没有{travel.label}可走的道路"
        else:  # one decimal where whole metres would read as "200 m, at most 200 m"
            metres = f"{snap_m:.0f}" if snap_m - max_m >= 1 else f"{snap_m:.1f}"
            where = f"离最近的{travel.label}可走的道路 {metres} 米"
        super().__init__(
            f"这个位置{where}，超过了 {max_m:.0f} 米：无法按路线计算，请去掉 travel 按直线距离查询"
        )


class NetworkFileError(NetworkError, ValueError):
    """An OpenStreetMap file that cannot be imported: broken, empty, or of another area."""

    code = "network_file_invalid"
