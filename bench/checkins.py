"""Benchmark check-ins (POST /v1/stations/{id}/visits) and the usage figures (GET /v1/usage).

The lunch peak: 10 million workers checking in once a day, half of them in two hours, is
5,000,000 / 7,200 s ≈ 694 check-ins/s. Measured here, in the same run:

1. check-ins/s of ONE uvicorn worker on a SQLite registry and on a PostGIS one (a
   throwaway cluster, tests/pg.py), each loaded by ``wrk`` (one thread, 32 connections)
   with a Lua script drawing a random station, occupation and client address per request
   (sent as X-Forwarded-For, which the app believes from 127.0.0.1 only:
   ``YIZHAN_FORWARDED_ALLOW_IPS=127.0.0.1``), against a bare FastAPI endpoint reading the
   same JSON body and answering 201 without a database (the ratio is ours / bare);
2. ``GET /v1/usage`` for one district over 365 days, p50/p95 per ``by`` (day, hour,
   occupation), sequential requests over random districts, on a synthetic rollup at 10 %
   of Chongqing (--stations 1000 × 365 days × 9 active hours ≈ 3.3 M visit_counts rows;
   ``--stations 10000`` for full size, about 33 M).

Not a timed test: run it by hand (``python bench/checkins.py``) and read the figures.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, before any installed copy

import numpy as np  # noqa: E402
from _common import Server, free_port, get_json, python, running  # noqa: E402
from http_api import THREAD_ENV, WrkResult, run_wrk  # noqa: E402
from pydantic import BaseModel  # noqa: E402

PEAK_PER_S = 5_000_000 / 7_200  # half of 10 M daily check-ins in two hours
DAYS = 365
ACTIVE_HOURS = 9  # of each station's day, the hours with any check-in (rollup rows)
OCCUPATION_SHARE = (0.55, 0.15, 0.1, 0.07, 0.08, 0.05)  # delivery … other

WRK_SCRIPT = """\
-- A random station, occupation and client address per request (one wrk thread).
math.randomseed({seed})
local ids = {{{ids}}}
local jobs = {{"delivery", "courier", "ride_hailing", "truck", "sanitation", "other"}}
request = function()
  local id = ids[math.random(#ids)]
  local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255),
                           math.random(1, 254))
  local body = string.format('{{"occupation": "%s"}}', jobs[math.random(#jobs)])
  return wrk.format("POST", "{prefix}" .. id .. "{suffix}",
                    {{["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}}, body)
end
"""


# -- the reference ------------------------------------------------------------------------


class Body(BaseModel):
    """The check-in's body, as ours reads it (module level: FastAPI resolves the route's
    annotations in the module's namespace)."""

    occupation: str
    code: str | None = None


def reference_app() -> Any:
    """FastAPI with one ``def`` route taking the same JSON body as ours, answering 201
    with a JSON document, no database: what a check-in costs before it is stored."""
    import orjson
    from fastapi import FastAPI
    from starlette.responses import Response

    app = FastAPI()

    @app.post("/v1/stations/{station_id}/visits")
    def visit(station_id: int, body: Body) -> Response:
        doc = {"counted": True, "station_id": station_id, "occupation": body.occupation}
        return Response(orjson.dumps(doc), status_code=201, media_type="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status": "ok"}', media_type="application/json")

    return app


def serve_reference(port: int) -> None:
    import uvicorn  # deferred: only the reference server's own process needs it

    uvicorn.run(reference_app(), host="127.0.0.1", port=port, access_log=False, log_level="warning")


# -- the registries -----------------------------------------------------------------------


def load_stations(store: Any, n: int, seed: int) -> dict[int, str]:
    """``n`` sample stations in Chongqing's districts; id -> district adcode."""
    from geodata.districts import chongqing_districts
    from stations.services.sample import load_demo

    load_demo(store, chongqing_districts(), seed=seed, total=n)
    return {s.id: s.district_adcode for s in store.iter_all() if s.id is not None}


def rollup_rows(stations: dict[int, str], *, until: date, seed: int) -> Iterator[list[tuple]]:
    """visit_counts rows, one list per day: each station's ACTIVE_HOURS hours (of 6-22)
    with a few check-ins each, split over the occupations."""
    rng = np.random.default_rng(seed)
    ids = list(stations)
    share = np.array(OCCUPATION_SHARE)
    for d in range(DAYS):
        day = (until - timedelta(days=DAYS - 1 - d)).isoformat()
        hours = np.argsort(rng.random((len(ids), 17)), axis=1)[:, :ACTIVE_HOURS] + 6
        per_job = rng.multinomial(12, share, size=(len(ids), ACTIVE_HOURS))
        rows = []
        for i, sid in enumerate(ids):
            district = stations[sid]
            for h in range(ACTIVE_HOURS):
                jobs = per_job[i, h].tolist()
                rows.append((sid, district, day, int(hours[i, h]), sum(jobs), *jobs))
        yield rows


COLUMNS = (
    "station_id, district_adcode, day, hour, n, n_delivery, n_courier, n_ride_hailing, "
    "n_truck, n_sanitation, n_other"
)


def seed_sqlite(db: Path, stations: dict[int, str], *, until: date, seed: int) -> int:
    conn = sqlite3.connect(db)
    total = 0
    with conn:
        for rows in rollup_rows(stations, until=until, seed=seed):
            conn.executemany(
                f"INSERT INTO visit_counts ({COLUMNS}) VALUES ({','.join('?' * 11)})", rows
            )
            total += len(rows)
    conn.execute("ANALYZE")
    conn.close()
    return total


def seed_postgis(url: str, stations: dict[int, str], *, until: date, seed: int) -> int:
    import psycopg  # deferred: an optional dependency

    total = 0
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY visit_counts ({COLUMNS}) FROM STDIN") as copy:
            for rows in rollup_rows(stations, until=until, seed=seed):
                buf = io.StringIO()
                for r in rows:
                    buf.write("\t".join(map(str, r)) + "\n")
                copy.write(buf.getvalue())
                total += len(rows)
        conn.commit()
        conn.execute("ANALYZE visit_counts")
    return total


# -- measuring ----------------------------------------------------------------------------


def write_script(workdir: Path, ids: list[int], seed: int) -> Path:
    script = workdir / "checkins.lua"
    text = WRK_SCRIPT.format(
        seed=seed, ids=",".join(map(str, ids)), prefix="/v1/stations/", suffix="/visits"
    )
    script.write_text(text)
    return script


def usage_latency(base: str, districts: list[str], *, until: date, n: int, seed: int) -> dict:
    """p50 and p95 (ms) of GET /v1/usage per ``by``, one district over 365 days."""
    rng = random.Random(seed)
    since = until - timedelta(days=DAYS - 1)
    out = {}
    for by in ("day", "hour", "occupation"):
        times = []
        for i in range(n + 3):
            district = rng.choice(districts)
            url = f"{base}/v1/usage?by={by}&since={since}&until={until}&district={district}"
            start = time.perf_counter()
            status, doc = get_json(url, timeout_s=60)
            took = (time.perf_counter() - start) * 1000
            if status != 200 or not doc or doc["total"] <= 0:
                msg = f"{url}: {status} {doc}"
                raise RuntimeError(msg)
            if i >= 3:  # the first few warm the caches
                times.append(took)
        q = statistics.quantiles(times, n=20)
        out[by] = (statistics.median(times), q[18])
    return out


def bench_store(
    name: str,
    url: str,
    stations: dict[int, str],
    ref: Server,
    args: argparse.Namespace,
    workdir: Path,
) -> tuple[list[WrkResult], list[WrkResult], dict]:
    env = {
        **os.environ,
        **THREAD_ENV,
        "PYTHONPATH": str(ROOT),
        "YIZHAN_DATABASE_URL": url,
        "YIZHAN_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "YIZHAN_WARM_START": "0",
    }
    port = free_port()
    argv = [
        python(),
        *("-m", "uvicorn", "--factory", "api.app:create_app", "--workers", "1"),
        *("--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"),
        *("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"),
    ]
    ours = Server(f"ours-{name}", argv, port=port, env=env)
    script = write_script(workdir, list(stations), args.seed)
    mine: list[WrkResult] = []
    theirs: list[WrkResult] = []
    with running([ours]):
        ours.start(workdir / f"{ours.name}.log")
        took = ours.wait_ready("/healthz", timeout_s=300)
        print(f"{ours.name} ready after {took:.1f} s")

        def load(server: Server, seconds: float) -> WrkResult:
            return run_wrk(
                server.base, script, seconds=seconds, connections=args.connections, threads=1
            )

        if args.rounds > 0 and args.warmup > 0:
            load(ours, args.warmup)
            load(ref, args.warmup)
        for r in range(args.rounds):
            for server in (ref, ours) if r % 2 else (ours, ref):
                res = load(server, args.seconds)
                (mine if server is ours else theirs).append(res)
                print(
                    f"  {server.name:12} round {r + 1}: {res.requests_per_s:7.0f} req/s, "
                    f"p50 {res.p50_ms:6.1f} ms, p99 {res.p99_ms:6.1f} ms, "
                    f"{res.requests} requests, non-2xx {res.non_2xx}, "
                    f"socket errors {res.socket_errors}"
                )
        latency = usage_latency(
            ours.base,
            sorted(set(stations.values())),
            until=args.until,
            n=args.usage_n,
            seed=args.seed,
        )
    return mine, theirs, latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=1000, help="default 1000 (10 %%)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="0: the usage figures only")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--usage-n", type=int, default=40, help="requests per by")
    parser.add_argument(
        "--stores", nargs="+", choices=("sqlite", "postgis"), default=["sqlite", "postgis"]
    )
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--serve-reference", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_reference:
        serve_reference(args.serve_reference)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args.until = date(2026, 11, 30)
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-checkins-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, workdir: Path) -> None:
    from stations.storage.sqlite import SQLiteStore

    port = free_port()
    ref = Server(
        "bare-fastapi",
        [python(), str(Path(__file__).resolve()), "--serve-reference", str(port)],
        port=port,
        env={**os.environ, **THREAD_ENV},
    )
    results = {}
    with running([ref]):
        ref.start(workdir / "ref.log")
        ref.wait_ready("/healthz", timeout_s=60)
        if "sqlite" in args.stores:
            db = workdir / "registry.sqlite3"
            store = SQLiteStore(db)
            stations = load_stations(store, args.stations, args.seed)
            store.close()
            start = time.perf_counter()
            rows = seed_sqlite(db, stations, until=args.until, seed=args.seed)
            print(
                f"sqlite: {len(stations)} stations, {rows:,} rollup rows in "
                f"{time.perf_counter() - start:.0f} s"
            )
            results["sqlite"] = bench_store(
                "sqlite", f"sqlite:///{db}", stations, ref, args, workdir
            )
        if "postgis" in args.stores:
            from stations.storage.postgis import PostGISStore
            from tests.pg import cluster

            with cluster() as c:
                url = c.new_database()
                store = PostGISStore(url)
                stations = load_stations(store, args.stations, args.seed)
                store.close()
                start = time.perf_counter()
                rows = seed_postgis(url, stations, until=args.until, seed=args.seed)
                print(
                    f"postgis: {len(stations)} stations, {rows:,} rollup rows in "
                    f"{time.perf_counter() - start:.0f} s"
                )
                results["postgis"] = bench_store("postgis", url, stations, ref, args, workdir)
    report(results)


def report(results: dict) -> None:
    print(f"\npeak to meet: {PEAK_PER_S:.0f} check-ins/s (5 M in 7,200 s)")
    print(
        f"{'store':8} {'check-ins/s':>12} {'bare/s':>8} {'ours/bare':>10} {'peak':>6} "
        f"{'p99 ms':>8} {'non-2xx':>8}"
    )
    for name, (mine, theirs, _) in results.items():
        if not mine:  # --rounds 0: the usage figures only
            continue
        rps = max(r.requests_per_s for r in mine)
        ref = max(r.requests_per_s for r in theirs)
        bad = sum(r.non_2xx + r.socket_errors for r in mine)
        p99 = max(r.p99_ms for r in mine)
        ok = "ok" if rps >= PEAK_PER_S else "short"
        print(f"{name:8} {rps:12.0f} {ref:8.0f} {rps / ref:10.2f} {ok:>6} {p99:8.1f} {bad:8d}")
    print("\nGET /v1/usage, one district over 365 days (ms)")
    print(f"{'store':8} {'by':11} {'p50':>7} {'p95':>7}")
    for name, (_, _, latency) in results.items():
        for by, (p50, p95) in latency.items():
            print(f"{name:8} {by:11} {p50:7.1f} {p95:7.1f}")
    print(
        "check-ins/s and bare/s: best round of wrk -t1 -c32; p99: worst round; "
        "non-2xx: answers other than 2xx (429s would count) + socket errors"
    )


if __name__ == "__main__":
    main()
