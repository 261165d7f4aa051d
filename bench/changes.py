"""Benchmark a page of the change feed (``GET /v1/stations/changes?limit=1000``) on a
national-size registry: ``--stations`` stations (186,000 by default) created in batches of
1,000, then updated in batches of 10,000 until the audit trail holds ``--audit-rows`` rows
(400,000). On SQLite, and with ``--postgis`` also on PostGIS (a throwaway cluster,
tests/pg.py).

Measured in the same run, at a cursor at the start, the middle and near the end of the trail:

- the reference: the plain query of the same audit rows (``SELECT id, station_id, after FROM
  audit WHERE id > ? ORDER BY id LIMIT 1000``) and ``json.loads`` of each record;
- the feed's page (stations.services.feed.changes: the page, each station once, the cursor's
  check and the next cursor);
- the page as the API sends it: records rendered as GET /v1/stations/{id} gives them
  (districts' names, listings' offsets, navigation links), serialised.

Ratios are reference / feed (1.0: the feed costs what reading the rows costs).

Measured here (December 2026, SQLite, 2 cores shared with five other engineers' work, load
6-9; 186,000 stations, 400,000 audit rows; building them took 581 s; best of 7):

  since        reference   feed page          as sent (1.7 MB)
  0            25.0 ms     31.1 ms  (0.80)    92.3 ms  (0.27)
  200,000      25.9 ms     33.8 ms  (0.77)   101.3 ms  (0.26)
  398,000      41.6 ms     49.1 ms  (0.85)   122.3 ms  (0.34)

The page itself is the query plus the JSON decoding; rendering the records as the API gives
them (navigation links, listings' offsets, district names: ~60 µs a station) is most of
what is sent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, before any installed copy

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from _common import best_of, china_points, make_stations  # noqa: E402

from api.routes.changes import changes_body  # noqa: E402
from geodata.districts import chongqing_districts  # noqa: E402
from stations.domain.changes import Create, Update  # noqa: E402
from stations.services import feed as feed_service  # noqa: E402
from stations.storage.open import open_store  # noqa: E402
from stations.storage.store import Store  # noqa: E402

PAGE = 1000
THRESHOLD_M = 50.0


def build(store: Store, *, stations: int, audit_rows: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    lon, lat = (list(a) for a in china_points(stations, rng))
    base = [s.with_changes(id=None) for s in make_stations(lon, lat, seed=seed)]
    t0 = time.perf_counter()
    ids: list[int] = []  # in creation order
    for start in range(0, len(base), 1000):
        chunk = base[start : start + 1000]
        ids.extend(store.apply([Create(s) for s in chunk], actor="bench", kind="import").ids)
    rows = len(ids)
    current = list(store.iter_all())
    round_ = 0
    while rows < audit_rows:
        round_ += 1
        size = min(10_000, len(ids), audit_rows - rows)
        pick = sorted(rng.choice(len(current), size=size, replace=False))
        changed = [dataclasses.replace(current[i], name=f"{current[i].name}{round_}") for i in pick]
        store.apply([Update(s, s.version) for s in changed], actor="bench")
        for i, s in zip(pick, changed, strict=True):
            current[i] = s.with_changes(version=s.version + 1)
        rows += len(changed)
    print(
        f"  built: {stations:,} stations, {rows:,} audit rows in {time.perf_counter() - t0:.0f} s"
    )
    return rows


def reference(store: Store, since: int) -> Callable[[], object]:
    conn = store._bulk_conn()  # type: ignore[attr-defined]

    def run() -> object:
        found = conn.execute(
            "SELECT id, station_id, after FROM audit WHERE id > ? ORDER BY id LIMIT ?",
            (since, PAGE),
        ).fetchall()
        return [json.loads(r[2]) for r in found if r[2] is not None]

    return run


def run_backend(name: str, store: Store, args: argparse.Namespace) -> None:
    print(f"\n== {name}")
    rows = build(store, stations=args.stations, audit_rows=args.audit_rows, seed=args.seed)
    districts = chongqing_districts()
    epoch = store.feed_meta().epoch
    for label, since in (("start", 0), ("middle", rows // 2), ("near end", rows - 2 * PAGE)):
        check = store.feed_row_check(since)
        cursor = f"v1.{epoch}.{since}.{check}"
        ref_s = best_of(args.repeat, reference(store, since))

        def page(c: str = cursor) -> feed_service.Changes:
            return feed_service.changes(store, c, limit=PAGE)

        page_s = best_of(args.repeat, page)
        answer = page()

        def body(a: Any = answer) -> bytes:
            return orjson.dumps(changes_body(a, districts=districts, threshold_m=THRESHOLD_M))

        full_s = page_s + best_of(args.repeat, body)
        print(
            f"  since {label:8s} ({since:>7,}): reference {ref_s * 1e3:6.1f} ms | feed page "
            f"{page_s * 1e3:6.1f} ms, ratio {ref_s / page_s:4.2f} | as sent "
            f"{full_s * 1e3:6.1f} ms ({len(body()) / 1e6:.1f} MB), ratio {ref_s / full_s:4.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=186_000)
    ap.add_argument("--audit-rows", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--postgis", action="store_true", help="also on PostGIS (tests/pg.py)")
    ap.add_argument("--no-sqlite", action="store_true", help="only on PostGIS")
    args = ap.parse_args()
    if not args.no_sqlite:
        with (
            tempfile.TemporaryDirectory(prefix="bench-changes-") as tmp,
            open_store(f"sqlite:///{Path(tmp) / 'registry.sqlite3'}") as store,
        ):
            run_backend("SQLite", store, args)
    if args.postgis or args.no_sqlite:
        from tests.pg import cluster  # deferred: a PostgreSQL cluster only when asked

        with cluster() as c, open_store(c.new_database()) as store:
            run_backend("PostGIS", store, args)


if __name__ == "__main__":
    main()
