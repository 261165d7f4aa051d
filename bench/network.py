"""Benchmark routing on a street network the size of central Chongqing's (issue 17).

A synthetic grid (by default 522 x 522 nodes 60 m apart, jittered, 3 % of blocks missing,
10 % of streets one-way, 2 % staircases: ~1.0 M directed edges over 31 x 31 km), built with
``Network.from_segments`` as the importer does, and 5,000 stations placed near random nodes.
Reports, in ONE run so that the ratios compare:

* building: the network arrays, the snapper (STRtree), the router (station snaps), the
  per-node nearest-station lists (time and tracemalloc peak);
* nearest by route per query (k=5 and 10, filters passing 100/50/10 % of the stations):
  with the lists (hit rate), the search alone, and the straight line (NearestIndex, what
  the API uses without a network) on the same points;
* 15-minute walking service times of the whole graph (all stations, one bounded
  multi-source Dijkstra), and the per-point times at the query points;
* reach counts (cross coverage, cap 2) for points over the city;
* networkit's figures for the same (the reference we chose not to use), when importable.

Not a test. ``--side 200`` for a quick look. ``--import FILE`` adds the OSM import's time
(package 1's reader, when merged).
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from _common import best_of

from geodata.nearest import NearestIndex
from geodata.network import Network
from geodata.routing import Router, Snapper
from tests.networks import synthetic_city

WALK_KMH = 4.5
STEPS_FACTOR = 0.4
SNAP_M = 200.0
LIST_SIZE = 48
LIST_MAX_M = 3000.0


def near_nodes(net: Network, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points within ~30 m of random nodes."""
    at = rng.choice(net.nodes, n, replace=False)
    return (
        net.lon[at] + rng.normal(0, 2e-4, n),
        net.lat[at] + rng.normal(0, 2e-4, n),
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(what: str, run):
    start = time.perf_counter()
    out = run()
    print(f"{what:<44} {time.perf_counter() - start:8.2f} s   peak RSS {rss_mb():6.0f} MB")
    return out


def per_query_ms(run, points) -> float:
    def all_points() -> None:
        for lon, lat in points:
            run(lon, lat)

    return best_of(2, all_points) / len(points) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--side", type=int, default=522, help="grid side in nodes (522: ~1 M edges)")
    ap.add_argument("--stations", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--import", dest="import_file", default=None, help="an .osm/.osm.pbf to time")
    args = ap.parse_args()
    rng = np.random.default_rng(7)

    if args.import_file:
        import_time(args.import_file)
    net = timed(
        "network arrays (Network.from_segments)",
        lambda: synthetic_city(args.side, 1, steps_share=0.02),
    )
    print(f"  nodes {net.nodes:,}  directed edges {net.edges:,}  pieces {net.seg_u.size:,}")
    snapper = timed("snapper (STRtree over the pieces)", lambda: Snapper(net))
    slon, slat = near_nodes(net, args.stations, rng)

    def make_router() -> Router:
        return Router(
            net,
            snapper,
            slon,
            slat,
            snap_max_m=SNAP_M,
            speed_kmh=WALK_KMH,
            steps_factor=STEPS_FACTOR,
        )

    router = timed(f"router ({args.stations:,} station snaps)", make_router)
    plain = make_router()
    tracemalloc.start()
    timed(
        f"lists (size {LIST_SIZE}, within {LIST_MAX_M:.0f} m)",
        lambda: router.build_lists(size=LIST_SIZE, max_m=LIST_MAX_M),
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    blob = router.lists_blob() or b""
    print(f"  lists build tracemalloc peak {peak / 1e6:,.0f} MB, blob {len(blob) / 1e6:,.0f} MB")

    qlon, qlat = near_nodes(net, args.queries, rng)
    points = list(zip(qlon.tolist(), qlat.tolist(), strict=True))
    straight = NearestIndex(slon, slat)
    snap_ms = per_query_ms(lambda x, y: snapper.snap_one(x, y, max_m=SNAP_M), points)
    print(f"\nsnap one point: {snap_ms:.3f} ms")
    print("\nnearest by route, per query (ms); ratio = lists / straight line")
    print(" k share  straight  lists  hit   search  lists/straight search/straight mismatches")
    for k in (5, 10):
        for share in (1.0, 0.5, 0.1):
            mask = rng.random(args.stations) < share
            key = ("bench", k, share)
            st_ms = per_query_ms(
                lambda x, y, m=mask, kk=k, key=key: straight.query(
                    x, y, k=kk, mask=m, mask_key=key
                ),
                points,
            )
            hits = 0
            for x, y in points:
                p, t, _ = snapper.snap_one(x, y, max_m=SNAP_M)
                ok = router.reachable & mask
                hits += router._from_lists(p, t, k, ok, np.inf) is not None
            li_ms = per_query_ms(
                lambda x, y, m=mask, kk=k: router.nearest(x, y, k=kk, mask=m), points
            )
            some = points[: max(20, len(points) // 5)]
            se_ms = per_query_ms(lambda x, y, m=mask, kk=k: plain.nearest(x, y, k=kk, mask=m), some)
            bad = 0
            for x, y in some:
                a = router.nearest(x, y, k=k, mask=mask)
                b = plain.nearest(x, y, k=k, mask=mask)
                bad += a.index.tolist() != b.index.tolist()
            print(
                f"{k:2d} {share:5.1f} {st_ms:8.3f} {li_ms:7.3f} {hits / len(points):5.2f}"
                f" {se_ms:7.3f} {li_ms / st_ms:10.1f} {se_ms / st_ms:14.1f} {bad:6d}"
            )

    limit = 15 * 60.0
    print()
    times = timed(
        "15-min service times, whole graph", lambda: router.service_times(None, limit_s=limit)
    )
    times = timed(
        "  again (the reversed graph is cached per router)",
        lambda: router.service_times(None, limit_s=limit),
    )
    half = rng.random(args.stations) < 0.1
    timed("  10 % of the stations (a filter)", lambda: router.service_times(half, limit_s=limit))
    covered = np.isfinite(times.node_s).mean()
    print(f"  nodes within 15 min walk: {covered:.1%}")
    qs = snapper.snap(qlon, qlat, max_m=SNAP_M)
    timed(f"  .at() for {len(qs)} points", lambda: times.at(qs))
    cells_lon = rng.uniform(net.lon.min(), net.lon.max(), 20_000)
    cells_lat = rng.uniform(net.lat.min(), net.lat.max(), 20_000)
    cells = timed(
        "snap 20,000 points (bulk)", lambda: snapper.snap(cells_lon, cells_lat, max_m=100)
    )
    timed(
        f"reach counts, cap 2, {args.stations:,} stations",
        lambda: router.reach_counts(None, cells, limit_s=limit, cap=2),
    )
    networkit_figures(net, router, limit)
    print(f"\npeak RSS {rss_mb():.0f} MB (the machine is shared: compare ratios, not absolutes)")


def networkit_figures(net: Network, router: Router, limit_s: float) -> None:
    try:
        import networkit as nk  # deferred: optional, the reference we do not use
    except ImportError:
        print("\nnetworkit is not installed (pip install networkit): reference skipped")
        return
    print("\nnetworkit (reference, not used):")
    nk.setNumberOfThreads(2)
    n = net.nodes
    src = net.edge_sources()
    seconds = net.seconds(WALK_KMH, STEPS_FACTOR)

    def build():
        g = nk.Graph(n + 1, weighted=True, directed=True)
        # Reversed (towards the stations), plus a super-source joined to the station ends.
        for u, v, w in zip(net.indices.tolist(), src.tolist(), seconds.tolist(), strict=True):
            g.addEdge(u, v, w)
        for node, w in zip(router._att_node.tolist(), router._att_s.tolist(), strict=True):
            g.addEdge(n, node, w)
        return g

    g = timed("  graph build (Python addEdge loop)", build)

    def areas():
        dj = nk.distance.Dijkstra(g, n, storePaths=False)
        dj.run()
        return np.array(dj.getDistances())[:n]

    d = timed("  service times, super-source, unbounded", areas)
    ours = router.service_times(None, limit_s=limit_s).node_s
    within = d <= limit_s
    print(f"  same nodes within 15 min as ours: {bool((within == np.isfinite(ours)).all())}")

    def one_query() -> None:
        dj = nk.distance.Dijkstra(g, int(net.seg_u[0]), storePaths=False)
        dj.run()

    print(
        f"  one full single-source Dijkstra (its k-nearest): {best_of(3, one_query) * 1e3:.1f} ms"
    )


def import_time(path: str) -> None:
    try:
        osm = importlib.import_module("stations.formats.osm")  # package 1's, once merged
    except ImportError:
        print("the OSM reader is not in this checkout: --import skipped")
        return
    read = getattr(osm, "read_network", None)
    if read is None:
        print("stations.formats.osm has no read_network: --import skipped")
        return
    timed(f"import {os.path.basename(path)}", lambda: read(path, "walk"))


if __name__ == "__main__":
    main()
