"""Benchmark 1 km coverage of Chongqing's 38 districts by ~5,500 stations against geopandas;
with ``--travel``, 15-minute walking coverage of a synthetic central city on its street
network (geodata.travel_coverage) against the 1 km disc coverage of the same area.

The reference, measured in the same run on the same stations, is the naive geopandas way:
project everything to UTM 48N (EPSG:32648), buffer every station by 1 km, dissolve all the
discs once (``union_all``) and intersect each district with the result. Ours gives each
district its own azimuthal equidistant projection, keeps only the stations whose disc
reaches it and unions those. The shares are compared too: UTM's scale grows to 1.003 at
Chongqing's eastern edge, so its areas there are off by up to 0.6 %.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import TypeVar

import geopandas as gpd
import numpy as np
import shapely

from geodata.coverage import coverage, coverage_by_area
from geodata.districts import chongqing_districts
from geodata.routing import Router, Snapper
from geodata.travel_coverage import cell_grid, cell_seconds, covered_area, cross_covered
from tests.networks import synthetic_city

T = TypeVar("T")
# 主城九区: where most stations are, as in the real registry.
MAIN_URBAN: tuple[str, ...] = (
    "500103",
    "500104",
    "500105",
    "500106",
    "500107",
    "500108",
    "500109",
    "500112",
)
MAIN_URBAN += ("500113",)


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``repeat`` runs in seconds, and the last result."""
    times = []
    result: T | None = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    assert result is not None
    return min(times), result


def random_stations(n: int, seed: int, *, urban_share: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` WGS-84 points inside Chongqing's districts: ``urban_share`` of them in the nine
    main urban districts (spread by area), the rest over all 38 districts by area."""
    rng = np.random.default_rng(seed)
    districts = chongqing_districts()
    areas = np.array([d.area_m2 for d in districts])
    urban = np.array([d.adcode in MAIN_URBAN for d in districts])
    weights = (1 - urban_share) * areas / areas.sum()
    weights += urban_share * np.where(urban, areas, 0.0) / areas[urban].sum()
    counts = rng.multinomial(n, weights)
    lon, lat = [], []
    for district, count in zip(districts, counts, strict=True):
        geometry = shapely.from_wkb(district.geometry.wkb)
        minx, miny, maxx, maxy = geometry.bounds
        got = 0
        while got < count:
            x = rng.uniform(minx, maxx, 4 * count + 16)
            y = rng.uniform(miny, maxy, 4 * count + 16)
            inside = shapely.contains_xy(geometry, x, y)
            take = min(count - got, int(inside.sum()))
            lon.append(x[inside][:take])
            lat.append(y[inside][:take])
            got += take
    return np.concatenate(lon), np.concatenate(lat)


def reference(districts: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> dict[str, float]:
    """Naive geopandas: UTM 48N, buffer all, dissolve once, intersect each district."""
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(32648)
    covered = points.buffer(1000.0, quad_segs=16).union_all()
    utm = districts.to_crs(32648)
    shares = utm.geometry.intersection(covered).area / utm.geometry.area
    return dict(zip(utm["adcode"], shares.to_numpy(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=5500)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--urban-share", type=float, default=0.6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--travel",
        action="store_true",
        help="15-minute walking coverage on a synthetic street grid (see travel_main)",
    )
    parser.add_argument("--side", type=int, default=522, help="--travel: nodes per grid side")
    parser.add_argument("--minutes", type=int, default=15)
    parser.add_argument("--cross", action="store_true", help="--travel: also min_stations=2")
    args = parser.parse_args()
    if args.travel:
        travel_main(args)
        return

    districts = chongqing_districts()
    frame = districts.to_geodataframe()
    areas = {d.adcode: d.geometry for d in districts}
    lon, lat = random_stations(args.stations, args.seed, urban_share=args.urban_share)
    print(f"{len(lon)} stations in {len(areas)} districts (seed {args.seed})")

    ref_s, ref = best_of(args.repeat, lambda: reference(frame, lon, lat))
    ours_s, ours = best_of(args.repeat, lambda: coverage_by_area(areas, lon, lat))
    cross_s, cross = best_of(args.repeat, lambda: coverage_by_area(areas, lon, lat, min_stations=2))

    diff = np.array([ours[k].share - ref[k] for k in areas])
    covered = sum(r.covered_area_m2 for r in ours.values())
    total = sum(r.area_m2 for r in ours.values())
    cross_covered = sum(r.covered_area_m2 for r in cross.values())
    print(f"coverage, 1 km, ≥1 station:  ours {ours_s:.3f} s   geopandas reference {ref_s:.3f} s")
    print(f"ratio (reference / ours): {ref_s / ours_s:.2f}x")
    print(f"cross coverage (≥2) ours:   {cross_s:.3f} s  ({cross_s / ours_s:.1f}x single)")
    print(f"Chongqing covered {covered / total:.2%} (≥1), {cross_covered / total:.2%} (≥2)")
    print(f"share ours - reference: max |Δ| {np.abs(diff).max():.2e}, mean {diff.mean():+.2e}")
    worst = sorted(areas, key=lambda k: -ours[k].share)[:3]
    for k in worst:
        d = districts.get(k)
        print(
            f"  {k} {d.name}: {ours[k].share:.1%} (≥1), {cross[k].share:.1%} (≥2), "
            f"{ours[k].n_stations} stations"
        )


def travel_main(args: argparse.Namespace) -> None:
    """Whole-city coverage within ``--minutes`` on foot (4.5 km/h) from ``--stations``
    stations on the synthetic grid, and the 1 km disc coverage of the grid's extent, in
    the same run (best of ``--repeat``)."""
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
    start = time.perf_counter()
    net = synthetic_city(args.side, args.seed)
    print(
        f"network {net.nodes:,} nodes, {net.edges:,} directed edges, "
        f"built in {time.perf_counter() - start:.1f} s"
    )
    rng = np.random.default_rng(args.seed)
    at = rng.choice(net.nodes, args.stations, replace=False)
    lon = net.lon[at] + rng.normal(0, 0.0002, at.size)
    lat = net.lat[at] + rng.normal(0, 0.0002, at.size)
    start = time.perf_counter()
    snapper = Snapper(net)
    router = Router(net, snapper, lon, lat, snap_max_m=200.0, speed_kmh=4.5, steps_factor=0.4)
    print(f"snapper + router: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    grid = cell_grid(net, snapper, cell_m=50.0, walk_in_m=100.0)
    one_off = time.perf_counter() - start
    print(
        f"cells (one-off per network and worker): {len(grid):,} of {grid.nx * grid.ny:,} "
        f"kept, {one_off:.1f} s ({one_off / (grid.nx * grid.ny) * 1e6:.1f} µs a cell)"
    )
    limit_s = args.minutes * 60.0
    travel_s, seconds = best_of(
        args.repeat, lambda: cell_seconds(router, grid, None, limit_s=limit_s)
    )
    covered = np.isfinite(seconds)
    draw_s, drawn = best_of(args.repeat, lambda: covered_area(grid, np.flatnonzero(covered)))
    extent = shapely.box(*net.bbox)
    disc_s, disc = best_of(args.repeat, lambda: coverage(extent, lon, lat, radius_m=1000.0))
    print(
        f"{args.minutes}-min walk, whole city, {args.stations:,} stations: {travel_s:.3f} s "
        f"({covered.mean():.1%} of kept cells covered)"
    )
    print(
        f"  drawing the covered area: {draw_s:.3f} s, "
        f"{shapely.get_num_coordinates(drawn):,} vertices"
    )
    print(f"1 km disc coverage of the extent, same stations: {disc_s:.3f} s ({disc.share:.1%})")
    print(f"ratio (travel / disc): {travel_s / disc_s:.2f}x")
    if args.cross:
        cross_s, _ = best_of(
            1,
            lambda: cross_covered(
                router, grid.snaps, covered, None, limit_s=limit_s, min_stations=2
            ),
        )
        print(f"cross coverage (min_stations=2) by travel time: {cross_s:.1f} s")
    print(f"peak RSS {rss():.0f} MB")


if __name__ == "__main__":
    main()
