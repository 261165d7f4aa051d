"""Benchmark ``GET /v1/history/mapped`` (the 上图 history) on a long audit trail.

A registry of ``--stations`` stations (with Amap/Baidu/Tencent listings, some precise, some
not) goes through commit-and-revert cycles of an upload touching every station, one day
each, until the audit trail holds ``--audit-rows`` entries (1 million by default), on
SQLite and on PostGIS (a throwaway cluster, tests/pg.py). Measured in the same run:

- the reference: the history as it was computed before it was kept, by replaying the whole
  audit trail (``store.audit()``, the replay in tests/stations/storage/test_history.py), at
  ``--reference-rows`` entries (at 1 million it takes minutes and gigabytes; pass
  ``--reference-rows`` equal to ``--audit-rows`` to see it);
- the kept history, as the endpoint asks for it on a cache miss (the first request after a
  write: the database's rows per day, summed), at the reference size and at full size;
  time and peak Python memory (tracemalloc) of one request;
- what a write of every station costs (keeping the history included), and the one-time
  build from the trail when a new precise threshold is first asked for (at the reference
  size: it grows with the trail, about a millisecond a row here).

Ratios are reference / kept.

Measured here (December 2026, 2 shared cores at load 5-10; 10,000 stations, 100 days):

                           SQLite                        PostGIS
  reference, 30,000 rows   170 s, peak 302 MB            64 s, peak 439 MB
  kept, 30,000 rows        0.18 ms, 6 kB                 1.14 ms, 5 kB
  kept, 1,000,000 rows     0.52 ms, 42 kB                1.21 ms, 42 kB
  a write of 10,000        4.0 s                         11.4 s   (history kept: ~6 % of it)
  one-time build           550 µs a row, 18 MB           660 µs a row, 18 MB
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, before any installed copy

import numpy as np  # noqa: E402
from _common import best_of, china_points, make_stations  # noqa: E402

from geodata.crs import from_wgs84  # noqa: E402
from geodata.hours import TZ  # noqa: E402
from stations.domain.changes import Create, Update  # noqa: E402
from stations.domain.figures import mapped_history  # noqa: E402
from stations.domain.model import Listing, Provider, Station, Status  # noqa: E402
from stations.storage import stations_repo  # noqa: E402
from stations.storage.sqlstore import SQLStore  # noqa: E402
from tests.stations.storage.test_history import reference  # noqa: E402

THRESHOLD_M = 50.0


def with_listings(stations: list[Station], rng: np.random.Generator) -> list[Station]:
    """Listings on each provider for most stations: 70 % within a few metres, the rest
    off by up to 300 m; 20 % without the keyword; 10 % of stations listed nowhere."""
    out = []
    for s in stations:
        if rng.random() < 0.1:
            out.append(s.with_changes(id=None))
            continue
        listings = []
        for p in Provider:
            off_deg = rng.normal(0, 2e-5) if rng.random() < 0.7 else rng.uniform(-3e-3, 3e-3)
            x, y = from_wgs84(
                s.lon + off_deg, s.lat, crs="bd09" if p is Provider.BAIDU else "gcj02"
            )
            listings.append(
                Listing(p, listed=True, listed_lon=float(x), listed_lat=float(y),
                        keyword_linked=bool(rng.random() < 0.8))
            )  # fmt: skip
        out.append(s.with_changes(id=None, listings=tuple(listings)))
    return out


def edited(s: Station) -> Station:
    """What an upload changes (and the next one changes back): every third station closes
    or reopens, the rest lose or regain their Tencent listing's keyword."""
    if s.id is not None and s.id % 3 == 0:
        return s.with_changes(
            status=Status.TEMPORARILY_CLOSED if s.status is Status.ACTIVE else Status.ACTIVE
        )
    listings = tuple(
        dataclasses.replace(li, keyword_linked=not li.keyword_linked)
        if li.provider is Provider.TENCENT
        else li
        for li in s.listings
    )
    return s.with_changes(listings=listings)


@contextlib.contextmanager
def clock(start: datetime) -> Iterator[Callable[[], None]]:
    """The store's clock, moved on one day per call of the yielded function."""
    day = [start]
    saved = stations_repo.now
    stations_repo.now = lambda: day[0]
    try:
        yield lambda: day.__setitem__(0, day[0] + timedelta(days=1))
    finally:
        stations_repo.now = saved


def measure(run: Callable[[], Any], repeat: int) -> tuple[float, int]:
    """Best time of ``run`` in seconds, and the peak of Python memory one run allocates."""
    seconds = best_of(repeat, run)
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak


def request(store: SQLStore) -> bytes:
    """What GET /v1/history/mapped does on a cache miss."""
    import orjson

    return orjson.dumps(mapped_history(store.mapped_history_days(threshold_m=THRESHOLD_M)))


def audit_rows(store: SQLStore) -> int:
    return int(store._conn().execute("SELECT count(*) FROM audit").fetchone()[0])


def compare(store: SQLStore, rows: int) -> tuple[float, int]:
    """The reference against the kept history at this size, and the one-time build."""
    ref_s, ref_b = measure(lambda: reference(store.audit(), threshold_m=THRESHOLD_M), repeat=1)
    same = reference(store.audit(), threshold_m=THRESHOLD_M) == mapped_history(
        store.mapped_history_days(threshold_m=THRESHOLD_M)
    )
    assert same, "the kept history differs from the replay"
    kept_s, kept_b = measure(lambda: request(store), repeat=5)
    print(
        f"at {rows:,} audit rows: reference replay {ref_s:.2f} s, peak {ref_b / 1e6:,.0f} MB;"
        f" kept {kept_s * 1e3:.2f} ms, peak {kept_b / 1e3:,.0f} kB; ratio "
        f"{ref_s / kept_s:,.0f}x time, {ref_b / max(kept_b, 1):,.0f}x memory"
    )
    other = THRESHOLD_M - 1
    t0 = time.perf_counter()
    tracemalloc.start()
    store.mapped_history_days(threshold_m=other)
    build_b = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    build_s = time.perf_counter() - t0
    print(
        f"  the one-time build for a new threshold from these {rows:,} rows: {build_s:.1f} s "
        f"({build_s / rows * 1e6:.0f} µs a row), peak {build_b / 1e6:.1f} MB"
    )
    with store._write() as c:  # not kept on: the writes below keep one threshold
        c.execute("DELETE FROM mapped_history WHERE threshold_m = ?", (other,))
        c.execute("DELETE FROM mapped_history_thresholds WHERE threshold_m = ?", (other,))
    return ref_s, ref_b


def run_backend(name: str, store: SQLStore, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    lon, lat = china_points(args.stations, rng)
    base = with_listings(make_stations(lon, lat, seed=args.seed), rng)
    print(f"\n== {name}: {args.stations:,} stations, to {args.audit_rows:,} audit rows")
    with clock(datetime(2024, 1, 1, 10, 0, tzinfo=TZ)) as next_day:
        ids = store.apply([Create(s) for s in base], actor="bench", kind="import").ids
        stations = [store.get(i) for i in ids]
        request(store)  # asked once: from now on every write keeps the history
        ref: tuple[float, int] | None = None
        cycle, write_s = 0, []
        while audit_rows(store) < args.audit_rows:
            next_day()
            changed = [edited(s) for s in stations]
            t0 = time.perf_counter()
            store.apply([Update(s, s.version) for s in changed], actor="bench", kind="upload")
            write_s.append(time.perf_counter() - t0)
            stations = [s.with_changes(version=s.version + 1) for s in changed]
            cycle += 1
            rows = audit_rows(store)
            if ref is None and rows >= args.reference_rows:
                ref = compare(store, rows)
            if cycle % 10 == 0:
                print(f"  {rows:,} audit rows, {cycle} writes", flush=True)
        rows = audit_rows(store)
        full_s, full_b = measure(lambda: request(store), repeat=5)
        days = len(store.mapped_history_days(threshold_m=THRESHOLD_M))
        print(
            f"at {rows:,} audit rows ({days} days): kept {full_s * 1e3:.2f} ms per request "
            f"(cache miss), peak {full_b / 1e3:,.0f} kB"
        )
        if ref is not None:
            print(
                f"  ratio reference at {args.reference_rows:,} rows / kept at {rows:,}: "
                f"{ref[0] / full_s:,.0f}x time, {ref[1] / max(full_b, 1):,.0f}x memory"
            )
        print(
            f"a write of {args.stations:,} updates: median {np.median(write_s):.2f} s "
            "(keeping the history included)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=10_000)
    ap.add_argument("--audit-rows", type=int, default=1_000_000)
    ap.add_argument("--reference-rows", type=int, default=30_000)
    ap.add_argument("--backend", choices=("sqlite", "postgis", "both"), default="both")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.backend in ("sqlite", "both"):
        from stations.storage.sqlite import SQLiteStore

        with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "h.sqlite3") as s:
            run_backend("SQLite", s, args)
    if args.backend in ("postgis", "both"):
        from stations.storage.postgis import PostGISStore
        from tests.pg import cluster

        with cluster() as pg, PostGISStore(pg.new_database()) as s:
            run_backend("PostGIS", s, args)


if __name__ == "__main__":
    main()
