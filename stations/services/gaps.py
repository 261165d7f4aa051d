"""Where the next stations would cover the most: greedy maximal covering over a grid of
candidate sites, with its work budget (for ``GET /v1/gaps``, and any other caller)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from geodata.coverage import Gap, area_gaps, candidate_grid, gap_pairs_estimate, greedy_gaps
from geodata.districts import Districts
from geodata.routing import Router
from geodata.travel_coverage import (
    candidate_cells,
    cell_grid,
    greedy_travel_gaps,
    point_seconds,
    subset,
)
from stations.domain.demand import DemandLayer
from stations.domain.errors import InvalidOptionError
from stations.readmodel.index import StationIndex, computing
from stations.readmodel.network import NetworkHolder
from stations.services.planning import (
    CoverageOptions,
    TooMuchWorkError,
    TravelOptions,
    check_area,
    check_radius,
    choose_smaller,
    chosen_districts,
    city_coverage_kept,
    counted,
    counted_points,
    index_coverage,
    network_area_m2,
    travel_options,
    walk_in_m,
)

# One gap search may weigh at most this many (candidate, demand point) pairs: ~8 bytes
# and a few nanoseconds a greedy step each (20 million: ~160 MB, a few seconds). The whole
# city at the default 1 km grid and radius is ~1 million; a large district at 250 m, ~11.
MAX_GAP_PAIRS = 20_000_000


MAX_GAP_SITES = 50  # sites one search suggests at most
# The candidate grid's spacing (ints: /openapi.json has said 250 and 5000, not 250.0).
MIN_SPACING_M, MAX_SPACING_M = 250, 5000


@dataclass(frozen=True, slots=True)
class GapOptions:
    """What a gap search looks for: ``n`` sites, from a grid of candidates ``spacing_m``
    apart inside ``district`` (or every district), each reaching ``radius_m`` (see
    :func:`gap_options`, which checks them)."""

    n: int = 10
    radius_m: float = 1000.0
    spacing_m: float = 1000.0
    district: str | None = None
    travel: TravelOptions | None = None  # by travel time along the network instead


def gap_options(
    districts: Districts,
    *,
    n: int = 10,
    radius_m: float | None = None,
    spacing_m: float = 1000.0,
    district: str | None = None,
    travel: str | None = None,
    minutes: int | None = None,
    cell_m: float = 50.0,
) -> GapOptions:
    """The options checked once: InvalidOptionError says which is out of range (and, in
    Chinese, ``radius_m`` with ``travel``, see :func:`travel_options`)."""
    by_travel = travel_options(travel, minutes=minutes, radius_m=radius_m, cell_m=cell_m)
    radius_m = 1000.0 if radius_m is None else radius_m
    check_radius(radius_m)
    if not 1 <= n <= MAX_GAP_SITES:
        raise InvalidOptionError("n", f"n is 1 to {MAX_GAP_SITES}", code="out_of_range")
    if not MIN_SPACING_M <= spacing_m <= MAX_SPACING_M:
        msg = f"spacing_m is {MIN_SPACING_M:.0f} to {MAX_SPACING_M:.0f}"
        raise InvalidOptionError("spacing_m", msg, code="out_of_range")
    check_area(districts, district)
    return GapOptions(n, radius_m, spacing_m, district, by_travel)


@dataclass(frozen=True, slots=True)
class Gaps:
    """Suggested sites, best first; ``unit`` is what their gains count (demand weight, or
    km² of area), ``candidates`` how many sites were weighed."""

    unit: str
    candidates: int
    sites: list[Gap]


def check_gap_work(
    candidates: int,
    demand: int,
    *,
    spacing_m: float,
    radius_m: float,
    choose: str = "choose a district",
) -> None:
    """Raise TooMuchWorkError if a search over ``candidates`` sites and ``demand`` points
    weighs more than MAX_GAP_PAIRS pairs; ``choose`` says what area to choose instead."""
    pairs = gap_pairs_estimate(candidates, demand, spacing_m=spacing_m, radius_m=radius_m)
    if pairs > MAX_GAP_PAIRS:
        raise TooMuchWorkError(
            f"this search would weigh about {pairs / 1e6:,.0f} million candidate-demand pairs "
            f"({candidates:,} candidates, {demand:,} demand points, radius {radius_m:g} m); "
            f"one request may weigh {MAX_GAP_PAIRS / 1e6:,.0f} million: {choose}, "
            "a wider spacing_m or a smaller radius_m",
        )


def find_gaps(
    index: StationIndex,
    districts: Districts,
    options: GapOptions = GapOptions(),
    *,
    demand: DemandLayer | None = None,
) -> Gaps:
    """:func:`_find_gaps`, holding the request's turn while it computes (api/heavy.py:
    seconds of CPU that no cache saves)."""
    with computing():
        return _find_gaps(index, districts, options, demand=demand)


def _find_gaps(
    index: StationIndex,
    districts: Districts,
    options: GapOptions = GapOptions(),
    *,
    demand: DemandLayer | None = None,
) -> Gaps:
    """The ``n`` sites (from a grid of candidates ``spacing_m`` apart inside the districts,
    or ``district``) that each cover the most demand (or area, without ``demand``) not yet
    within ``radius_m`` of an active station or an earlier pick. Over the budget,
    TooMuchWorkError (an AreaTooLargeError, as is a district too large to measure)."""
    n, radius_m, spacing_m = options.n, options.radius_m, options.spacing_m
    district = options.district
    areas = chosen_districts(districts, district)
    points = counted_points(index, None)
    station_lon, station_lat = points.lon, points.lat
    # The grid's size from the areas first, under area's budget whatever is covered: a
    # country's grid (9.6 M cells at 1 km) is too big to make.
    cells = int(sum(d.area_m2 for d in areas) / spacing_m**2)
    choose = choose_smaller(districts)
    check_gap_work(cells, 4 * cells, spacing_m=spacing_m, radius_m=radius_m, choose=choose)
    if demand is not None:
        cx, cy = _concat(candidate_grid(d.geometry, spacing_m=spacing_m) for d in areas)
        inside = np.isin(districts.lookup(demand.lon, demand.lat), [d.adcode for d in areas])
        dx, dy, w = demand.lon[inside], demand.lat[inside], demand.weight[inside]
        check_gap_work(len(cx), len(dx), spacing_m=spacing_m, radius_m=radius_m, choose=choose)
        sites = greedy_gaps(
            cx,
            cy,
            demand_lon=dx,
            demand_lat=dy,
            weight=w,
            station_lon=station_lon,
            station_lat=station_lat,
            n=n,
            radius_m=radius_m,
        )
        return Gaps("demand weight", len(cx), sites)
    # Area: measured exactly, as the coverage figures measure it (from them, if kept).
    # The same budget (above) as when area was sampled four points per candidate cell.
    cover_options = CoverageOptions(radius_m=radius_m)
    # The whole city's figures (kept since the warm-up) hold every district's.
    only = None if city_coverage_kept(index, cover_options) else district
    cover = index_coverage(index, districts, cover_options, only=only)
    found = area_gaps(
        [d.geometry for d in areas],
        station_lon=station_lon,
        station_lat=station_lat,
        n=n,
        radius_m=radius_m,
        spacing_m=spacing_m,
        covered_m2=sum(cover[d.adcode]["covered_km2"] for d in areas) * 1e6,
    )
    sites = [Gap(g.lon, g.lat, g.gain / 1e6, g.share) for g in found.sites]
    return Gaps("km²", found.candidates, sites)


# One gap search by travel time may weigh at most this much: each candidate's bounded search
# costs about 1.3 µs per network node (scipy's per-search arrays; measured with the merged
# Router: 51 ms a search on a 40,000-node grid, shared machine) and ~50 ns per target read;
# so a search weighs nodes + targets / 25 "node visits". 15 million: ~20 s shared. On the
# spike's 272 k-node city that is ~50 candidates: choose a district and a wide spacing_m.
MAX_TRAVEL_GAP_WORK = 15_000_000


def find_travel_gaps(
    index: StationIndex,
    districts: Districts,
    networks: NetworkHolder,
    options: GapOptions,
    *,
    demand: DemandLayer | None = None,
) -> Gaps:
    """:func:`_find_travel_gaps`, holding the request's turn while it computes (api/heavy.py:
    seconds of CPU that no cache saves)."""
    with computing():
        return _find_travel_gaps(index, districts, networks, options, demand=demand)


def _find_travel_gaps(
    index: StationIndex,
    districts: Districts,
    networks: NetworkHolder,
    options: GapOptions,
    *,
    demand: DemandLayer | None = None,
) -> Gaps:
    """Gap picks by travel time: candidates are the network's cells about ``spacing_m``
    apart inside the districts (or ``district``) with a way within the walk-in distance;
    targets the cells (weighed by their area in the districts) or demand points not yet
    within ``minutes`` of an active station; each pick the candidate whose own bounded
    search reaches the most target weight not reached by an earlier pick (greedy maximal
    covering, geodata.travel_coverage.greedy_travel_gaps). NoNetworkError without a
    network; over the budget, TooMuchWorkError."""
    chosen = options.travel
    assert chosen is not None
    router = networks.router(chosen.travel, index)
    walk_in = walk_in_m(networks, chosen.travel)
    grid = cell_grid(router.network, router.snapper, cell_m=chosen.cell_m, walk_in_m=walk_in)
    # Only the districts the network's extent reaches (elsewhere nothing is known: the
    # shares are over these, as /v1/coverage?travel='s city share is).
    areas = [d for d in chosen_districts(districts, options.district) if network_area_m2(grid, d)]
    cell_area = np.zeros(len(grid))
    for d in areas:
        cells = grid.area_cells(d.adcode, d.geometry)
        np.add.at(cell_area, cells.cells, cells.area_m2)
    inside = np.flatnonzero(cell_area > 0)
    mask = np.zeros(len(index.nearest.lon), bool)
    mask[counted(index, None)[0]] = True
    if demand is None:
        targets, weight = subset(grid.snaps, inside), cell_area[inside]
        total = float(sum(d.area_m2 for d in areas))
        unit, scale = "km²", 1e-6
    else:
        keys = [d.adcode for d in areas]
        at = np.flatnonzero(np.isin(districts.lookup(demand.lon, demand.lat), keys))
        targets = router.snapper.snap(demand.lon[at], demand.lat[at], max_m=walk_in)
        weight = demand.weight[at].astype(np.float64)
        total = float(weight.sum())
        unit, scale = "demand weight", 1.0
    reached = np.isfinite(point_seconds(router, targets, mask, limit_s=chosen.limit_s))
    covered = float(weight[reached].sum())
    open_ = np.flatnonzero(~reached & targets.snapped)
    candidates = candidate_cells(grid, inside, spacing_m=options.spacing_m)
    work = candidates.size * (router.network.nodes + open_.size / 25)
    if work > MAX_TRAVEL_GAP_WORK:
        raise TooMuchWorkError(
            f"this search would weigh about {work / 1e6:,.1f} million node visits "
            f"({candidates.size:,} candidates, each a search over {router.network.nodes:,} "
            f"network nodes and {open_.size:,} targets not covered within {chosen.minutes} "
            f"min); one request may weigh {MAX_TRAVEL_GAP_WORK / 1e6:,.0f} million: choose a "
            "district or a wider spacing_m"
        )
    sites = Router(
        router.network,
        router.snapper,
        grid.lon[candidates],
        grid.lat[candidates],
        snap_max_m=walk_in,
        speed_kmh=router.speed_kmh,
        steps_factor=networks.settings.steps_factor,
    )
    picks = greedy_travel_gaps(
        sites, subset(targets, open_), weight[open_], n=options.n, limit_s=chosen.limit_s
    )
    found = []
    for j, gain in picks:
        covered += gain
        share = covered / total if total > 0 else 0.0
        found.append(
            Gap(
                float(grid.lon[candidates[j]]),
                float(grid.lat[candidates[j]]),
                gain * scale,
                min(1.0, share),
            )
        )
    return Gaps(unit, int(candidates.size), found)


def gaps_document(
    found: Gaps, options: GapOptions, demand: DemandLayer | None, districts: Districts
) -> dict[str, Any]:
    """The search's answer as ``GET /v1/gaps`` sends it: sites ranked from 1, rounded,
    each with its district."""
    by_travel = options.travel
    return {
        "radius_m": None if by_travel else options.radius_m,
        **(
            {
                "travel": by_travel.travel.value,
                "travel_label": by_travel.travel.label,
                "minutes": by_travel.minutes,
                "cell_m": by_travel.cell_m,
            }
            if by_travel
            else {}
        ),
        "unit": found.unit,
        "demand": demand.summary() if demand else None,
        "candidates": found.candidates,
        "sites": [
            {
                "rank": i,
                "lon": round(g.lon, 6),
                "lat": round(g.lat, 6),
                "district_adcode": str(districts.lookup(g.lon, g.lat)),
                "gain": round(g.gain, 3),
                "share_after": round(g.share, 6),
            }
            for i, g in enumerate(found.sites, start=1)
        ],
    }


def _concat(
    pairs: Iterable[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    listed = list(pairs)
    if not listed:
        return np.empty(0), np.empty(0)
    xs, ys = zip(*listed, strict=True)
    return np.concatenate(xs), np.concatenate(ys)
