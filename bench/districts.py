"""Benchmark Districts.lookup against geopandas.sjoin on random points in Chongqing's bbox."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt

from geodata.districts import chongqing_districts

T = TypeVar("T")


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `repeat` runs in seconds, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="random points (default 100000)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=20240901)
    args = parser.parse_args()

    start = time.perf_counter()
    districts = chongqing_districts()
    load_s = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    minx, miny, maxx, maxy = districts.bounds
    lon = rng.uniform(minx, maxx, args.n)
    lat = rng.uniform(miny, maxy, args.n)

    polygons = districts.to_geodataframe()[["adcode", "geometry"]]
    polygons.sindex  # noqa: B018 -- build the reference's index outside the timing

    def sjoin_codes(points: gpd.GeoDataFrame) -> npt.NDArray[np.str_]:
        joined = gpd.sjoin(points, polygons, how="left", predicate="within")
        # A point within two polygons would appear twice; keep the first, like ours.
        joined = joined[~joined.index.duplicated(keep="first")]
        return joined["adcode"].fillna("").to_numpy(dtype="<U6")

    def sjoin_from_arrays() -> npt.NDArray[np.str_]:
        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        return sjoin_codes(points)

    prebuilt = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")

    ours_s, ours = best_of(args.repeat, lambda: districts.lookup(lon, lat))
    ref_s, reference = best_of(args.repeat, sjoin_from_arrays)
    join_s, _ = best_of(args.repeat, lambda: sjoin_codes(prebuilt))

    inside = int(np.count_nonzero(ours != ""))
    print(f"districts: {len(districts)} ({districts.source}); first load {load_s * 1e3:.0f} ms")
    print(
        f"points: {args.n:,} uniform in bbox, seed {args.seed}; {inside:,} inside Chongqing; "
        f"best of {args.repeat}"
    )
    rows = [
        ("Districts.lookup (lon/lat arrays)", ours_s),
        ("gpd.sjoin within, incl. building points", ref_s),
        ("gpd.sjoin within, points prebuilt", join_s),
    ]
    for label, seconds in rows:
        print(f"  {label:42s} {seconds * 1e3:9.1f} ms  {args.n / seconds:14,.0f} points/s")
    print(f"ratio ours/reference: {ours_s / ref_s:.3f} (vs sjoin alone: {ours_s / join_s:.3f})")
    print(f"disagreements: {int(np.count_nonzero(ours != reference))} of {args.n:,}")


if __name__ == "__main__":
    main()
