"""The planners' coverage map of the registry (for ``GET /maps/coverage`` and ``yizhan map``)."""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import folium
import numpy as np
import numpy.typing as npt
import shapely

from geodata.area_tiles import AreaLayer, groups_of, to_unit_square
from geodata.cluster_tiles import TilePoints, tile_body
from geodata.crs import CoordinateSystem, from_wgs84
from geodata.districts import LAYERS, District, Districts, provinces
from geodata.maps import (
    AreaTiles,
    Choropleth,
    MapPoints,
    MapStops,
    PointLegend,
    StationTiles,
    coverage_map,
    shift_geometry,
)
from stations.domain.demand import DemandLayer
from stations.domain.figures import listed_on_all, stations_per_100km2
from stations.domain.listings import MappedState, is_precise, listing_offsets
from stations.domain.model import (
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    PROVIDER_LABELS,
    STATUS_LABELS,
    Provider,
    Station,
    Status,
)
from stations.domain.travel import NoNetworkError
from stations.readmodel.index import CacheName, StationIndex
from stations.readmodel.network import NetworkHolder
from stations.services.planning import (
    METRICS,
    MapOptions,
    TooMuchWorkError,
    chosen_districts,
    counted,
    counted_points,
    coverage_areas,
    in_area,
    travel_areas,
)

__all__ = [
    "METRICS",
    "TILED_ABOVE",
    "MapOptions",
    "TileFilters",
    "area_tile",
    "area_tile_etag",
    "station_map",
    "station_tile",
    "tile_positions",
]
# How the map shows each 上图 state (colour, label), in legend order.
MAPPED_STATE_STYLE: dict[MappedState, tuple[str, str]] = {
    MappedState.FULL: ("#1a9850", "三家均精准上图"),
    MappedState.PARTIAL: ("#fdae61", "部分上图或位置不准"),
    MappedState.NONE: ("#d73027", "未上图"),
}
LEGEND = PointLegend(
    categories=tuple((m.value, *MAPPED_STATE_STYLE[m]) for m in MappedState),
    marked="24小时自助驿站",
    not_in_service="筹建中或暂停开放",
)
# Above this many stations the served map draws them from tiles (see station_map): the
# inlined page is about 130 bytes a station gzipped, and slow to start beyond this.
TILED_ABOVE = 20_000
# The legend's note when coverage is over its work budget (e.g. the whole country).
NO_COVERAGE_NOTE = (
    "覆盖范围计算量过大，未画出：请选择一个省份或区县（district=2 位省份代码或区县代码）"
)


POPUP_FIELDS = ("名称", "状态", "星级", "地址", "开放时间", "设施", "进入方式", "上图")


def _popups(
    stations: list[Station], threshold_m: float, stars: Mapping[int, int]
) -> list[tuple[str, ...]]:
    """Each station's popup fields (see POPUP_FIELDS); listing offsets converted in bulk."""
    offsets = listing_offsets(stations)
    rows: list[tuple[str, ...]] = []
    for i, station in enumerate(stations):
        listed = []
        for p in Provider:
            listing = station.listing(p)
            label = PROVIDER_LABELS[p.value]
            if listing is None or not listing.listed:
                listed.append(f"{label}✗")
                continue
            offset = float(offsets[p][i])
            if offset != offset:  # NaN: listed without a position
                listed.append(f"{label}✓(无坐标)")
            else:
                good = listing.keyword_linked and is_precise(offset, threshold_m=threshold_m)
                mark = "✓" if good else "≈"
                listed.append(f"{label}{mark}({offset:.0f}米)")
        entry = "、".join(ENTRY_METHOD_LABELS.get(e, e) for e in station.entry_methods)
        if station.self_service_24h:
            entry = "24小时自助：" + entry + ("（需注册）" if station.registration_required else "")
        rows.append(
            (
                station.name,
                "" if station.status is Status.ACTIVE else STATUS_LABELS[station.status.value],
                "★" * stars.get(station.id or 0, 0),
                station.address,
                station.hours_text or station.hours,
                "、".join(AMENITY_LABELS.get(a, a) for a in station.amenities),
                entry,
                " ".join(listed),
            )
        )
    return rows


def station_map(
    index: StationIndex,
    districts: Districts,
    options: MapOptions | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    stars: Mapping[int, int] | None = None,
    networks: NetworkHolder | None = None,
    tiles_url: str | None = None,
    tiled_above: int | None = None,
    areas_url: str | None = None,
) -> folium.Map:
    """The registry's stations (not closed; with ``at``, those open then), coverage within
    ``radius_m`` metres, and district choropleths, ``metric`` (one of :data:`METRICS`)
    shown first: see :class:`~stations.services.planning.MapOptions` (checked by
    :func:`~stations.services.planning.map_options`). Planned and temporarily closed
    stations are drawn hollow and count for no coverage; ``per_demand`` needs ``demand``
    (there is no population layer); ``stars`` (station id → 1–5) show in the popups.
    Coverage over its work budget raises
    :class:`~stations.services.planning.TooMuchWorkError`. With ``options.travel``, the
    areas are the service areas along ``networks``' network for the profile (the cells
    reached within the time), not discs; NoNetworkError without one.

    With ``tiles_url`` (where :func:`station_tile`'s tiles are served, e.g.
    ``/tiles/stations``) and more than ``tiled_above`` stations shown, the page draws the
    stations from those tiles (clustered, a popup fetched on click) instead of carrying
    every one: its weight no longer grows with the registry. Without, every station is in
    the page (a file that works offline). With ``areas_url`` too (where
    :func:`area_tile`'s tiles are served, e.g. ``/tiles/districts``), such a page draws
    the districts from those tiles as well (none of their shapes in it)."""
    say = progress or (lambda _: None)
    options = options or MapOptions()
    tiles, district, at, radius_m = options.tiles, options.district, options.at, options.radius_m
    metric, demand = options.metric, options.demand
    positions = _shown(index, at=at, district=district)
    stations = [index.stations[p] for p in positions.tolist()]
    say(f"{len(stations):,} stations")
    above = TILED_ABOVE if tiled_above is None else tiled_above
    tiled = tiles_url is not None and len(stations) > above
    points = _points(index, positions, stations, stars or {}, popups=not tiled)
    station_tiles = area_tiles = None
    if tiles_url is not None and tiled:
        station_tiles = _station_tiles(index, tiles_url, TileFilters(district=district, at=at))
        if areas_url is not None:
            query = {"v": str(index.version)} | ({} if district is None else {"district": district})
            area_tiles = AreaTiles(url=areas_url.rstrip("/") + "/{z}/{x}/{y}.json", query=query)
    active = points.in_service
    assert active is not None
    chosen = chosen_districts(districts, district)
    stops = _map_stops(index, at=at, district=district)
    # Coverage counts the stations the figures count (/v1/coverage, the dashboard): every
    # one, not only those of the district drawn, whose neighbours' stations cover its
    # border too (a district's map once said 40.0 % where its figures said 41.1 %).
    if options.travel is not None:
        if networks is None:
            raise NoNetworkError(options.travel.travel)
        mask = np.zeros(len(index.nearest.lon), bool)
        mask[counted(index, at)[0]] = True
        say(f"service areas: {options.reach}")
        areas = travel_areas(index, districts, networks, options.travel, mask, only=district)
    else:
        try:
            where = counted_points(index, at)
            areas = coverage_areas(
                districts, where.lon, where.lat, radius_m=radius_m, only=district, progress=say
            )
        except TooMuchWorkError:
            # The whole country: the map is still drawn, without coverage (the legend says
            # what to choose for it).
            areas = None
    names = {d.adcode: d.name for d in districts}
    names.update((code, p.name) for code, p in provinces(districts).items())
    choropleths = _choropleths(
        chosen,
        stations,
        index.district[positions],
        active,
        None if areas is None else areas.shares,
        reach=options.reach,
        demand=demand,
        districts=districts,
    )
    when = f"，{at:%Y-%m-%d %H:%M} 开放的驿站" if at is not None else ""
    idle = len(stations) - int(active.sum())
    resting = f"（其中 {idle:,} 个筹建中或暂停开放）" if idle else ""
    coverage_note = f"覆盖按 {_reach_note(options)}计"
    if len(stops.map):
        coverage_note += stops.note(at)
    if areas is None:
        coverage_note = NO_COVERAGE_NOTE
        if metric == "coverage":
            metric = choropleths[0].name
    say("drawing")
    # The districts' simplified outlines where the source has them (the national counties).
    drawn = dict(zip(districts.adcodes, districts.drawing_geometries, strict=True))
    return coverage_map(
        points,
        districts=[(d.adcode, d.name, drawn[d.adcode]) for d in chosen],
        choropleths=choropleths,
        metric=metric,
        # Districts' areas are drawn side by side: no union (their shared borders, projected
        # back and forth, would not meet exactly).
        covered=None if areas is None else _collection(areas.covered),
        uncovered=None if areas is None else _collection(areas.uncovered),
        radius_m=radius_m,
        reach=options.reach,
        tiles=tiles,
        title="工会驿站覆盖图" + (f"·{names[district]}" if district else ""),
        # A shipped layer's credit; a user's own file is the operator's to credit.
        credit=districts.source if districts.source in LAYERS.values() else "",
        note=f"{len(stations):,} 个驿站{when}{resting}；{coverage_note}",
        station_tiles=station_tiles,
        stops=stops.map,
        area_tiles=area_tiles,
    )


@dataclass(frozen=True)
class _Stops:
    """The map's mobile stops (:class:`~geodata.maps.MapStops`) and how many buses they
    are (which count for coverage is :func:`~stations.services.planning.counted_points`'s
    rule, as for the figures)."""

    map: MapStops
    vehicles: int

    def note(self, at: datetime | None) -> str:
        if at is None:
            return f"；流动驿站 {self.vehicles} 个，各停靠点均计入覆盖"
        return f"；流动驿站 {self.vehicles} 个，按此刻所在停靠点计入覆盖"


def _stops_kept(
    index: StationIndex, statuses: tuple[Status, ...], district: str | None
) -> npt.NDArray[np.bool_]:
    """Which rows of ``index.stop_points`` a map shows: its bus in ``statuses`` (none
    given: not closed) and in ``district``, as :func:`_shown_mask` keeps stations."""
    owner = index.stop_points.owner
    if statuses:
        keep = index.status_mask(*statuses)[owner]
    else:
        keep = ~index.status_mask(Status.CLOSED)[owner]
    if district is not None:
        keep &= in_area(index.district[owner], district)
    return keep


def _map_stops(index: StationIndex, *, at: datetime | None, district: str | None) -> _Stops:
    """The stops of the mobile stations the map shows (not closed; in ``district``): a
    bus is never drawn at its base, only at its stops (see :class:`_Stops`)."""
    points = index.stop_points
    rows = np.flatnonzero(_stops_kept(index, (), district))
    owner, stop = points.owner[rows], points.stop[rows]
    standing = np.zeros(len(rows), np.bool_)
    until = [""] * len(rows)
    if at is not None:
        now = index.mobile_at(at)
        placed = {
            (p, pl.index): pl for p, pl in zip(now.positions.tolist(), now.placements, strict=True)
        }
        for k, (o, i) in enumerate(zip(owner.tolist(), stop.tolist(), strict=True)):
            found = placed.get((o, i))
            if found is not None:
                standing[k] = True
                until[k] = "" if found.until is None else f"{found.until:%m-%d %H:%M}"
    stations = index.stations
    stop_of = [stations[o].stops[i] for o, i in zip(owner.tolist(), stop.tolist(), strict=True)]
    drawn = MapStops(
        lon=points.lon[rows],
        lat=points.lat[rows],
        name=[x.name for x in stop_of],
        hours_text=[x.hours_text or x.hours for x in stop_of],
        vehicle=[stations[o].name for o in owner.tolist()],
        standing=standing,
        until=until,
    )
    return _Stops(drawn, len(np.unique(owner)))


def _station_tiles(index: StationIndex, url: str, filters: TileFilters) -> StationTiles:
    """Where the page fetches its station tiles (the snapshot's version in the query, so
    that a browser's cached tiles of an older registry are never asked for again)."""
    query: dict[str, str] = {"v": str(index.version)}
    if filters.district is not None:
        query["district"] = filters.district
    if filters.at is not None:
        query["at"] = filters.at.isoformat()
    return StationTiles(
        url=url.rstrip("/") + "/{z}/{x}/{y}.json",
        query=query,
        station_url="/v1/stations/{id}",
        status_labels=dict(STATUS_LABELS),
    )


def _reach_note(options: MapOptions) -> str:
    """How coverage is counted, in the legend."""
    if options.travel is None:
        return f"{options.radius_m:.0f} 米"
    return f"沿路网{options.reach}（{options.travel.cell_m:.0f} 米网格）"


def _shown(index: StationIndex, *, at: datetime | None, district: str | None) -> np.ndarray:
    """Positions of the stations on the map: not closed; with ``at``, open then."""
    return np.flatnonzero(_shown_mask(index, TileFilters(district=district, at=at)))


def _shown_mask(index: StationIndex, filters: TileFilters) -> npt.NDArray[np.bool_]:
    """Which stations the map (and its tiles) draw: those of ``filters.statuses`` (none
    given: every one not closed); with ``at``, only those open then; in ``district``; in
    one of the 上图 states ``mapped``."""
    if filters.at is not None:
        keep, _ = index.open_mask(filters.at)
        if filters.statuses:
            keep = keep & index.status_mask(*filters.statuses)
    elif filters.statuses:
        keep = index.status_mask(*filters.statuses)
    else:
        keep = ~index.status_mask(Status.CLOSED)
    if filters.district is not None:
        keep = keep & in_area(index.district, filters.district)
    if filters.mapped:
        keep = keep & index.mapped_mask(*filters.mapped)
    if len(index.mobile_positions):  # a bus is drawn at its stops (_map_stops), never its base
        keep = keep & ~index.mobile
    return keep


@dataclass(frozen=True)
class TileFilters:
    """Which stations a map's tiles draw (see :func:`_shown_mask`)."""

    statuses: tuple[Status, ...] = ()
    mapped: tuple[MappedState, ...] = ()
    district: str | None = None
    at: datetime | None = None

    def key(self) -> tuple[Any, ...]:
        """What tells one set of filters from another (``at`` to the minute)."""
        at = self.at.replace(second=0, microsecond=0).isoformat() if self.at else None
        return (
            tuple(sorted(s.value for s in self.statuses)),
            tuple(sorted(m.value for m in self.mapped)),
            self.district,
            at,
        )


# A tile's points drawn hollow (not serving now) and ringed (24-hour self-service), on top
# of their category (the 上图 state's position in LEGEND): the page draws by this code.
STATE_SELF_SERVICE = 4
STATE_NOT_IN_SERVICE = 8
_CATEGORY_CODE = {m: k for k, m in enumerate(MappedState)}
_TILE_POINTS = CacheName[CoordinateSystem, TilePoints]("tile_points", max_entries=3)
# The filters of tiles asked at once (a map per planner): more than a few may be new at once.
_TILE_KEEP = CacheName[tuple[Any, ...], npt.NDArray[np.bool_]](
    "tile_keep", max_entries=16, max_pending=16
)
_TILE_STATE = CacheName[str, tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]](
    "tile_state", max_entries=1
)


def tile_etag(
    index: StationIndex, z: int, x: int, y: int, filters: TileFilters, crs: CoordinateSystem
) -> str:
    """The tile's ETag: the snapshot's version, the tile, the filters and the system."""
    key = repr((index.version, z, x, y, filters.key(), crs.value)).encode()
    return '"t' + hashlib.sha256(key).hexdigest()[:24] + '"'


def station_tile(
    index: StationIndex, z: int, x: int, y: int, filters: TileFilters, crs: CoordinateSystem
) -> dict[str, Any]:
    """Tile ``z/x/y`` of the stations ``filters`` keep, positions in ``crs`` (the map tiles'
    system: GCJ-02 for Amap's), as :func:`geodata.cluster_tiles.tile_body` gives it (point
    states: the 上图 state's code, + STATE_SELF_SERVICE, + STATE_NOT_IN_SERVICE). Raises
    ValueError for a tile outside the scheme. The sorted points (one per system), the
    filters' masks and the states are computed once per snapshot."""
    points = index.cache(_TILE_POINTS).get_or_compute(crs, lambda: _tile_points(index, crs))
    keep = index.cache(_TILE_KEEP).get_or_compute(
        filters.key(), lambda: _shown_mask(index, filters)
    )
    category, state = index.cache(_TILE_STATE).get_or_compute("", lambda: _tile_states(index))
    body = tile_body(
        points,
        z,
        x,
        y,
        ids=index.ids,
        state=state,
        category=category,
        n_categories=len(_CATEGORY_CODE),
        keep=keep,
    )
    body["s"] = _tile_stops(index, z, x, y, filters, crs)
    return body


_TILE_STOP_POINTS = CacheName[CoordinateSystem, TilePoints]("tile_stop_points", max_entries=3)


def _tile_stops(
    index: StationIndex, z: int, x: int, y: int, filters: TileFilters, crs: CoordinateSystem
) -> list[list[int]]:
    """The mobile stations' stops in the tile, ``[px, py, id, stop, here]`` (``stop``: its
    index in the station's ``stops``; ``here`` 1 where the bus stands at ``filters.at``),
    of the buses ``filters`` keep by status and district."""
    stops = index.stop_points
    if not len(stops):
        return []

    def points() -> TilePoints:
        if crs is CoordinateSystem.WGS84:
            return TilePoints.of(stops.lon, stops.lat)
        return TilePoints.of(*from_wgs84(stops.lon, stops.lat, crs=crs))

    tiled = index.cache(_TILE_STOP_POINTS).get_or_compute(crs, points)
    owner = stops.owner
    rows, px, py = tiled.in_tile(z, x, y, _stops_kept(index, filters.statuses, filters.district))
    here: set[tuple[int, int]] = set()
    if filters.at is not None:
        now = index.mobile_at(filters.at)
        here = {(p, pl.index) for p, pl in zip(now.positions.tolist(), now.placements, strict=True)}
    return [
        [int(a), int(b), int(index.ids[o]), i, int((o, i) in here)]
        for a, b, o, i in zip(
            np.floor(px).tolist(),
            np.floor(py).tolist(),
            owner[rows].tolist(),
            stops.stop[rows].tolist(),
            strict=True,
        )
    ]


def _tile_points(index: StationIndex, crs: CoordinateSystem) -> TilePoints:
    return TilePoints.of(*tile_positions(index, crs))


def tile_positions(
    index: StationIndex, crs: CoordinateSystem
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each station's position (lon, lat, degrees) on tiles drawn in ``crs``: where
    :func:`station_tile` puts it (CGCS2000 as WGS-84)."""
    return {
        CoordinateSystem.GCJ02: index.gcj02,
        CoordinateSystem.BD09: index.bd09,
    }.get(crs, (index.nearest.lon, index.nearest.lat))


def _tile_states(index: StationIndex) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """Each station's 上图 category code and its drawing state (see station_tile)."""
    category = np.zeros(len(index), np.int8)
    for mapped, code in _CATEGORY_CODE.items():
        category[index.mapped == mapped.value] = code
    state = category.copy()
    state[index.self_service] += STATE_SELF_SERVICE
    state[~index.status_mask(Status.ACTIVE)] += STATE_NOT_IN_SERVICE
    return category, state


def _points(
    index: StationIndex,
    positions: np.ndarray,
    stations: list[Station],
    stars: Mapping[int, int],
    *,
    popups: bool = True,
) -> MapPoints:
    """The stations at ``positions`` as map points, by 上图 state; only active ones serve
    (without ``popups``: no popup texts, the tiled page fetches them)."""
    return MapPoints(
        lon=index.nearest.lon[positions],
        lat=index.nearest.lat[positions],
        category=index.mapped[positions].tolist(),
        self_service=index.self_service[positions],
        popup=_popups(stations, index.threshold_m, stars) if popups else (),
        popup_fields=POPUP_FIELDS,
        legend=LEGEND,
        in_service=index.status_mask(Status.ACTIVE)[positions],
    )


def _choropleths(
    chosen: list[District],
    stations: list[Station],
    district_codes: npt.NDArray[np.str_],
    active: npt.NDArray[np.bool_],
    shares: dict[str, float | None] | None,
    *,
    reach: str,
    demand: DemandLayer | None,
    districts: Districts,
) -> list[Choropleth]:
    """The district colourings of :data:`METRICS` (per_demand only with ``demand``;
    coverage only with its ``shares``)."""
    counts, listed_all = _district_counts(district_codes, active, stations)
    choropleths = (
        [] if shares is None else [Choropleth("coverage", f"{reach}覆盖率", shares, fmt="{:.1%}")]
    )
    choropleths += [
        Choropleth(
            "listed_all_rate",
            "三家上图率",
            {
                d.adcode: listed_all.get(d.adcode, 0) / counts[d.adcode]
                if counts.get(d.adcode)
                else None
                for d in chosen
            },
        ),
        Choropleth(
            "per_100km2",
            "每百平方公里驿站数",
            {d.adcode: stations_per_100km2(counts.get(d.adcode, 0), d.area_m2) for d in chosen},
            fmt="{:.1f}",
        ),
    ]
    if demand is not None:
        where = districts.lookup(demand.lon, demand.lat)
        per = {}
        for d in chosen:
            weight = float(demand.weight[where == d.adcode].sum())
            per[d.adcode] = counts.get(d.adcode, 0) / weight * 1000 if weight else None
        choropleths.append(
            Choropleth("per_demand", f"每千需求权重驿站数（{demand.name}）", per, fmt="{:.1f}")
        )
    return choropleths


def _district_counts(
    district_codes: npt.NDArray[np.str_], active: npt.NDArray[np.bool_], stations: list[Station]
) -> tuple[dict[str, int], dict[str, int]]:
    """By district: the active ``stations`` and those of them listed with the keyword on
    every provider, as :func:`~stations.domain.figures.figures` counts them (``stations``
    in ``district_codes``' districts, ``active`` theirs); counted in arrays, not in
    Figures (10 s at 186,000 stations)."""
    codes, where = np.unique(district_codes[active], return_inverse=True)
    listed = np.fromiter(
        (listed_on_all(s) for s, a in zip(stations, active.tolist(), strict=True) if a),
        dtype=np.bool_,
        count=int(active.sum()),
    )
    n_active = np.bincount(where, minlength=len(codes))
    n_listed = np.bincount(where, weights=listed, minlength=len(codes))
    keys = codes.tolist()
    return (
        dict(zip(keys, n_active.tolist(), strict=True)),
        dict(zip(keys, n_listed.astype(int).tolist(), strict=True)),
    )


def _collection(parts: list[shapely.Geometry]) -> shapely.Geometry:
    return shapely.GeometryCollection([p for p in parts if not p.is_empty])


# Area tiles (GET /tiles/districts/…): the districts and their provinces cut into tiles,
# per layer of districts and system, made once per process (the districts do not change
# with the registry), the last AREA_TILES_KEPT tiles' bodies kept.
AREA_TILES_FORMAT = 1
AREA_TILES_KEPT = 4096


class _AreaTiles:
    """A layer of districts cut into tiles in one system: counties and provinces."""

    def __init__(self, districts: Districts, crs: CoordinateSystem) -> None:
        shapes = to_unit_square([shift_geometry(d.geometry, crs) for d in districts])
        self.adcodes = np.array(districts.adcodes)
        self.counties = AreaLayer(shapes, districts.adcodes, [d.name for d in districts])
        named = provinces(districts)
        self.provinces: AreaLayer | None = None
        if len(named) > 1:  # one province's outline is its districts' outer edge
            codes, merged = groups_of(shapes, [code[:2] for code in districts.adcodes])
            self.provinces = AreaLayer(merged, codes, [named[c].name for c in codes])
        self.bodies: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self.lock = threading.Lock()


_AREA_LAYERS: weakref.WeakKeyDictionary[Districts, dict[CoordinateSystem, _AreaTiles]] = (
    weakref.WeakKeyDictionary()
)
_AREA_LOCK = threading.Lock()


def _area_tiles(districts: Districts, crs: CoordinateSystem) -> _AreaTiles:
    with _AREA_LOCK:
        by_crs = _AREA_LAYERS.setdefault(districts, {})
        found = by_crs.get(crs)
        if found is None:
            found = by_crs[crs] = _AreaTiles(districts, crs)
        return found


def area_tile_etag(
    districts: Districts, z: int, x: int, y: int, crs: CoordinateSystem, district: str | None
) -> str:
    """The area tile's ETag: the districts' layer, the tile, the system, the area chosen."""
    key = repr((AREA_TILES_FORMAT, districts.fingerprint, z, x, y, crs.value, district))
    return '"a' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'


def area_tile(
    districts: Districts, z: int, x: int, y: int, crs: CoordinateSystem, district: str | None
) -> dict[str, Any]:
    """Tile ``z/x/y`` of the districts (``district``: only that one, or a province's, by
    its 2-digit code), in ``crs`` (the map tiles' system), as
    :meth:`geodata.area_tiles.AreaLayer.tile` cuts them: ``d`` the districts
    ``[adcode, name, rings]``, ``b`` the provinces ``[code, name, rings]`` whose outlines
    are drawn over them (none when the districts are all one province's). Raises
    ValueError for a tile outside the scheme."""
    layer = _area_tiles(districts, crs)
    key = (z, x, y, district)
    with layer.lock:
        body = layer.bodies.get(key)
        if body is not None:
            layer.bodies.move_to_end(key)
            return body
    keep = None if district is None else in_area(layer.adcodes, district)
    body = {"z": z, "x": x, "y": y, "d": layer.counties.tile(z, x, y, keep), "b": []}
    if layer.provinces is not None:
        codes = np.array(layer.provinces.keys)
        chosen = None if district is None else codes == district[:2]
        body["b"] = layer.provinces.tile(z, x, y, chosen)
    with layer.lock:
        layer.bodies[key] = body
        while len(layer.bodies) > AREA_TILES_KEPT:
            layer.bodies.popitem(last=False)
    return body
