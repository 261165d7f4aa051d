"""The planners' coverage map of the registry (for ``GET /maps/coverage`` and ``yizhan map``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import folium
import numpy as np
import shapely

from geodata.districts import LAYERS, District, Districts
from geodata.maps import Choropleth, MapPoints, PointLegend, coverage_map
from stations.domain.demand import DemandLayer
from stations.domain.figures import figures, stations_per_100km2
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
from stations.readmodel.index import StationIndex
from stations.readmodel.network import NetworkHolder
from stations.services.planning import (
    METRICS,
    MapOptions,
    chosen_districts,
    coverage_areas,
    travel_areas,
)

__all__ = ["METRICS", "MapOptions", "station_map"]
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
    reached within the time), not discs; NoNetworkError without one."""
    say = progress or (lambda _: None)
    options = options or MapOptions()
    tiles, district, at, radius_m = options.tiles, options.district, options.at, options.radius_m
    metric, demand = options.metric, options.demand
    positions = _shown(index, at=at, district=district)
    stations = [index.stations[p] for p in positions.tolist()]
    say(f"{len(stations):,} stations")
    points = _points(index, positions, stations, stars or {})
    active = points.in_service
    assert active is not None
    chosen = chosen_districts(districts, district)
    if options.travel is not None:
        if networks is None:
            raise NoNetworkError(options.travel.travel)
        mask = np.zeros(len(index.nearest.lon), bool)
        mask[positions[active]] = True
        say(f"service areas: {options.reach}")
        areas = travel_areas(index, districts, networks, options.travel, mask, only=district)
    else:
        areas = coverage_areas(
            districts,
            points.lon[active],
            points.lat[active],
            radius_m=radius_m,
            only=district,
            progress=say,
        )
    names = {d.adcode: d.name for d in districts}
    choropleths = _choropleths(
        chosen,
        stations,
        names,
        areas.shares,
        reach=options.reach,
        demand=demand,
        threshold_m=index.threshold_m,
        districts=districts,
    )
    when = f"，{at:%Y-%m-%d %H:%M} 开放的驿站" if at is not None else ""
    idle = len(stations) - int(active.sum())
    resting = f"（其中 {idle:,} 个筹建中或暂停开放）" if idle else ""
    say("drawing")
    return coverage_map(
        points,
        districts=[(d.adcode, d.name, d.geometry) for d in chosen],
        choropleths=choropleths,
        metric=metric,
        # Districts' areas are drawn side by side: no union (their shared borders, projected
        # back and forth, would not meet exactly).
        covered=_collection(areas.covered),
        uncovered=_collection(areas.uncovered),
        radius_m=radius_m,
        reach=options.reach,
        tiles=tiles,
        title="工会驿站覆盖图" + (f"·{names[district]}" if district else ""),
        # A shipped layer's credit; a user's own file is the operator's to credit.
        credit=districts.source if districts.source in LAYERS.values() else "",
        note=f"{len(stations):,} 个驿站{when}{resting}；覆盖按 {_reach_note(options)}计",
    )


def _reach_note(options: MapOptions) -> str:
    """How coverage is counted, in the legend."""
    if options.travel is None:
        return f"{options.radius_m:.0f} 米"
    return f"沿路网{options.reach}（{options.travel.cell_m:.0f} 米网格）"


def _shown(index: StationIndex, *, at: datetime | None, district: str | None) -> np.ndarray:
    """Positions of the stations on the map: not closed; with ``at``, open then."""
    if at is not None:
        keep, _ = index.open_mask(at)
    else:
        keep = ~index.status_mask(Status.CLOSED)
    if district is not None:
        keep = keep & (index.district == district)
    return np.flatnonzero(keep)


def _points(
    index: StationIndex, positions: np.ndarray, stations: list[Station], stars: Mapping[int, int]
) -> MapPoints:
    """The stations at ``positions`` as map points, by 上图 state; only active ones serve."""
    return MapPoints(
        lon=index.nearest.lon[positions],
        lat=index.nearest.lat[positions],
        category=[m.value for m in index.mapped_at(positions)],
        self_service=index.self_service[positions],
        popup=_popups(stations, index.threshold_m, stars),
        popup_fields=POPUP_FIELDS,
        legend=LEGEND,
        in_service=index.status_mask(Status.ACTIVE)[positions],
    )


def _choropleths(
    chosen: list[District],
    stations: list[Station],
    names: dict[str, str],
    shares: dict[str, float | None],
    *,
    reach: str,
    demand: DemandLayer | None,
    threshold_m: float,
    districts: Districts,
) -> list[Choropleth]:
    """The district colourings of :data:`METRICS` (per_demand only with ``demand``)."""
    figs = figures(stations, names, threshold_m=threshold_m)
    counts = {k: f.stations_active for k, f in figs.items()}
    choropleths = [
        Choropleth("coverage", f"{reach}覆盖率", shares, fmt="{:.1%}"),
        Choropleth(
            "listed_all_rate",
            "三家上图率",
            {d.adcode: figs[d.adcode].rate(figs[d.adcode].listed_all) for d in chosen},
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


def _collection(parts: list[shapely.Geometry]) -> shapely.Geometry:
    return shapely.GeometryCollection([p for p in parts if not p.is_empty])
