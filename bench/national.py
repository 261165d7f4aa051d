"""The national registry at its size: the country's counties and 186,000 stations.

1. Reading the 2,848 counties (geodata.districts.china_counties): from the cache, and
   (with --uncached) converting them again into a temporary cache folder.
2. County lookup of 186,000 points (``Districts.lookup``, prepared polygons, sorted by
   longitude) against the reference measured in the same run: shapely's STRtree
   ``query(predicate="intersects")`` over the same polygons (the ratio: reference / ours).
3. Coverage's work estimate for every county at once (``coverage_work_estimates``) against
   one county at a time (``coverage_work_estimate``), the old way of the budget.
4. With --database (a registry loaded by ``yizhan demo --national``): the planners' answers
   over HTTP in one process (TestClient), each timed once: /v1/districts, coverage of the
   country (refused by the budget), of a province and of a county, gaps.

    PYTHONPATH=. python bench/national.py [--points 186000] [--database PATH] [--uncached]

The machine is shared: compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import china_points
from geodata.coverage import coverage_work_estimate, coverage_work_estimates
from geodata.districts import _china_counties, china_counties


def timed(label: str, run, repeat: int = 1):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    print(f"  {label}: {best:.3f} s")
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=186_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--database", type=Path, help="a registry of yizhan demo --national")
    parser.add_argument("--uncached", action="store_true", help="also time the conversion")
    args = parser.parse_args()

    print("counties")
    if args.uncached:
        with tempfile.TemporaryDirectory() as folder:
            timed("convert (no cache)", lambda: china_counties(folder))
            _china_counties.cache_clear()
    _, counties = timed("read (cache)", china_counties)
    _china_counties.cache_clear()
    timed("read (cache) again", china_counties)
    counties = china_counties()
    print(f"  {len(counties):,} counties")

    lon, lat = china_points(args.points, np.random.default_rng(args.seed))
    print(f"lookup of {args.points:,} points")
    timed("first call (prepares the polygons)", lambda: counties.lookup(lon[:10], lat[:10]))
    ours, codes = timed("Districts.lookup", lambda: counties.lookup(lon, lat), repeat=3)
    polygons = np.array([d.geometry for d in counties], dtype=object)
    tree = shapely.STRtree(polygons)

    def reference() -> np.ndarray:
        points = shapely.points(lon, lat)
        where, which = tree.query(points, predicate="intersects")
        found = np.full(len(lon), -1)
        # The lowest adcode wins on a shared border, as in Districts.lookup.
        for p, d in zip(where[::-1], which[::-1], strict=True):
            found[p] = d
        return found

    ref, found = timed("reference: STRtree.query(intersects)", reference, repeat=1)
    adcodes = np.array([*counties.adcodes, ""])
    agree = float(np.mean(adcodes[found] == codes))
    print(f"  ratio reference/ours: {ref / ours:.1f}× (answers agree on {agree:.4%})")
    inside = int((codes != "").sum())
    print(f"  {inside:,} points in a county ({inside / len(lon):.0%})")

    print("coverage work estimate, radius 1 km, min_stations 2")
    areas = list(polygons)
    many, estimates = timed(
        "every county at once",
        lambda: coverage_work_estimates(areas, lon, lat, radius_m=1000, min_stations=2),
    )
    one, singles = timed(
        "one county at a time (reference)",
        lambda: [coverage_work_estimate(a, lon, lat, radius_m=1000, min_stations=2) for a in areas],
    )
    assert estimates.tolist() == singles
    print(f"  ratio reference/ours: {one / many:.1f}×")

    if args.database:
        http(args.database)


def http(database: Path) -> None:
    os.environ["YIZHAN_WARM_START"] = "false"
    # deferred: the API (FastAPI, the store) only for this part
    from fastapi.testclient import TestClient

    from api.app import create_app
    from stations.config import Settings

    print(f"the planners' answers on {database}")
    settings = Settings(database_url=f"sqlite:///{database}", districts_source="china")
    _, app = timed("create_app", lambda: create_app(settings))
    with TestClient(app) as client:
        for url in (
            "/v1/stations?limit=1",
            "/v1/districts",
            "/v1/districts/500103",
            "/v1/coverage",
            "/v1/coverage?district=64",
            "/v1/coverage?district=50",
            "/v1/coverage?district=51",
            "/v1/coverage?district=500103",
            "/v1/gaps",
            "/v1/gaps?district=64&spacing_m=5000",
            "/v1/gaps?district=500103&demand=示例",
        ):
            start = time.perf_counter()
            r = client.get(url)
            took = time.perf_counter() - start
            print(f"  {url}: {r.status_code} in {took:.2f} s, {len(r.content):,} bytes")


if __name__ == "__main__":
    main()
