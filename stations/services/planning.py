"""Coverage figures per district and for the city: area (双15) and demand-weighted; the
work budget of a coverage computation; the headline figures planners read.

Built on :mod:`geodata.coverage` (exact geometry in each district's local projection).
The stations counted are the ones a caller selects (e.g. active, or open at a time); the
city figures sum the districts, which partition it. The API's routes, the map and the
CLI come here for them: the budget is checked here, whoever asks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geodata.coverage import (
    AreaTooLargeError,
    coverage,
    coverage_work_estimate,
    coverage_work_estimates,
    demand_coverage,
)
from geodata.districts import District, Districts, whole_name
from geodata.routing import Router
from geodata.tiles import TILE_PROVIDERS, TileProvider
from geodata.travel_coverage import (
    CellGrid,
    cell_grid,
    cell_seconds,
    covered_area,
    cross_covered,
    point_seconds,
    reach_work_estimate,
)
from stations.domain.demand import DemandLayer, check_layer_name
from stations.domain.errors import InvalidOptionError
from stations.domain.figures import (
    CITY,
    figures,
    load_targets,
    progress,
    stations_per_100km2,
)
from stations.domain.model import Status
from stations.domain.travel import NoNetworkError, RoutingSettings, Travel, parse_travel
from stations.readmodel.index import CacheName, StationIndex
from stations.readmodel.network import NetworkHolder
from stations.storage.store import Store

# The farthest reach of a station that coverage, gaps and the map take (metres).
# A service radius under a metre means nothing, and a denormal one (5e-324, found by the
# schema fuzzer) made GEOS buffer a disc of NaN coordinates: a 500 instead of a 422.
MIN_RADIUS_M = 1.0
MAX_RADIUS_M = 10_000.0
MIN_CROSS, MAX_CROSS = 2, 10  # cross coverage's min_stations


@dataclass(frozen=True, slots=True)
class CoverageOptions:
    radius_m: float = 1000.0
    min_stations: int = 2  # cross coverage: "more than one station where possible"


def check_radius(radius_m: float) -> float:
    """``radius_m`` if it is MIN_RADIUS_M to MAX_RADIUS_M, else InvalidOptionError."""
    if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
        msg = f"radius_m is at least {MIN_RADIUS_M:.0f} and at most {MAX_RADIUS_M:.0f}"
        raise InvalidOptionError("radius_m", msg, code="out_of_range")
    return radius_m


def check_area(districts: Districts, area: str | None) -> str | None:
    """``area`` if it is None, one of ``districts``' adcodes or a province's 2-digit code
    (the first two digits of its districts' adcodes: 50 is Chongqing's 38, 51 Sichuan's
    183 counties), else InvalidOptionError: what coverage and gaps may be asked for."""
    if area is not None and len(area) == 2 and area.isdigit():
        if any(code.startswith(area) for code in districts.adcodes):
            return area
        msg = (
            f"没有省份代码为 {area!r} 的区县（no district in province {area!r}: "
            "a 2-digit code such as 50, or an adcode）"
        )
        raise InvalidOptionError("district", msg, code="unknown_district")
    return check_district(districts, area)


def check_district(districts: Districts, district: str | None) -> str | None:
    """``district`` if it is None or one of ``districts``' adcodes, else InvalidOptionError."""
    if district is not None and district not in districts:
        msg = (
            f"没有行政区划代码为 {district!r} 的区县或省份（no district with adcode {district!r}）"
        )
        raise InvalidOptionError("district", msg, code="unknown_district")
    return district


def coverage_options(radius_m: float = 1000.0, min_stations: int = MIN_CROSS) -> CoverageOptions:
    """The options checked: InvalidOptionError (``out_of_range``) if one is out of range."""
    check_radius(radius_m)
    if not MIN_CROSS <= min_stations <= MAX_CROSS:
        msg = f"min_stations (cross coverage) is {MIN_CROSS} to {MAX_CROSS}"
        raise InvalidOptionError("min_stations", msg, code="out_of_range")
    return CoverageOptions(radius_m=radius_m, min_stations=min_stations)


def find_demand_layer(store: Store, name: str | None) -> DemandLayer | None:
    """The demand layer named (None for no name); InvalidOptionError for a name no layer
    can have (``invalid_parameter``; PostgreSQL refuses a NUL in it) or none has
    (``not_found``, with the layers there are)."""
    if name is None:
        return None
    try:
        check_layer_name(name)
    except ValueError as exc:
        raise InvalidOptionError("demand", f"demand: {exc}") from None
    layer = store.find_demand(name)
    if layer is None:
        known = [d["name"] for d in store.list_demand()]
        msg = f"no demand layer {name!r}; layers: {known}"
        raise InvalidOptionError("demand", msg, code="not_found")
    return layer


class TooMuchWorkError(AreaTooLargeError):
    """A computation over its work budget; the message says what to choose instead. (An
    AreaTooLargeError: callers treat both alike, the API as ``too_much_work``.)"""


# One coverage computation may weigh at most this much work (see coverage_work_estimate; a
# unit is 50-250 µs here: mostly under 10 s; memory stays near the discs' size). Measured
# over the whole city (area and cross coverage of all 38 districts):
#                                       5,500 sample stations    20,000 in Chongqing
#   radius 1 km, min_stations 2 (the default)   ~30,000  1.2 s       ~107,000  6.3 s
#   radius 10 km, min_stations 2                ~53,000  4.6 s       ~191,000 13 s
#   radius 10 km, min_stations 10              ~194,000 18 s         ~700,000 79 s
# One district at 10 km and min_stations 10 over 20,000 stations weighs at most ~58,000 (5 s);
# the limit, 150,000, lets the whole city at the default go to ~25,000 stations.
MAX_COVERAGE_WORK = 150_000
# A district's outline weighs this much a vertex a level (a unit taken as 100 µs): the
# country's 2,848 counties (4.17 M vertices, ~24 s with no station at all) weigh ~210,000,
# over the budget whatever the stations; a province ~1,000-20,000; Chongqing's 38, ~3,700.
WORK_PER_VERTEX = 0.025


def chosen_districts(districts: Districts, only: str | None) -> list[District]:
    """The districts a computation covers: ``only``'s (an adcode, or a province's 2-digit
    code: its districts, see :func:`check_area`), or every one (the city)."""
    if only is None:
        return list(districts)
    inside = in_area(np.array(districts.adcodes), only)
    return [d for d, keep in zip(districts, inside, strict=True) if keep]


def in_area(adcodes: npt.NDArray[np.str_], area: str) -> npt.NDArray[np.bool_]:
    """Which of ``adcodes`` are in ``area``: a district's adcode, or a province's 2-digit
    code (its districts' adcodes begin with it)."""
    if len(area) == 2:
        return np.char.startswith(adcodes, area)
    return adcodes == area


def _where(only: str | None, districts: Districts) -> str:
    if only is None:
        return f"every district ({len(districts):,})"
    return f"province {only}" if len(only) == 2 else f"district {only}"


def choose_smaller(districts: Districts) -> str:
    """What to choose instead, in the words of the registry's size: a national one has
    provinces to choose."""
    provinces = {code[:2] for code in districts.adcodes}
    if len(provinces) > 1:
        return (
            "choose a province (district=51, 2 digits) or a county (district=510104)"
            "（请选择一个省份或区县）"
        )
    return "choose a district"


def coverage_levels(options: CoverageOptions) -> tuple[int, int]:
    """The station counts :func:`coverage_figures` measures in each district: coverage by
    one (``share``) and by ``min_stations`` (``cross_share``); its work estimate weighs
    the same."""
    return (1, options.min_stations)


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole > 0 else None


def coverage_figures_work(
    districts: Districts,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    *,
    options: CoverageOptions = CoverageOptions(),
    only: str | None = None,
    levels: tuple[int, ...] | None = None,
    drawn: bool = False,
) -> float:
    """About how much work :func:`coverage_figures` takes (see
    :func:`geodata.coverage.coverage_work_estimate`): its area coverage and cross coverage
    of each district (or coverage by each of ``levels`` stations: the map's is (1,)).
    Demand coverage is cheap beside them. ``drawn``: the areas are also drawn (a map)."""
    levels = coverage_levels(options) if levels is None else levels
    areas = [d.geometry for d in chosen_districts(districts, only)]
    # Each district's own polygon costs too, whatever the stations (projected and clipped
    # once a level): ~2.5 µs a vertex, measured over Sichuan's counties. A map draws its
    # uncovered areas, every vertex of the outlines again: at least as much once more (the
    # country's 2,848 counties with 4,000 stations: 36 s computed, 110 s drawn).
    passes = len(levels) + (1 if drawn else 0)
    outlines = WORK_PER_VERTEX * float(shapely.get_num_coordinates(areas).sum()) * passes
    if len(areas) == 1:
        return outlines + sum(
            coverage_work_estimate(areas[0], lon, lat, radius_m=options.radius_m, min_stations=k)
            for k in levels
        )
    # Many districts (a country's 2,848 counties): one sort of the stations for them all.
    return outlines + sum(
        float(
            coverage_work_estimates(
                areas, lon, lat, radius_m=options.radius_m, min_stations=k
            ).sum()
        )
        for k in levels
    )


def check_coverage_work(
    districts: Districts,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    *,
    options: CoverageOptions,
    only: str | None = None,
    levels: tuple[int, ...] | None = None,
    drawn: bool = False,
) -> None:
    """Raise TooMuchWorkError if :func:`coverage_figures_work` is over MAX_COVERAGE_WORK:
    the one budget of coverage, for figures and maps alike."""
    work = coverage_figures_work(
        districts, lon, lat, options=options, only=only, levels=levels, drawn=drawn
    )
    if work > MAX_COVERAGE_WORK:
        where = _where(only, districts)
        cross = f" with min_stations={options.min_stations}" if levels is None else ""
        smaller = " or a smaller min_stations" if levels is None else ""
        raise TooMuchWorkError(
            f"coverage of {where} at radius_m={options.radius_m:g}{cross} over "
            f"{len(lon):,} stations would weigh about {work:,.0f} units; one request may "
            f"weigh {MAX_COVERAGE_WORK:,}: {choose_smaller(districts)}, "
            f"a smaller radius_m{smaller}"
        )


def coverage_figures(
    districts: Districts,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    *,
    options: CoverageOptions = CoverageOptions(),
    demand: DemandLayer | None = None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Coverage of each district (or of ``only``) and the city, keyed by adcode and CITY;
    with ``only`` a province's 2-digit code, its districts and the province (keyed by it).

    ``share`` is the share of the area within ``radius_m`` of a station; ``cross_share``
    of ``min_stations`` stations. With ``demand``, ``demand_share``/``demand_cross_share``
    weigh demand points instead of area (each district's own points).
    """
    out: dict[str, dict[str, Any]] = {}
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    demand_district = (
        districts.lookup(demand.lon, demand.lat)
        if demand is not None and len(demand)
        else np.empty(0, dtype="<U6")
    )
    totals = {"area": 0.0, "covered": 0.0, "cross": 0.0}
    reached = np.zeros(len(lon), np.bool_)  # the stations reaching any district, once
    for d in chosen_districts(districts, only):
        single, cross = (
            coverage(d.geometry, lon, lat, radius_m=options.radius_m, min_stations=k)
            for k in coverage_levels(options)
        )
        doc: dict[str, Any] = {
            "key": d.adcode,
            "name": d.name,
            "area_km2": round(single.area_m2 / 1e6, 3),
            "covered_km2": round(single.covered_area_m2 / 1e6, 3),
            "share": round(single.share, 6),
            "cross_covered_km2": round(cross.covered_area_m2 / 1e6, 3),
            "cross_share": round(cross.share, 6),
            "stations_reaching": single.n_stations,
        }
        if demand is not None:
            doc.update(_demand_doc(demand, demand_district == d.adcode, lon, lat, options))
        out[d.adcode] = doc
        totals["area"] += single.area_m2
        totals["covered"] += single.covered_area_m2
        totals["cross"] += cross.covered_area_m2
        reached[single.reaching] = True
    province = only is not None and len(only) == 2 and bool(out)
    if only is None or province:
        # The whole (the city, or the province asked for) sums its districts.
        first = chosen_districts(districts, only)[0]
        city: dict[str, Any] = {
            "key": only if province else CITY,
            "name": (first.province or only) if province else whole_name(districts),
            "area_km2": round(totals["area"] / 1e6, 3),
            "covered_km2": round(totals["covered"] / 1e6, 3),
            "share": _share(totals["covered"], totals["area"]),
            "cross_covered_km2": round(totals["cross"] / 1e6, 3),
            "cross_share": _share(totals["cross"], totals["area"]),
            "stations_reaching": int(reached.sum()) if province else len(lon),
        }
        if demand is not None:
            everywhere = (
                np.char.startswith(demand_district, str(only))
                if province
                else np.ones(len(demand), bool)
            )
            city.update(_demand_doc(demand, everywhere, lon, lat, options))
        out[city["key"]] = city
    return out


def _demand_doc(
    demand: DemandLayer,
    mask: npt.NDArray[np.bool_],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    options: CoverageOptions,
) -> dict[str, Any]:
    dx, dy, w = demand.lon[mask], demand.lat[mask], demand.weight[mask]
    total = float(w.sum())
    if total == 0:
        return {"demand_weight": 0.0, "demand_share": None, "demand_cross_share": None}
    single = demand_coverage(dx, dy, w, lon, lat, radius_m=options.radius_m, min_stations=1)
    cross = demand_coverage(
        dx, dy, w, lon, lat, radius_m=options.radius_m, min_stations=options.min_stations
    )
    return {
        "demand_weight": round(total, 3),
        "demand_share": round(single, 6),
        "demand_cross_share": round(cross, 6),
    }


# -- over the read index -------------------------------------------------------------------

# Coverage figures kept per snapshot of the registry (they take seconds), by
# (options, open set, demand layer, district).
COVERAGE = CacheName[tuple[Any, ...], dict[str, dict[str, Any]]](
    "coverage", max_entries=64, turns=True
)
ALL_ACTIVE = b"all"  # the open-set key of "every active station, whatever its hours"


def counted(index: StationIndex, at: datetime | None) -> tuple[npt.NDArray[np.intp], bytes]:
    """Positions of the fixed stations that count for coverage: active ones, or those open
    at ``at``; and a key naming that set (see :meth:`StationIndex.open_mask`). Mobile
    stations are never counted at their base: :func:`counted_points` places them."""
    if at is None:
        mask, key = index.status_mask(Status.ACTIVE), ALL_ACTIVE
    else:
        mask, key = index.open_mask(at)
    if len(index.mobile_positions):
        mask = mask & ~index.mobile
    return np.flatnonzero(mask), key


@dataclass(frozen=True, slots=True)
class CountedPoints:
    """The points that count for coverage (WGS-84): each fixed station's position, and
    each mobile station's stop(s); ``positions`` the station of each point, ``key`` names
    the set (to keep figures by)."""

    positions: npt.NDArray[np.intp]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    key: bytes

    @property
    def stations(self) -> int:
        """How many stations count (a bus once, however many of its stops count)."""
        return len(np.unique(self.positions))


def counted_points(index: StationIndex, at: datetime | None) -> CountedPoints:
    """Where the stations that count for coverage are (see :func:`counted`). A mobile
    station (流动驿站) counts at its stops: at ``at``, at the stop where it stands then (not
    at all between stops); without ``at``, at each of its stops, as a fixed station counts
    whatever its hours."""
    positions, key = counted(index, at)
    lon, lat = index.nearest.lon[positions], index.nearest.lat[positions]
    if not len(index.mobile_positions):
        return CountedPoints(positions, lon, lat, key)
    if at is None:
        points = index.stop_points
        active = index.status_mask(Status.ACTIVE)[points.owner]
        extra, elon, elat = points.owner[active], points.lon[active], points.lat[active]
        tag = b""
    else:
        placed = index.mobile_at(at)
        extra, elon, elat = placed.positions, placed.lon, placed.lat
        stops = np.fromiter((p.index for p in placed.placements), np.intp, len(placed))
        tag = b"mobile:" + placed.positions.tobytes() + b":" + stops.tobytes()
    return CountedPoints(
        np.concatenate([positions, extra]),
        np.concatenate([lon, elon]),
        np.concatenate([lat, elat]),
        key + tag,
    )


def index_coverage(
    index: StationIndex,
    districts: Districts,
    options: CoverageOptions = CoverageOptions(),
    *,
    at: datetime | None = None,
    demand: DemandLayer | None = None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`coverage_figures` of the stations that count (see :func:`counted`), kept for
    this snapshot; over the budget, TooMuchWorkError. One computation at a time per
    snapshot: a request that comes while the start-up warm-up (or another request)
    computes the same figures waits for them."""
    points = counted_points(index, at)
    layer_key = (demand.name, demand.updated_at) if demand is not None else None
    key = (options, points.key, layer_key, only)
    cache = index.cache(COVERAGE)
    found = cache.get(key)
    if found is not None:
        return found
    lon, lat = points.lon, points.lat
    check_coverage_work(districts, lon, lat, options=options, only=only)
    return cache.get_or_compute(
        key,
        lambda: coverage_figures(districts, lon, lat, options=options, demand=demand, only=only),
    )


def city_coverage_kept(index: StationIndex, options: CoverageOptions) -> bool:
    """Whether the whole city's figures at ``options`` (every active station, no demand)
    are kept for this snapshot: they hold every district's."""
    kept = index.cached(COVERAGE.name)
    return kept is not None and (options, ALL_ACTIVE, None, None) in kept


@dataclass(frozen=True, slots=True)
class CoverageAreas:
    """Each district's area within ``radius_m`` of a station and beyond, and its share."""

    covered: list[shapely.Geometry]
    uncovered: list[shapely.Geometry]
    shares: dict[str, float | None]  # None: not measured (outside the network's extent)


def coverage_areas(
    districts: Districts,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    *,
    radius_m: float,
    only: str | None = None,
    progress: Any = None,
) -> CoverageAreas:
    """The covered and uncovered areas of each district (or of ``only``), for a map;
    over the budget, TooMuchWorkError. ``progress`` is told each district done."""
    check_coverage_work(
        districts,
        lon,
        lat,
        options=CoverageOptions(radius_m=radius_m),
        only=only,
        levels=(1,),
        drawn=True,
    )
    chosen = chosen_districts(districts, only)
    out = CoverageAreas([], [], {})
    for i, d in enumerate(chosen, start=1):
        result = coverage(d.geometry, lon, lat, radius_m=radius_m)
        out.covered.append(result.covered)
        out.uncovered.append(result.uncovered)
        out.shares[d.adcode] = result.share
        if progress is not None:
            progress(f"coverage {i}/{len(chosen)} {d.name}")
    return out


# -- the map's options --------------------------------------------------------------------

# The district colourings of the map (see stations.services.maps), the first one shown.
METRICS = ("coverage", "listed_all_rate", "per_100km2", "per_demand")


@dataclass(frozen=True, slots=True)
class MapOptions:
    """What a coverage map shows (see :func:`map_options`, which checks them): the tiles,
    one district or all, only the stations open ``at``, the reach, the colouring shown
    first and the demand layer (needed for ``per_demand``)."""

    tiles: TileProvider | str = "osm"
    district: str | None = None
    at: datetime | None = None
    radius_m: float = 1000.0
    metric: str = "coverage"
    demand: DemandLayer | None = None
    travel: TravelOptions | None = None  # service areas along the network instead of discs

    def key(self) -> tuple[Any, ...]:
        """What tells one map from another in a snapshot (``at`` to the minute)."""
        tiles = self.tiles if isinstance(self.tiles, str) else self.tiles.name
        return (
            tiles,
            self.district,
            self.at.replace(second=0, microsecond=0) if self.at else None,
            self.radius_m,
            self.metric,
            (self.demand.name, self.demand.updated_at) if self.demand else None,
            self.travel,
        )

    @property
    def reach(self) -> str:
        """The reach in words: "步行 15 分钟" or "1000 米"."""
        if self.travel is not None:
            return f"{self.travel.travel.label} {self.travel.minutes} 分钟"
        return f"{self.radius_m:.0f} 米"


def map_options(
    *,
    tile_providers: Mapping[str, TileProvider],
    districts: Districts,
    store: Store,
    tiles: str = "osm",
    metric: str = "coverage",
    radius_m: float | None = None,
    district: str | None = None,
    at: datetime | None = None,
    demand: str | None = None,
    travel: str | None = None,
    minutes: int | None = None,
    cell_m: float = 50.0,
) -> MapOptions:
    """The map's options checked once, for ``GET /maps/coverage`` and ``yizhan map``
    alike: InvalidOptionError says which is wrong. ``tile_providers`` are those usable
    here (Settings.tile_providers: a provider needing a key is there only with it).
    ``travel``/``minutes``: service areas along the network (see :func:`travel_options`;
    not with ``radius_m``)."""
    by_travel = travel_options(travel, minutes=minutes, radius_m=radius_m, cell_m=cell_m)
    radius_m = 1000.0 if radius_m is None else radius_m
    provider = tile_providers.get(tiles)
    if provider is None:
        known = TILE_PROVIDERS.get(tiles)
        needs = f" ({tiles} needs a key: set {known.key_setting})" if known else ""
        msg = f"tiles={tiles!r}: use {' or '.join(tile_providers)}{needs}"
        raise InvalidOptionError("tiles", msg)
    if metric not in METRICS:
        raise InvalidOptionError("metric", f"metric={metric!r}: use one of {', '.join(METRICS)}")
    check_radius(radius_m)
    check_area(districts, district)  # a province too: what the budget says to choose
    if metric == "per_demand" and demand is None:
        raise InvalidOptionError("demand", "metric=per_demand needs demand=<layer>")
    layer = find_demand_layer(store, demand)
    return MapOptions(provider, district, at, radius_m, metric, layer, by_travel)


# -- headline figures ----------------------------------------------------------------------


class TargetsFileError(ValueError):
    """The targets file cannot be read or holds a bad target (the message says which)."""


def headline_figures(
    index: StationIndex,
    districts: Districts,
    *,
    targets_file: str | Path | None,
    today: date,
) -> dict[str, dict[str, Any]]:
    """The figures of each district and the city (keyed by adcode and CITY), as
    ``/v1/districts`` shows them: stations, 上图, density, coverage and cross coverage at
    the defaults (None where too much work for one request) and progress against the
    targets in ``targets_file`` (``targets``; TargetsFileError if it is broken)."""
    # The figures are kept for the snapshot (2.9 s at 186,000 stations, shared machine);
    # the targets file is read again each time (it may be edited while serving).
    kept = index.cache(HEADLINE).get_or_compute(
        (id(districts), index.threshold_m), lambda: _figures_docs(index, districts)
    )
    docs = {key: dict(doc) for key, doc in kept.items()}
    targets = _progress(targets_file, docs, today=today)
    for doc in docs.values():
        doc["targets"] = [t for t in targets if t["key"] == doc["key"]]
    return docs


# The headline figures of a snapshot without their targets, by (districts, threshold).
HEADLINE = CacheName[tuple[int, float], dict[str, dict[str, Any]]](
    "headline", max_entries=4, turns=True
)


def _figures_docs(index: StationIndex, districts: Districts) -> dict[str, dict[str, Any]]:
    names = {d.adcode: d.name for d in districts}
    docs = {
        k: f.as_dict()
        for k, f in figures(
            index.stations, names, threshold_m=index.threshold_m, whole=whole_name(districts)
        ).items()
    }
    for d in districts:
        docs[d.adcode]["area_km2"] = round(d.area_m2 / 1e6, 3)
        per = stations_per_100km2(docs[d.adcode]["stations_active"], d.area_m2)
        docs[d.adcode]["stations_per_100km2"] = round(per, 3)
    _add_coverage(docs, index, districts)
    return docs


def _add_coverage(
    docs: dict[str, dict[str, Any]], index: StationIndex, districts: Districts
) -> None:
    """Each district's coverage and cross coverage at the defaults; None for all of them
    when the registry is too large to measure them in one request (GET /v1/coverage with
    a district then tells the figures one district at a time), or a district too large
    to measure in one piece."""
    try:
        cover = index_coverage(index, districts)
    except AreaTooLargeError:  # TooMuchWorkError too
        cover = {}
    for key, figs in docs.items():
        c = cover.get(key)
        figs["coverage"] = c["share"] if c else None
        figs["cross_coverage"] = c["cross_share"] if c else None


def _progress(
    path: str | Path | None, docs: dict[str, dict[str, Any]], *, today: date
) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        targets = load_targets(path)
    except ValueError as exc:
        raise TargetsFileError(str(exc)) from None
    return progress(targets, docs, today=today)


# -- coverage by travel time on a street network (issue 17) ------------------------------

MIN_MINUTES, MAX_MINUTES = 1, 60
DEFAULT_MINUTES = 15
# How far a cell centre (or a demand point) may be from its nearest way to count: its walk-in
# leg is counted in its time (at most the profile's snap distance).
WALK_IN_M = 100.0
# Cross coverage by travel time counts, for every station that can reach the area, the nodes
# within its reach (geodata.travel_coverage.reach_work_estimate). Measured with package 3's
# Router.reach_counts (bench/coverage.py street grid, 15 min on foot, machine shared, load
# ~4 on 2 cores): 4.7 µs a visit (300 stations, 40 k nodes: 330,783 visits, 1.57 s); the
# whole synthetic city (272 k nodes, 5,500 stations: ~6.2 million) took 193 s. 3 million is
# ~15 s shared, ~7 s alone: a district at a time, or the city of a few thousand stations at
# fewer minutes.
MAX_REACH_WORK = 3_000_000


@dataclass(frozen=True, slots=True)
class TravelOptions:
    """Coverage within ``minutes`` of ``travel`` along the network, on cells of ``cell_m``."""

    travel: Travel
    minutes: int = DEFAULT_MINUTES
    min_stations: int = MIN_CROSS
    cell_m: float = 50.0

    @property
    def limit_s(self) -> float:
        return self.minutes * 60.0


def travel_options(
    travel: str | None,
    *,
    minutes: int | None = None,
    radius_m: float | None = None,
    min_stations: int = MIN_CROSS,
    cell_m: float = 50.0,
) -> TravelOptions | None:
    """The travel-time options checked (None: by the straight line, ``radius_m``);
    InvalidOptionError in Chinese for a profile that is none, ``minutes`` out of range or
    without ``travel``, or ``radius_m`` with it."""
    try:
        chosen = parse_travel(travel)
    except ValueError as exc:
        raise InvalidOptionError("travel", str(exc)) from None
    if chosen is None:
        if minutes is not None:
            msg = (
                "minutes（出行分钟数）需要与 travel=walk 或 travel=ebike 一起使用；"
                "直线覆盖用 radius_m"
            )
            raise InvalidOptionError("minutes", msg)
        return None
    if radius_m is not None:
        msg = (
            "travel 与 radius_m 不能同时使用：按路网覆盖时用 minutes（出行分钟数），"
            "按直线覆盖时去掉 travel"
        )
        raise InvalidOptionError("radius_m", msg)
    minutes = DEFAULT_MINUTES if minutes is None else minutes
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        msg = f"minutes（出行分钟数）须在 {MIN_MINUTES} 到 {MAX_MINUTES} 之间，不是 {minutes}"
        raise InvalidOptionError("minutes", msg, code="out_of_range")
    if not MIN_CROSS <= min_stations <= MAX_CROSS:
        msg = f"min_stations (cross coverage) is {MIN_CROSS} to {MAX_CROSS}"
        raise InvalidOptionError("min_stations", msg, code="out_of_range")
    return TravelOptions(chosen, minutes, min_stations, float(cell_m))


def check_travel_work(router: Router, stations: int, options: TravelOptions) -> None:
    """Raise TooMuchWorkError if cross coverage by travel time over ``stations`` stations
    weighs more than MAX_REACH_WORK node visits."""
    work = reach_work_estimate(
        router.network, stations, speed_kmh=router.speed_kmh, limit_s=options.limit_s
    )
    if work > MAX_REACH_WORK:
        raise TooMuchWorkError(
            f"cross coverage within {options.minutes} min ({options.travel.label}) over "
            f"{stations:,} stations would visit about {work:,.0f} network nodes; one request "
            f"may visit {MAX_REACH_WORK:,}: choose a district or fewer minutes"
        )


@dataclass(frozen=True, slots=True)
class TravelCover:
    """One computation's covered cells (indices into ``grid``'s kept cells), by one station
    and by ``min_stations``, for the figures and the map."""

    grid: CellGrid
    covered: npt.NDArray[np.bool_]
    cross: npt.NDArray[np.bool_] | None
    reach_m: float  # the farthest straight line a station can cover within the time


def walk_in_m(networks: NetworkHolder, travel: Travel) -> float:
    return settings_walk_in_m(networks.settings, travel)


def settings_walk_in_m(routing: RoutingSettings, travel: Travel) -> float:
    """How far a cell centre or demand point may be from its way (see WALK_IN_M)."""
    return min(WALK_IN_M, routing.snap(travel))


def travel_cover(
    router: Router,
    grid: CellGrid,
    mask: npt.NDArray[np.bool_],
    options: TravelOptions,
    *,
    cells: npt.NDArray[np.int64] | None = None,
    cross: bool = True,
) -> TravelCover:
    """Which cells of ``grid`` (or only of ``cells``, for cross coverage) are within the time
    of a station passing ``mask``; over the budget, TooMuchWorkError."""
    limit_s = options.limit_s
    seconds = cell_seconds(router, grid, mask, limit_s=limit_s)
    covered = np.isfinite(seconds)
    crossed = None
    if cross:
        stations = int((mask & router.reachable).sum())
        check_travel_work(router, stations, options)
        wanted = np.zeros(len(grid), bool)
        wanted[np.arange(len(grid)) if cells is None else cells] = True
        crossed = cross_covered(
            router,
            grid.snaps,
            covered & wanted,
            mask,
            limit_s=limit_s,
            min_stations=options.min_stations,
        )
    return TravelCover(grid, covered, crossed, router.speed_kmh / 3.6 * limit_s)


def travel_coverage_figures(
    districts: Districts,
    router: Router,
    grid: CellGrid,
    stations: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    mask: npt.NDArray[np.bool_],
    options: TravelOptions,
    *,
    demand: DemandLayer | None = None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Coverage within ``options.minutes`` along the network of each district (or of
    ``only``) and the city, keyed by adcode and CITY, in :func:`coverage_figures`'s shape.

    ``share`` is the share of the district's area whose cells reach a station passing
    ``mask`` (over the router's stations, at ``stations`` lon/lat) in time, walk-in leg
    included; ``cross_share`` that of ``min_stations`` stations; ``stations_reaching`` the
    stations passing ``mask``, on the network, within the straight-line reach (speed x
    minutes, and half a cell's diagonal) of the district: the only ones that can cover it.
    With ``demand``, the same for the demand points (each snapped as a cell is).
    """
    chosen = chosen_districts(districts, only)
    areas = {d.adcode: grid.area_cells(d.adcode, d.geometry) for d in chosen}
    wanted = np.unique(np.concatenate([a.cells for a in areas.values()] + [np.empty(0, int)]))
    # The stations that can cover a district: on the network and within the straight-line
    # reach of it (no route is shorter than the straight line, no way faster than the
    # profile's speed); with one district, only those are searched from. A cell on the
    # border counts by its centre, up to half a diagonal outside: that much more.
    reach_m = router.speed_kmh / 3.6 * options.limit_s + grid.cell_m * math.sqrt(0.5)
    on_network = np.flatnonzero(mask & router.reachable)
    sx, sy = grid.to_local().transform(stations[0][on_network], stations[1][on_network])
    points = shapely.points(np.asarray(sx), np.asarray(sy))
    reaching: dict[str, npt.NDArray[np.bool_]] = {}
    for d in chosen:
        local = grid.local(d.geometry)
        shapely.prepare(local)
        reaching[d.adcode] = shapely.dwithin(local, points, reach_m)
    if only is not None:
        mask = np.zeros_like(mask)
        mask[on_network[reaching[only]]] = True
    cover = travel_cover(router, grid, mask, options, cells=wanted.astype(np.int64))
    assert cover.cross is not None
    # The part of each district the network's extent reaches: outside it nothing is known
    # (a Yuzhong extract says nothing of Jiangbei), so a district wholly outside has no
    # share (None), not 0, and the city's share (and demand share) is over the districts
    # measured.
    extent_m2 = {d.adcode: min(d.area_m2, network_area_m2(grid, d)) for d in chosen}
    measured = {d.adcode for d in chosen if extent_m2[d.adcode] > 0}
    demand_doc = _travel_demand(
        router, grid, mask, options, demand, districts, chosen, only, measured
    )
    out: dict[str, dict[str, Any]] = {}
    totals = {"area": 0.0, "covered": 0.0, "cross": 0.0, "network": 0.0}
    for d in chosen:
        cells = areas[d.adcode]
        covered = float(cells.area_m2[cover.covered[cells.cells]].sum())
        crossed = float(cells.area_m2[cover.cross[cells.cells]].sum())
        on_network_m2 = extent_m2[d.adcode]
        known = on_network_m2 > 0
        out[d.adcode] = {
            "key": d.adcode,
            "name": d.name,
            "area_km2": round(d.area_m2 / 1e6, 3),
            "network_km2": round(on_network_m2 / 1e6, 3),
            "covered_km2": round(covered / 1e6, 3),
            "share": round(min(1.0, covered / d.area_m2), 6) if known else None,
            "cross_covered_km2": round(crossed / 1e6, 3),
            "cross_share": round(min(1.0, crossed / d.area_m2), 6) if known else None,
            "stations_reaching": int(reaching[d.adcode].sum()),
            **demand_doc.get(d.adcode, {}),
        }
        if known:
            totals["area"] += d.area_m2
            totals["covered"] += covered
            totals["cross"] += crossed
            totals["network"] += on_network_m2
    if only is None:
        out[CITY] = {
            "key": CITY,
            "name": whole_name(districts),
            "area_km2": round(totals["area"] / 1e6, 3),
            "network_km2": round(totals["network"] / 1e6, 3),
            "covered_km2": round(totals["covered"] / 1e6, 3),
            "share": _share(totals["covered"], totals["area"]),
            "cross_covered_km2": round(totals["cross"] / 1e6, 3),
            "cross_share": _share(totals["cross"], totals["area"]),
            "stations_reaching": int(on_network.size),
            **demand_doc.get(CITY, {}),
        }
    return out


def network_area_m2(grid: CellGrid, district: District) -> float:
    """The area of ``district`` inside the rectangle of ``grid`` (the network's extent plus
    the walk-in distance), in the grid's frame."""
    side = grid.cell_m
    extent = shapely.box(grid.x0, grid.y0, grid.x0 + grid.nx * side, grid.y0 + grid.ny * side)
    return float(shapely.intersection(grid.local(district.geometry), extent).area)


def _travel_demand(
    router: Router,
    grid: CellGrid,
    mask: npt.NDArray[np.bool_],
    options: TravelOptions,
    demand: DemandLayer | None,
    districts: Districts,
    chosen: list[District],
    only: str | None,
    measured: set[str],
) -> dict[str, dict[str, Any]]:
    """Each district's (and the city's) demand figures by travel time: the weighted share
    of the demand points within the time (snapped within the grid's walk-in distance;
    farther ones are not covered); no share for a district not ``measured`` (outside the
    network's extent), and the city's over the measured ones."""
    if demand is None:
        return {}
    where = districts.lookup(demand.lon, demand.lat) if len(demand) else np.empty(0, "<U6")
    inside = np.isin(where, [d.adcode for d in chosen])
    at = np.flatnonzero(inside)
    snaps = router.snapper.snap(demand.lon[at], demand.lat[at], max_m=grid.walk_in_m)
    seconds = point_seconds(router, snaps, mask, limit_s=options.limit_s)
    covered = np.isfinite(seconds)
    crossed = cross_covered(
        router,
        snaps,
        covered,
        mask,
        limit_s=options.limit_s,
        min_stations=options.min_stations,
    )
    weight, where = demand.weight[at], where[at]
    groups = {d.adcode: where == d.adcode for d in chosen}
    if only is None:
        groups[CITY] = np.isin(where, list(measured))
    out: dict[str, dict[str, Any]] = {}
    for key, sel in groups.items():
        total = float(weight[sel].sum())
        if key != CITY and key not in measured:
            out[key] = {
                "demand_weight": round(total, 3),
                "demand_share": None,
                "demand_cross_share": None,
            }
            continue
        if total == 0:
            out[key] = {"demand_weight": 0.0, "demand_share": None, "demand_cross_share": None}
            continue
        out[key] = {
            "demand_weight": round(total, 3),
            "demand_share": round(float(weight[sel & covered].sum()) / total, 6),
            "demand_cross_share": round(float(weight[sel & crossed].sum()) / total, 6),
        }
    return out


# Coverage figures by travel time kept per snapshot of the registry, by (network version,
# options, open set, demand layer, district).
TRAVEL_COVERAGE = CacheName[tuple[Any, ...], dict[str, dict[str, Any]]](
    "travel_coverage", max_entries=64, turns=True
)


def network_version(networks: NetworkHolder, travel: Travel) -> int:
    """The version of ``travel``'s stored network; NoNetworkError when there is none."""
    info = networks.loaded().get(travel)
    if info is None:
        raise NoNetworkError(travel)
    return info.version


def index_travel_coverage(
    index: StationIndex,
    districts: Districts,
    networks: NetworkHolder,
    options: TravelOptions,
    *,
    at: datetime | None = None,
    demand: DemandLayer | None = None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`travel_coverage_figures` of the stations that count (see :func:`counted`),
    kept for this snapshot and network version; NoNetworkError without a network for the
    profile; over the budget, TooMuchWorkError."""
    version = network_version(networks, options.travel)
    router = networks.router(options.travel, index)
    positions, open_key = counted(index, at)
    layer_key = (demand.name, demand.updated_at) if demand is not None else None
    key = (version, options, open_key, layer_key, only)
    cache = index.cache(TRAVEL_COVERAGE)
    found = cache.get(key)
    if found is not None:
        return found
    mask = np.zeros(len(index.nearest.lon), bool)
    mask[positions] = True
    grid = cell_grid(
        router.network,
        router.snapper,
        cell_m=options.cell_m,
        walk_in_m=walk_in_m(networks, options.travel),
    )
    stations = (index.nearest.lon, index.nearest.lat)
    return cache.get_or_compute(
        key,
        lambda: travel_coverage_figures(
            districts, router, grid, stations, mask, options, demand=demand, only=only
        ),
    )


def travel_coverage_document(
    index: StationIndex,
    districts: Districts,
    networks: NetworkHolder,
    options: TravelOptions,
    *,
    at: datetime | None = None,
    demand: DemandLayer | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    """``GET /v1/coverage?travel=…``'s answer: today's coverage document (``radius_m``
    None) with ``travel``, ``travel_label``, ``minutes``, ``cell_m``, ``walk_in_m``,
    ``speed_kmh`` and ``network_version``, and each district's figures on the network."""
    figures_ = index_travel_coverage(
        index, districts, networks, options, at=at, demand=demand, only=only
    )
    positions, _ = counted(index, at)
    router = networks.router(options.travel, index)
    return {
        "travel": options.travel.value,
        "travel_label": options.travel.label,
        "minutes": options.minutes,
        "speed_kmh": router.speed_kmh,
        "cell_m": options.cell_m,
        "walk_in_m": walk_in_m(networks, options.travel),
        "network_version": network_version(networks, options.travel),
        "radius_m": None,
        "min_stations": options.min_stations,
        "at": at.isoformat() if at else None,
        "demand": demand.summary() if demand else None,
        "stations_counted": len(positions),
        "stations_off_network": int((~router.reachable[positions]).sum()),
        "city": figures_.get(CITY),
        "districts": [figures_[d.adcode] for d in districts if d.adcode in figures_],
    }


def travel_areas(
    index: StationIndex,
    districts: Districts,
    networks: NetworkHolder,
    options: TravelOptions,
    mask: npt.NDArray[np.bool_],
    *,
    only: str | None = None,
) -> CoverageAreas:
    """The service areas for a map: each district's (or ``only``'s) area within the time of
    a station passing ``mask`` (over the index positions) along the network, the rest, and
    the share (as :func:`travel_coverage_figures` measures it). NoNetworkError without a
    network for the profile."""
    router = networks.router(options.travel, index)
    grid = cell_grid(
        router.network,
        router.snapper,
        cell_m=options.cell_m,
        walk_in_m=walk_in_m(networks, options.travel),
    )
    cover = travel_cover(router, grid, mask, options, cross=False)
    drawn = covered_area(grid, np.flatnonzero(cover.covered))
    shapely.prepare(drawn)
    out = CoverageAreas([], [], {})
    for d in chosen_districts(districts, only):
        cells = grid.area_cells(d.adcode, d.geometry)
        covered = float(cells.area_m2[cover.covered[cells.cells]].sum())
        inside = grid.wgs84(shapely.intersection(drawn, grid.local(d.geometry)))
        out.covered.append(inside)
        out.uncovered.append(shapely.difference(d.geometry, inside))
        known = network_area_m2(grid, d) > 0  # else unknown, as travel_coverage_figures says
        out.shares[d.adcode] = min(1.0, covered / d.area_m2) if known else None
    return out
