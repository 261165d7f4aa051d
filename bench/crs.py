"""Benchmark the vectorised coordinate conversions on 100k points in Chongqing.

The reference, measured in the same run, is a PROJ transformation of the same points
(pyproj EPSG:4326 -> EPSG:3857): a well-optimised C coordinate operation.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pyproj import Transformer

from geodata.crs import (
    _gcj_delta,
    _shift_area,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geodata.distance import distance_m


def best_of(repeat: int, run: Callable[[], Any]) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="points (default 100000)")
    parser.add_argument("--repeat", type=int, default=7, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=20241)
    args = parser.parse_args()

    start = time.perf_counter()
    _shift_area()
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    # Across China's bbox: many points near the border, in Taiwan or abroad.
    wide_lon, wide_lat = rng.uniform(73, 136, args.n), rng.uniform(3, 54, args.n)
    lon = rng.uniform(105.3, 110.2, args.n)
    lat = rng.uniform(28.2, 32.2, args.n)
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = wgs84_to_bd09(lon, lat)
    proj = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)

    def one_step() -> Any:  # the common non-iterative inverse, for comparison only
        d_lon, d_lat = _gcj_delta(glon, glat)
        return glon - d_lon, glat - d_lat

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("reference: pyproj 4326->3857", lambda: proj.transform(lon, lat)),
        ("wgs84_to_gcj02", lambda: wgs84_to_gcj02(lon, lat)),
        ("gcj02_to_wgs84 (iterative)", lambda: gcj02_to_wgs84(glon, glat)),
        ("gcj02 one-step inverse", one_step),
        ("wgs84_to_gcj02, China's bbox", lambda: wgs84_to_gcj02(wide_lon, wide_lat)),
        ("wgs84_to_bd09", lambda: wgs84_to_bd09(lon, lat)),
        ("bd09_to_wgs84 (iterative)", lambda: bd09_to_wgs84(blon, blat)),
    ]
    ref = best_of(args.repeat, cases[0][1])
    print(f"shift area (Amap's border less Taiwan) built on first use in {build_s * 1e3:.0f} ms")
    print(f"{args.n:,} points in Chongqing, best of {args.repeat}")
    print(f"{'operation':32} {'ms':>8} {'ns/point':>9} {'ratio':>7}")
    for name, run in cases:
        t = ref if name.startswith("reference") else best_of(args.repeat, run)
        print(f"{name:32} {t * 1e3:8.2f} {t / args.n * 1e9:9.1f} {t / ref:7.2f}")

    naive = one_step()
    print("max round-trip error, metres:")
    print(f"  gcj02 iterative {np.max(distance_m(lon, lat, *gcj02_to_wgs84(glon, glat))):.2e}")
    print(f"  gcj02 one-step  {np.max(distance_m(lon, lat, *naive)):.2e}")
    print(f"  bd09 iterative  {np.max(distance_m(lon, lat, *bd09_to_wgs84(blon, blat))):.2e}")


if __name__ == "__main__":
    main()
