"""Benchmark pgRouting (PostGIS's routing, Debian's postgresql-15-pgrouting) against our
in-process routing on the same ~1 M-edge synthetic city: the province-scale alternative of
README "Province scale (省级路网)". Not a test; needs the Debian package.

The city: a 522 x 522 grid of nodes 60 m apart, jittered, 3 % of the pieces missing, 10 %
one-way (the spike's /work/spikes/issue17/graph.py shape; geodesic lengths from
geodata.network.Network.from_segments), 5,000 stations on random nodes. A throwaway cluster
(tests/pg.py) gets the edges as an ``edges(id, source, target, cost, reverse_cost, geom)``
table (COPY), then, in the same run:

1. 15-minute walking service areas from all 5,000 stations: ``pgr_drivingDistance(...,
   equicost => true)`` (from the stations outward) against our Router.service_times
   (towards the stations: scipy's multi-source Dijkstra on the reversed CSR);
2. the 5 nearest stations by route from random nodes: ``pgr_dijkstraNear`` on the whole
   table and on a 3 km box around the query (how one would serve it from PostGIS), against
   our Router.nearest (snap included, without its per-node lists: the exact search).

    PYTHONPATH=. python bench/pgrouting.py [--queries 20]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, before any installed copy

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from geodata.network import Network  # noqa: E402
from geodata.routing import Router, Snapper  # noqa: E402
from tests.networks import synthetic_city  # noqa: E402
from tests.pg import cluster  # noqa: E402

WALK_KMH = 4.5
LIMIT_M = WALK_KMH * 1000 / 60 * 15  # 15 minutes on foot: 1,125 m


def load(conn: psycopg.Connection, net: Network) -> float:
    started = time.perf_counter()
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    conn.execute(
        "CREATE TABLE edges (id BIGINT PRIMARY KEY, source BIGINT, target BIGINT, "
        "cost DOUBLE PRECISION, reverse_cost DOUBLE PRECISION, "
        "x1 DOUBLE PRECISION, y1 DOUBLE PRECISION, x2 DOUBLE PRECISION, y2 DOUBLE PRECISION)"
    )
    u, v = net.seg_u, net.seg_v
    length = net.seg_length_m.astype(np.float64)
    fwd = np.where(net.seg_fwd >= 0, length, -1.0)
    back = np.where(net.seg_back >= 0, length, -1.0)
    buf = io.StringIO()
    cols = np.column_stack(
        [np.arange(u.size), u, v, fwd, back, net.lon[u], net.lat[u], net.lon[v], net.lat[v]]
    )
    np.savetxt(buf, cols, fmt=["%d", "%d", "%d", "%.3f", "%.3f"] + ["%.7f"] * 4, delimiter="\t")
    with conn.cursor().copy("COPY edges FROM STDIN") as copy:
        copy.write(buf.getvalue())
    conn.execute(
        "ALTER TABLE edges ADD COLUMN geom geometry(LineString, 4326) GENERATED ALWAYS AS "
        "(ST_SetSRID(ST_MakeLine(ST_MakePoint(x1, y1), ST_MakePoint(x2, y2)), 4326)) STORED"
    )
    conn.execute("CREATE INDEX edges_geom ON edges USING gist (geom)")
    conn.execute("ANALYZE edges")
    return time.perf_counter() - started


EDGES = "SELECT id, source, target, cost, reverse_cost FROM edges"


def boxed(lon: float, lat: float, half_m: float) -> str:
    dlat = half_m / 111_320
    dlon = dlat / np.cos(np.radians(lat))
    return (
        f"{EDGES} WHERE geom && ST_MakeEnvelope({lon - dlon}, {lat - dlat}, "
        f"{lon + dlon}, {lat + dlat}, 4326)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--stations", type=int, default=5000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)

    started = time.perf_counter()
    net = synthetic_city()
    print(
        f"city: {net.nodes:,} nodes, {net.edges:,} directed edges "
        f"({time.perf_counter() - started:.1f} s to build)"
    )
    stations = rng.choice(net.nodes, args.stations, replace=False)
    queries = rng.choice(net.nodes, args.queries, replace=False)
    with cluster() as c:
        with psycopg.connect(c.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        with psycopg.connect(c.url("bench"), autocommit=True) as conn:
            print(f"pgRouting: loaded {load(conn, net):.1f} s (COPY, geometry, GiST)")
            print(f"pgRouting {conn.execute('SELECT pgr_version()').fetchall()[0][0]}")

            started = time.perf_counter()
            router = Router(
                net,
                Snapper(net),
                net.lon[stations],
                net.lat[stations],
                snap_max_m=200,
                speed_kmh=WALK_KMH,
            )
            print(f"our Router: built {time.perf_counter() - started:.1f} s (no lists)")
            # -- 1. service areas -----------------------------------------------------------
            started = time.perf_counter()
            rows = conn.execute(
                "SELECT count(*) FROM pgr_drivingDistance(%s, %s::bigint[], %s, "
                "directed => true, equicost => true)",
                (EDGES, stations.tolist(), LIMIT_M),
            ).fetchall()[0][0]
            pgr_areas_s = time.perf_counter() - started
            started = time.perf_counter()
            d = router.service_times(None, limit_s=15 * 60).node_s
            ours_areas_s = time.perf_counter() - started
            covered = int(np.isfinite(d).sum())
            print(
                f"15-min service areas from {args.stations:,} stations: pgr_drivingDistance "
                f"{pgr_areas_s:.2f} s ({rows:,} nodes) | ours {ours_areas_s:.2f} s "
                f"({covered:,} nodes) | ratio pgRouting/ours {pgr_areas_s / ours_areas_s:.0f}"
            )

            # -- 2. nearest by route --------------------------------------------------------
            timings: dict[str, list[float]] = {"whole": [], "box": [], "ours": []}
            for q in queries.tolist():
                for name, sql in (
                    ("whole", EDGES),
                    ("box", boxed(float(net.lon[q]), float(net.lat[q]), 3000)),
                ):
                    if name == "whole" and len(timings["whole"]) >= 3:
                        continue  # seconds each: three tell
                    started = time.perf_counter()
                    conn.execute(
                        "SELECT * FROM pgr_dijkstraNear(%s, %s::bigint, %s::bigint[], "
                        "directed => true, cap => 5)",
                        (sql, q, stations.tolist()),
                    ).fetchall()
                    timings[name].append(time.perf_counter() - started)
                started = time.perf_counter()
                router.nearest(float(net.lon[q]), float(net.lat[q]), k=5)
                timings["ours"].append(time.perf_counter() - started)
            med = {k: float(np.median(v)) * 1e3 for k, v in timings.items()}
            print(
                f"5 nearest by route, median of {args.queries} queries: pgr_dijkstraNear whole "
                f"table {med['whole']:.0f} ms, 3 km box {med['box']:.0f} ms | ours "
                f"{med['ours']:.2f} ms | ratio box/ours {med['box'] / med['ours']:.0f}"
            )
    print("(a shared 2-core machine: compare the ratios within this run)")


if __name__ == "__main__":
    main()
