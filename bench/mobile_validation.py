"""Benchmark validating a mobile station (流动驿站) against a fixed one, in the same run.

The reference is build_station of a fixed station row; the others are a bus of 3 stops, of
10 stops (天津西青's ten towns) and of 64 (the bound), each stop standing once a week,
so the overlap check walks a year of intervals per stop. Prints the median per row and the
ratio to the fixed row.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python bench/mobile_validation.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

from geodata.districts import chongqing_districts
from stations.domain.validation import build_station

_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def _row(stops: int) -> dict[str, object]:
    row: dict[str, object] = {
        "external_id": "B1",
        "owner": "district:500103",
        "name": "车",
        "lon": 106.5772,
        "lat": 29.557,
        "hours": "周一至周五 9:00-18:00",
    }
    if stops:
        row["mobile"] = True
        row["stops"] = [
            {
                "name": f"站{i}",
                "lon": 106.5772 - 0.0005 * (i % 20),
                "lat": 29.557 - 0.0003 * (i % 10),
                # One day a week, an hour of its own: no two stops meet.
                "hours": f"{_DAYS[i % 7]} {6 + i // 7:02d}:00-{6 + i // 7:02d}:50",
            }
            for i in range(stops)
        ]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    districts = chongqing_districts()
    cases = {"fixed": 0, "bus, 3 stops": 3, "bus, 10 stops": 10, "bus, 64 stops": 64}
    rows = {name: _row(n) for name, n in cases.items()}
    for row in rows.values():
        build_station(row, districts=districts)  # warm: the calendar, the compiled hours
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, row in rows.items():
            n = 20 if name == "fixed" else 1
            start = time.perf_counter()
            for _ in range(n):
                build_station(row, districts=districts)
            times[name].append((time.perf_counter() - start) / n)
    ref = statistics.median(times["fixed"])
    for name, got in times.items():
        med = statistics.median(got)
        print(f"{name:>14}: {med * 1e3:8.2f} ms per row  ({med / ref:7.1f}x the fixed row)")


if __name__ == "__main__":
    main()
