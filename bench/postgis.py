"""Benchmark a PostGIS deployment: nearest in process vs KNN, index freshness, 1 vs 2 workers.

A throwaway PostgreSQL + PostGIS cluster (tests/pg.py) is loaded with the same 200,000
stations over China as bench/http_api.py (copied from its SQLite registry with
``yizhan migrate``'s code). Then, in the same run:

1. per query, k=10 at random points in Chongqing: ``StationIndex.search`` (the in-process
   index every worker keeps) against ``PostGISStore.knn`` (GiST ``<->`` on geography,
   re-ranked by ``ST_Distance`` on the spheroid, over loopback); ratio in-process / PostGIS;
2. keeping the index current: what a request pays (the watcher's snapshot read against a
   version query per request), and how soon a worker sees a write made elsewhere;
3. requests per second of ``yizhan serve --workers N`` for each N of ``--workers``
   (default 1 2) on the PostGIS registry under the same bounded load (wrk, 1 thread, 32
   connections); each ratio N / 1; and one worker asking the database on every request
   (``YIZHAN_INDEX_CHECK_S=0``). ``--national`` is the national size (186,000 stations);
   ``--only-throughput`` skips parts 1 and 2.

The servers run this checkout's code (PYTHONPATH), whatever copy of yizhan is installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, before any installed copy

import numpy as np  # noqa: E402
from _common import CHONGQING_BBOX, best_of, build_registry, free_port, get_json  # noqa: E402
from http_api import THREAD_ENV, run_wrk, write_script  # noqa: E402

from tests.pg import cluster  # noqa: E402


def per_query(pg_url: str, n_queries: int, seed: int) -> None:
    from geodata.hours import TZ
    from stations.readmodel.index import StationIndex
    from stations.storage.postgis import PostGISStore

    store = PostGISStore(pg_url)
    try:
        start = time.perf_counter()
        index = StationIndex.build(store)
        print(f"in-process index built from PostGIS in {time.perf_counter() - start:.1f} s")
        rng = np.random.default_rng(seed)
        minx, miny, maxx, maxy = CHONGQING_BBOX
        pts = [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(n_queries)]
        at = datetime.now(TZ)
        same = 0
        for x, y in pts[:50]:
            ours = [h.station.id for h in index.search(x, y, k=10, at=at, statuses=())]
            same += ours == [i for i, _ in store.knn(x, y, k=10)]

        def time_it(fn: object) -> float:
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                for x, y in pts:
                    fn(x, y)  # type: ignore[operator]
                best = min(best, time.perf_counter() - t)
            return best / len(pts) * 1e6

        ours_us = time_it(lambda x, y: index.search(x, y, k=10, at=at, statuses=()))
        pg_us = time_it(lambda x, y: store.knn(x, y, k=10))
        print(f"same 10 ids in the same order at {same}/50 points")
        print(
            f"nearest k=10, {len(pts)} points: in-process {ours_us:7.1f} µs/query, "
            f"PostGIS KNN {pg_us:7.1f} µs/query; ratio in-process / PostGIS "
            f"{ours_us / pg_us:.3f}"
        )
    finally:
        store.close()


def freshness(pg_url: str, writes: int, seed: int) -> None:
    from stations.domain.changes import StationQuery
    from stations.readmodel.index import IndexHolder
    from stations.storage.postgis import PostGISStore

    store, writer = PostGISStore(pg_url), PostGISStore(pg_url)
    holder = IndexHolder(store, check_interval_s=0.25)
    try:
        n = 200_000
        watched = best_of(3, lambda: [holder.current() for _ in range(n)]) / n
        asked = best_of(3, lambda: [store.data_version() for _ in range(2_000)]) / 2_000
        print(
            f"keeping the index current, per request: watcher {watched * 1e9:.0f} ns, a "
            f"version query {asked * 1e6:.0f} µs; ratio query / watcher {asked / watched:,.0f}"
        )
        station_id = writer.query(StationQuery(), limit=1).items[0].id
        assert station_id is not None
        rng = np.random.default_rng(seed)
        lags = []
        for i in range(writes):
            time.sleep(rng.uniform(0, 0.25))  # at any moment of the watcher's cycle
            before = writer.get(station_id)
            name = f"bench {i}"
            writer.update(
                before.with_changes(name=name), expected_version=before.version, actor="bench"
            )
            written = time.perf_counter()
            while True:
                seen = holder.current().get(station_id)
                if seen is not None and seen.name == name:
                    break
                time.sleep(0.002)
            lags.append(time.perf_counter() - written)
        ms = np.array(lags) * 1e3
        print(
            f"a write is seen by another worker's index after {np.median(ms):.0f} ms median, "
            f"{ms.max():.0f} ms max ({writes} writes; checks every 0.25 s, "
            f"{len(holder.current()):,} stations)"
        )
    finally:
        holder.close()
        store.close()
        writer.close()


def throughput(pg_url: str, workdir: Path, seconds: float, seed: int, workers: list[int]) -> None:
    exe = Path(sys.executable).with_name("yizhan")
    script = write_script(workdir, "pg", "/v1/stations/nearest", "k=10", CHONGQING_BBOX, seed)
    asking = "--workers 1, a version query per request"
    runs = [
        *((f"--workers {w}", w, {}) for w in sorted({1, *workers})),
        (asking, 1, {"YIZHAN_INDEX_CHECK_S": "0"}),
    ]
    rps = {}
    for label, count, extra_env in runs:
        port = free_port()
        env = {**os.environ, **THREAD_ENV, "PYTHONPATH": str(ROOT), **extra_env}
        proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                "--database",
                pg_url,
                "--port",
                str(port),
                "--workers",
                str(count),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:
                try:
                    if get_json(f"{base}/healthz", timeout_s=2)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.5)
            # Every worker must have its index: warm up until the load is steady.
            run_wrk(base, script, seconds=3 + 2 * count, connections=32, threads=1)
            res = run_wrk(base, script, seconds=seconds, connections=32, threads=1)
            rps[label] = res.requests_per_s
            print(
                f"{label}: {res.requests_per_s:7.0f} req/s, p50 {res.p50_ms:.1f} ms, "
                f"p99 {res.p99_ms:.1f} ms, non-2xx {res.non_2xx}, socket errors "
                f"{res.socket_errors}"
            )
        finally:
            proc.terminate()  # each worker closes its index watcher and pool: seconds
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
    one = rps["--workers 1"]
    cores = os.cpu_count()
    for w in sorted(set(workers) - {1}):
        more = f"; {w} workers on {cores} cores" if w > (cores or 1) else ""
        print(
            f"ratio {w} workers / 1 worker: {rps[f'--workers {w}'] / one:.2f} "
            f"({cores} cores here, wrk on one of them{more})"
        )
    print(f"ratio a version query per request / watcher, 1 worker: {rps[asking] / one:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--seed", type=int, default=20250312)
    parser.add_argument("--workdir", type=Path, help="keep/reuse the SQLite registry here")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)"
    )
    parser.add_argument(
        "--national", action="store_true", help="186,000 stations (the national count)"
    )
    parser.add_argument("--only-throughput", action="store_true", help="skip parts 1 and 2")
    args = parser.parse_args()
    if args.national:
        args.n = 186_000
    from stations.storage.postgis import PostGISStore
    from stations.storage.sqlite import SQLiteStore
    from stations.storage.sqlstore import migrate

    with tempfile.TemporaryDirectory(prefix="yizhan-bench-pg-") as tmp, cluster() as c:
        workdir = args.workdir or Path(tmp)
        db = build_registry(workdir, n=args.n, seed=args.seed)
        pg_url = c.new_database()
        start = time.perf_counter()
        source, target = SQLiteStore(db), PostGISStore(pg_url)
        try:
            migrate(source, target)
        finally:
            source.close()
            target.close()
        print(f"copied {args.n:,} stations into PostGIS in {time.perf_counter() - start:.1f} s")
        if not args.only_throughput:
            per_query(pg_url, args.queries, args.seed)
            freshness(pg_url, args.writes, args.seed)
        throughput(pg_url, Path(tmp), args.seconds, args.seed, args.workers)


if __name__ == "__main__":
    main()
