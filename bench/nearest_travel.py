"""Nearest by route over HTTP: GET /v1/stations/nearest?travel=walk against the straight line.

One ``uvicorn`` worker (our app) on a SQLite registry with a walking network, asked over one
keep-alive connection, one request at a time, at the same random points for both: k=10,
``open_now=true`` (the rider page's question) at 14:00, with and without ``travel=walk``,
and by route at 04:30 too (few stations open: the fast path's lists cannot prove the answer). Rounds
alternate between the two; each figure is the best round's mean (and its median).

``--network city``: the river city of the tests (tests/osm_city.py, ~1 km^2, a few hundred
edges) with ``--stations`` stations at random points in it. ``--network synthetic``: the
jittered grid of bench/network.py (package 3's, ~1 M edges), stations at random points in it;
the first requests wait for the station lists (built once in the background).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, Server, free_port, make_stations, python, running

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def city_registry(
    workdir: Path, n: int, seed: int
) -> tuple[Path, tuple[float, float, float, float]]:
    """A registry of ``n`` stations in the river city with its walking network."""
    from geodata.districts import chongqing_districts
    from stations.domain.changes import Create
    from stations.domain.travel import Travel
    from stations.services.network import import_network
    from stations.storage.sqlite import SQLiteStore
    from tests.osm_city import write_city, xy_to_lonlat

    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-50, 1150, n), rng.uniform(-50, 1050, n)
    lon, lat = zip(*(xy_to_lonlat(a, b) for a, b in zip(x, y, strict=True)), strict=True)
    db = workdir / "registry.sqlite3"
    with SQLiteStore(db) as store:
        store.apply([Create(s) for s in make_stations(lon, lat, seed=seed)], actor="bench")
        osm = write_city(workdir / "river_city.osm")
        import_network(
            store, osm, Travel.WALK, districts=chongqing_districts(), actor="bench", max_bytes=None
        )
    (minx, miny), (maxx, maxy) = xy_to_lonlat(0, 0), xy_to_lonlat(1100, 1000)
    return db, (minx, miny, maxx, maxy)


def synthetic_registry(
    workdir: Path, n: int, seed: int, side: int
) -> tuple[Path, tuple[float, float, float, float]]:
    """A registry of ``n`` stations on a jittered ``side`` x ``side`` grid 60 m apart (3 %
    of pieces missing, 10 % one-way: the spike's graph.py), stored as the walking network
    (walk ignores one-way; the pieces are kept both ways)."""
    from datetime import datetime

    from geodata.hours import TZ
    from geodata.network import FORMAT, Network
    from stations.domain.changes import Create
    from stations.domain.travel import NetworkInfo, Travel
    from stations.storage.sqlite import SQLiteStore

    rng = np.random.default_rng(seed)
    lon0, lat0 = 106.40, 29.40
    m_lon, m_lat = 96_900.0, 110_850.0
    ix, iy = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = ix.ravel() * 60.0 + rng.normal(0, 12, side * side)
    y = iy.ravel() * 60.0 + rng.normal(0, 12, side * side)
    lon, lat = lon0 + x / m_lon, lat0 + y / m_lat
    node = np.arange(side * side).reshape(side, side)
    u = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel()])
    v = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel()])
    keep = rng.random(u.size) >= 0.03
    u, v = u[keep], v[keep]
    both = np.ones(u.size, bool)
    start = time.perf_counter()
    network = Network.from_segments("walk", lon, lat, u, v, forward=both, backward=both)
    print(
        f"synthetic network: {network.nodes:,} nodes, {network.edges:,} directed edges "
        f"({time.perf_counter() - start:.1f} s)"
    )
    slon = lon0 + rng.uniform(0, side * 60.0, n) / m_lon
    slat = lat0 + rng.uniform(0, side * 60.0, n) / m_lat
    db = workdir / "registry.sqlite3"
    with SQLiteStore(db) as store:
        store.apply([Create(s) for s in make_stations(slon, slat, seed=seed)], actor="bench")
        info = NetworkInfo(
            profile=Travel.WALK,
            version=0,
            source_name="synthetic-grid",
            source_sha256="0" * 64,
            imported_at=datetime.now(TZ),
            imported_by="bench",
            nodes=network.nodes,
            edges=network.edges,
            ways=int(network.way_ids.size),
            bbox=network.bbox,
            format=FORMAT,
        )
        store.put_network(info, network.to_npz())
    return db, network.bbox


def wait_for_lists(db: Path, timeout_s: float) -> None:
    """Wait until the server has kept the station lists it builds in its background (asked
    of the store by the key a Router of the same stations gives)."""
    from geodata.network import Network
    from geodata.routing import Router, Snapper
    from stations.config import Settings
    from stations.domain.travel import Travel
    from stations.readmodel.index import StationIndex
    from stations.storage.sqlite import SQLiteStore

    routing = Settings().routing()
    with SQLiteStore(db) as store:
        found = store.network_arrays(Travel.WALK)
        assert found is not None
        info, blob = found
        network = Network.from_npz(blob)
        index = StationIndex.build(store)
        router = Router(
            network,
            Snapper(network),
            index.nearest.lon,
            index.nearest.lat,
            snap_max_m=routing.snap(Travel.WALK),
            speed_kmh=routing.speed(Travel.WALK),
            steps_factor=routing.steps_factor,
        )
        key = router.stations_key()
        start = time.perf_counter()
        while time.perf_counter() - start < timeout_s:
            if store.station_lists(Travel.WALK, network_version=info.version, stations_key=key):
                print(f"station lists kept after {time.perf_counter() - start:.0f} s more")
                time.sleep(10)  # and loaded into the serving Router
                return
            time.sleep(1)
    print(f"no station lists after {timeout_s:.0f} s: measuring without them")


def measure(conn: http.client.HTTPConnection, paths: list[str]) -> list[float]:
    """Milliseconds per request, one at a time over ``conn``."""
    out = []
    for path in paths:
        start = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter() - start) * 1000)
        if r.status not in (200, 422):
            msg = f"{path}: {r.status} {body[:300]!r}"
            raise RuntimeError(msg)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--network", choices=("city", "synthetic"), default="city")
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000, help="per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--side", type=int, default=522, help="synthetic grid: nodes a side")
    parser.add_argument("--lists-wait", type=float, default=600, help="seconds, synthetic")
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yizhan-travel-") as tmp:
        workdir = Path(tmp)
        start = time.perf_counter()
        if args.network == "city":
            db, (minx, miny, maxx, maxy) = city_registry(workdir, args.stations, args.seed)
        else:
            made = synthetic_registry(workdir, args.stations, args.seed, args.side)
            db, (minx, miny, maxx, maxy) = made
        print(f"registry + network: {time.perf_counter() - start:.1f} s")
        env = {
            **os.environ,
            **THREAD_ENV,
            "PYTHONPATH": str(ROOT),
            "YIZHAN_DATABASE_URL": f"sqlite:///{db.resolve()}",
        }
        port = free_port()
        argv = [python(), "-m", "uvicorn", "--factory", "api.app:create_app", "--workers", "1"]
        argv += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
        server = Server("ours", [*argv, "--port", str(port)], port=port, env=env)
        with running([server]):
            server.start(workdir / "server.log")
            server.wait_ready("/healthz", timeout_s=120)
            rng = np.random.default_rng(args.seed + 1)
            lon = rng.uniform(minx, maxx, args.requests)
            lat = rng.uniform(miny, maxy, args.requests)
            base = [
                f"/v1/stations/nearest?lon={a:.6f}&lat={b:.6f}&k=10&open_now=true"
                for a, b in zip(lon, lat, strict=True)
            ]
            day, night = "&at=2026-03-03T14:00:00%2B08:00", "&at=2026-03-03T04:30:00%2B08:00"
            # By day most stations are open (the lists answer); at 04:30 few are (24/7
            # ones): the lists cannot prove k=10 and the search runs.
            modes = {
                "straight": [p + day for p in base],
                "walk": [p + day + "&travel=walk" for p in base],
                "walk_night": [p + night + "&travel=walk" for p in base],
            }
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for paths in modes.values():  # warm: index, network, Router
                measure(conn, paths[:50])
            if args.network == "synthetic":
                wait_for_lists(db, args.lists_wait)
                conn.close()  # idle past the server's keep-alive: a new connection
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", modes["walk"][0])
            sample = json.loads(conn.getresponse().read())
            best: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for mode, paths in modes.items():
                    ms = measure(conn, paths)
                    if mode not in best or statistics.mean(ms) < statistics.mean(best[mode]):
                        best[mode] = ms
            conn.close()
        print(
            f"{args.stations} stations, {args.requests} requests per round and mode, best of "
            f"{args.rounds} rounds; one worker, one connection, k=10, open_now=true"
        )
        print(
            f"sample answer by route: {[r.get('route_m') for r in sample.get('results', [])][:3]}"
        )
        print(f"{'mode':10} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs straight':>12}")
        ref = statistics.mean(best["straight"])
        for mode, ms in best.items():
            p99 = sorted(ms)[int(len(ms) * 0.99) - 1]
            mean = statistics.mean(ms)
            print(
                f"{mode:10} {mean:8.3f} {statistics.median(ms):8.3f} {p99:8.3f} {mean / ref:12.2f}"
            )


if __name__ == "__main__":
    main()
