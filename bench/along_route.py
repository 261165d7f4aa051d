"""Benchmark along-route search over 186,000 synthetic stations spread across China.

Routes: a city route in Chongqing (25.8 km, 5 vertices) and an 840 km route east from it
(41 vertices), at two distances each. For each, three figures measured in the same run:

* ``ours``: ``StationIndex.along_route`` (densify, ball query, exact refinement, order),
  all filters of a default nearest question (active stations);
* ``floor``: the bare ball query of the same samples on the same scipy tree, the step no
  search can skip (so ``ours / floor`` is what exactness costs on top);
* ``nearest k``: ``NearestIndex.query`` of the k nearest to the route's midpoint with k
  the number found (capped at the nearest index's largest sensible k, 1,000);
* ``page``: the service's first page of 100 with arrival times and open_on_arrival.

Checked: the same stations and offsets within 1 mm when the route is densified twice as
finely. Run: ``PYTHONPATH=. python bench/along_route.py [--stations 186000]``.

``--http``: one ``uvicorn`` worker on a SQLite registry of the same size (built once in
``--workdir``), requests one after another on one connection: GET along-route (city,
500 m, limit 100), POST along-route (840 km, 1 km, limit 100), against GET nearest
(k=10) at the city route's midpoint in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from _common import Server, best_of, build_registry, china_points, free_port, make_stations, running

from geodata import along_route as core
from geodata.along_route import BallTree, check_route, densify, step_m
from geodata.hours import TZ
from stations.domain.model import Status
from stations.readmodel.index import StationIndex
from stations.services.along_route import AlongRouteQuery, stations_along_route

AT = datetime(2025, 3, 12, 14, 0, tzinfo=TZ)  # a Wednesday, no holiday, 14:00
CITY = [(106.45, 29.50), (106.50, 29.55), (106.56, 29.56), (106.60, 29.62), (106.62, 29.66)]


def long_route() -> list[tuple[float, float]]:
    rng = np.random.default_rng(3)
    xs = np.linspace(106.55, 114.3, 41)
    ys = np.linspace(29.56, 30.6, 41) + rng.normal(0, 0.05, 41)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=186_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--http", action="store_true", help="over HTTP, one uvicorn worker")
    parser.add_argument("--requests", type=int, default=100, help="per case, with --http")
    parser.add_argument("--workdir", type=Path, help="keep/reuse the registry here (--http)")
    args = parser.parse_args()
    if args.http:
        if args.workdir is not None:
            over_http(args, args.workdir)
            return
        with tempfile.TemporaryDirectory() as tmp:
            over_http(args, Path(tmp))
        return
    rng = np.random.default_rng(args.seed)
    lon, lat = china_points(args.stations, rng, clustered=0.7)
    # As in the spike: 8,000 more around Chongqing's centre, where the city route runs.
    n_cq = min(8000, args.stations // 20)
    lon[:n_cq] = 106.55 + rng.standard_normal(n_cq) * 0.08
    lat[:n_cq] = 29.57 + rng.standard_normal(n_cq) * 0.06
    t = time.perf_counter()
    index = StationIndex(make_stations(lon, lat, seed=args.seed + 1), version=1)
    print(f"{len(index):,} stations indexed in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    tree = BallTree.of(index.nearest.xyz)
    print(f"ball tree built in {(time.perf_counter() - t) * 1e3:.0f} ms (once per snapshot)")
    statuses = (Status.ACTIVE,)
    print(
        f"{'route':<22}{'d (m)':>7}{'found':>7}{'ours ms':>9}{'floor ms':>9}{'×floor':>8}"
        f"{'nearest k ms':>13}{'×nearest':>9}{'page ms':>9}"
    )
    for name, coords, d in [
        ("city 25.8 km", CITY, 500.0),
        ("city 25.8 km", CITY, 2000.0),
        ("840 km, 41 vertices", long_route(), 1000.0),
        ("840 km, 41 vertices", long_route(), 5000.0),
    ]:
        route = check_route([c[0] for c in coords], [c[1] for c in coords])

        def ours(route=route, d=d) -> core.AlongRoute:
            return index.along_route(route, distance_m=d, at=AT, statuses=statuses)

        found = ours()
        samples = densify(route, step_m(d))
        reach = d + float(samples.step.max()) / 2 + 1.0

        def floor(samples=samples, reach=reach) -> object:
            return tree.query_ball_point(samples.xyz, reach, return_sorted=False)

        k = max(1, min(len(found), 1000))
        mid_lon, mid_lat = float(np.mean(route.lon)), float(np.mean(route.lat))

        def nearest(k=k, mid_lon=mid_lon, mid_lat=mid_lat) -> object:
            return index.nearest.query(mid_lon, mid_lat, k=k)

        query = AlongRouteQuery(route=route, distance_m=d, at=AT, limit=100)

        def page(query=query) -> object:
            return stations_along_route(index, query)

        t_ours = best_of(args.repeat, ours)
        t_floor = best_of(args.repeat, floor)
        t_near = best_of(args.repeat, nearest)
        t_page = best_of(args.repeat, page)
        _check_finer(index, route, d, found)
        print(
            f"{name:<22}{d:>7.0f}{len(found):>7}{t_ours * 1e3:>9.1f}{t_floor * 1e3:>9.1f}"
            f"{t_ours / t_floor:>8.1f}{t_near * 1e3:>13.2f}{t_ours / t_near:>9.1f}"
            f"{t_page * 1e3:>9.1f}"
        )
    print("(best of", args.repeat, "runs each; the machine is shared, so compare within a run)")


def _check_finer(index: StationIndex, route: core.Route, d: float, found: core.AlongRoute) -> None:
    """The same answer with the route densified twice as finely (a different sample set)."""
    original = core.step_m
    core.step_m = lambda distance_m: original(distance_m) / 2  # type: ignore[assignment]
    try:
        finer = index.along_route(route, distance_m=d, at=AT)
    finally:
        core.step_m = original  # type: ignore[assignment]
    same = np.array_equal(finer.index, found.index) and bool(
        np.allclose(finer.offset_m, found.offset_m, atol=1e-3)
    )
    if not same:
        print(f"MISMATCH with a finer step at d={d}", file=sys.stderr)
        sys.exit(1)


def over_http(args: argparse.Namespace, workdir: Path) -> None:
    db = build_registry(workdir, n=args.stations, seed=args.seed)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "YIZHAN_DATABASE_URL": f"sqlite:///{db.resolve()}",
        "YIZHAN_DISTRICTS_SOURCE": str((workdir / "china.geojson").resolve()),
        "YIZHAN_WARM_START": "false",
    }
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--workers", "1"]
    argv += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    server = Server("ours", [*argv, "--port", str(port)], port=port, env=env)
    city = "LINESTRING(" + ", ".join(f"{x} {y}" for x, y in CITY) + ")"
    mid = CITY[2]
    body = json.dumps(
        {
            "route": {"type": "LineString", "coordinates": long_route()},
            "distance_m": 1000,
            "limit": 100,
            "at": AT.isoformat(),
        }
    ).encode()
    cases = [
        (
            "GET nearest k=10",
            "GET",
            "/v1/stations/nearest?"
            + urlencode({"lon": mid[0], "lat": mid[1], "k": 10, "at": AT.isoformat()}),
            None,
        ),
        (
            "GET along city 500 m",
            "GET",
            "/v1/stations/along-route?"
            + urlencode({"route": city, "distance_m": 500, "limit": 100, "at": AT.isoformat()}),
            None,
        ),
        ("POST along 840 km 1 km", "POST", "/v1/stations/along-route", body),
    ]
    with running([server]):
        server.start(workdir / "ours.log")
        print(f"server ready after {server.wait_ready('/healthz', timeout_s=300):.1f} s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        times: dict[str, list[float]] = {name: [] for name, *_ in cases}
        for round_ in range(args.requests + 3):  # the first three warm up
            for name, method, path, payload in cases:
                headers = {"Content-Type": "application/json"} if payload else {}
                start = time.perf_counter()
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
                took = time.perf_counter() - start
                if response.status != 200:
                    sys.exit(f"{name}: {response.status} {data[:300]!r}")
                if round_ >= 3:
                    times[name].append(took)
        reference = statistics.median(times[cases[0][0]])
        for name, *_ in cases:
            median = statistics.median(times[name])
            print(f"{name:<24} median {median * 1e3:7.1f} ms  ×nearest {median / reference:6.1f}")
    print("(one connection, requests one after another; the machine is shared)")


if __name__ == "__main__":
    main()
