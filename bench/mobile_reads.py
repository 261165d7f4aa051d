"""What placing mobile stations (流动驿站) costs the reads at a time, against the same reads
of a registry without them, in the same run.

A synthetic central city: ``--stations`` fixed stations over 30 x 30 km around 解放碑 and
``--buses`` mobile ones of ``--stops`` stops each (each stop standing 2-4 hours on some
weekdays). Measured, median of ``--repeat`` runs each:

* ``along``: the service's first page of an along-route search (a 25 km route, 500 m);
* ``list``: ``StationIndex.select(bbox=..., at=...)`` of a 5 km box;
* ``place``: ``StationIndex.mobile_at`` at a new minute (every bus placed; kept per minute).

Run: ``PYTHONPATH=. python bench/mobile_reads.py [--stations 20000] [--buses 200]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from datetime import datetime, timedelta

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from geodata.along_route import check_route
from geodata.distance import wgs84_geod
from geodata.hours import TZ
from stations.domain.model import Owner, OwnerKind, Station, Stop
from stations.readmodel.index import StationIndex
from stations.services.along_route import AlongRouteQuery, stations_along_route

CENTRE = (106.5772, 29.5570)
DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def registry(n: int, buses: int, stops: int, seed: int) -> tuple[list[Station], list[Station]]:
    rng = np.random.default_rng(seed)
    base = Station(
        external_id="B",
        owner=Owner(OwnerKind.INDUSTRY, "transport"),
        name="驿站",
        address="",
        host="",
        contact_phone="",
        lon=CENTRE[0],
        lat=CENTRE[1],
        district_adcode="500103",
        hours="24/7",
    )
    lon = CENTRE[0] + rng.uniform(-0.155, 0.155, n)
    lat = CENTRE[1] + rng.uniform(-0.135, 0.135, n)
    fixed = [
        replace(base, lon=float(x), lat=float(y), id=i + 1)
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    mobile = []
    for b in range(buses):
        made = []
        for k in range(stops):
            day = DAYS[(b + k) % 7]
            start = int(rng.integers(7, 18))
            made.append(
                Stop(
                    f"站{k}",
                    float(CENTRE[0] + rng.uniform(-0.155, 0.155)),
                    float(CENTRE[1] + rng.uniform(-0.135, 0.135)),
                    f"{day} {start:02d}:00-{start + int(rng.integers(2, 5)):02d}:00",
                )
            )
        mobile.append(replace(base, mobile=True, stops=tuple(made), id=n + b + 1))
    return fixed, mobile


def median_s(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stations", type=int, default=20_000)
    p.add_argument("--buses", type=int, default=200)
    p.add_argument("--stops", type=int, default=5)
    p.add_argument("--repeat", type=int, default=15)
    a = p.parse_args()
    fixed, mobile = registry(a.stations, a.buses, a.stops, seed=1)
    plain = StationIndex(fixed, 1)
    mixed = StationIndex(fixed + mobile, 1)
    g = wgs84_geod()
    ends = [g.fwd(*CENTRE, 60.0, d)[:2] for d in (-12_500.0, 0.0, 12_500.0)]
    route = check_route([x for x, _ in ends], [y for _, y in ends])
    at = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)  # a Wednesday
    q = AlongRouteQuery(route, 500.0, at, limit=100)
    box = (CENTRE[0] - 0.025, CENTRE[1] - 0.025, CENTRE[0] + 0.025, CENTRE[1] + 0.025)
    for index in (plain, mixed):  # warm: trees, stop points
        stations_along_route(index, q)
        index.select(bbox=box, at=at)
    minutes = iter(range(10_000))

    def place_new_minute() -> None:
        mixed.mobile_at(at + timedelta(minutes=next(minutes)))

    rows = [
        ("along", lambda i: lambda: stations_along_route(i, q)),
        ("list", lambda i: lambda: i.select(bbox=box, at=at)),
    ]
    print(f"{a.stations:,} fixed stations, {a.buses} buses x {a.stops} stops; median of {a.repeat}")
    for name, make in rows:
        ref = median_s(make(plain), a.repeat)
        got = median_s(make(mixed), a.repeat)
        without, with_ = f"{ref * 1e3:8.2f} ms", f"{got * 1e3:8.2f} ms"
        print(f"{name:6s} without buses {without}  with {with_}  ratio {got / ref:5.2f}")
    placed = median_s(place_new_minute, a.repeat)
    standing = len(mixed.mobile_at(at))
    when = f"{standing} standing at {at:%a %H:%M}"
    print(f"place  every bus at a new minute {placed * 1e3:8.2f} ms ({when})")


if __name__ == "__main__":
    main()
