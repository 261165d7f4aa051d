"""Benchmark the nearest query's answer with and without the stations' operations fields
(rating, stars, last_confirmed: stations.readmodel.ops), over 200,000 stations.

Each query is the search plus api.representation.nearest_results, serialised, as the
route runs them; the memoised record parts are warm (as in a serving worker). "with ops"
reads a snapshot where half the stations have a rating, stars and a last confirmation;
the first pass of each snapshot also serialises its parts (once per ``ops_refresh_s``).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import orjson
from _common import best_of, china_points, make_stations

from api.representation import nearest_results
from geodata.crs import CoordinateSystem
from geodata.hours import TZ
from stations.domain.stars import StationOps
from stations.readmodel.index import StationIndex
from stations.readmodel.ops import OpsSnapshot

AT = datetime(2025, 3, 12, 14, 0, tzinfo=TZ)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="stations (default 200000)")
    parser.add_argument("--queries", type=int, default=2000, help="query points (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes; the best is kept")
    parser.add_argument("--seed", type=int, default=20250312)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    lon, lat = china_points(args.n, rng)
    index = StationIndex(make_stations(lon, lat, seed=args.seed), 1)
    qlon, qlat = china_points(args.queries, rng)
    points = list(zip(qlon.tolist(), qlat.tolist(), strict=True))
    ops = OpsSnapshot(
        {i: StationOps(4.2, 17, 4, AT, None, date(2025, 3, 10)) for i in range(1, args.n + 1, 2)},
        0.0,
    )

    def run(snapshot: OpsSnapshot | None) -> None:
        for x, y in points:
            hits = index.search(x, y, k=10, at=AT)
            results = nearest_results(index, hits, CoordinateSystem.WGS84, ops=snapshot)
            orjson.dumps({"results": results})

    run(None)  # warm the memoised record parts
    run(ops)  # and the snapshot's parts
    without = best_of(args.repeat, lambda: run(None)) / len(points)
    with_ops = best_of(args.repeat, lambda: run(ops)) / len(points)
    print(f"stations {args.n}, queries {len(points)}, k=10, best of {args.repeat}")
    print(f"  nearest answer without ops fields: {without * 1e6:8.1f} µs/query")
    print(f"  nearest answer with ops fields:    {with_ops * 1e6:8.1f} µs/query")
    print(f"  ratio with/without: {with_ops / without:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
