"""Benchmark the nearest answer with and without each result's ``event``/``next_event``
(stations.services.events.add_event_fields), over 200,000 stations.

Each query is the search plus api.representation.nearest_results, serialised, as the route
runs them (memoised record parts warm). "sparse": 5,000 events (a third weekly) at random
stations; "dense": an event at every other station. The calendar is built once per events
version, as a serving worker does; its build time is printed apart, and a rebuild's
processor time against a same-run reference (the same events without recurrence).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import orjson
from _common import best_of, china_points, make_stations

from api.representation import nearest_results
from geodata.crs import CoordinateSystem
from geodata.hours import TZ
from stations.domain.events import Event, Repeat, check_event
from stations.readmodel.index import StationIndex
from stations.services.events import EventsCalendar, add_event_fields

AT = datetime(2026, 3, 11, 12, 0, tzinfo=TZ)


def _events(
    station_ids: list[int], rng: np.random.Generator, *, weekly_share: float
) -> list[Event]:
    made = []
    for n, sid in enumerate(station_ids, start=1):
        start = AT + timedelta(hours=float(rng.uniform(-48, 24 * 20)))
        body = {
            "title": f"活动{n}",
            "kind": "free_meal",
            "station_ids": [sid],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
        }
        if rng.random() < weekly_share:
            until = (start + timedelta(days=60)).date().isoformat()
            body["recurrence"] = {"kind": "weekly", "weekdays": ["Mo", "We"], "until": until}
        made.append(Event.stored(check_event(body), id=n, owner="x", actor="bench", at=AT))
    return made


def _cpu_s(run: Callable[[], object]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        run()
        return time.process_time() - start
    finally:
        gc.enable()


def build_times(station_ids: list[int], seed: int, builds: int) -> None:
    """A worker's rebuild (a fresh one: no occurrences kept from before) of 5,000 events,
    a third of them weekly, against the same-run reference of the same events each on
    once (no recurrence): processor time, the median of ``builds`` builds each."""
    weekly = _events(station_ids, np.random.default_rng(seed), weekly_share=1 / 3)
    once = _events(station_ids, np.random.default_rng(seed), weekly_share=0.0)
    took = {"weekly": [], "once": []}
    for _ in range(builds):
        for name, events in (("weekly", weekly), ("once", once)):
            took[name].append(_cpu_s(lambda e=events: EventsCalendar.build(e, version=1, at=AT)))
    w, o = statistics.median(took["weekly"]), statistics.median(took["once"])
    n = sum(e.recurrence.repeat is Repeat.WEEKLY for e in weekly)
    print(
        f"  calendar build, {len(weekly)} events ({n} weekly): {w * 1e3:8.1f} ms CPU; "
        f"reference, the same each on once: {o * 1e3:8.1f} ms; ratio {w / o:.2f} "
        f"(median of {builds})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="stations (default 200000)")
    parser.add_argument("--queries", type=int, default=2000, help="query points (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes; the best is kept")
    parser.add_argument("--seed", type=int, default=20260311)
    parser.add_argument("--builds", type=int, default=3, help="calendar builds timed (median)")
    parser.add_argument("--build-only", action="store_true", help="only the calendar build times")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.build_only:
        build_times(list(range(1, 5001)), args.seed, args.builds)
        return 0
    lon, lat = china_points(args.n, rng)
    index = StationIndex(make_stations(lon, lat, seed=args.seed), 1)
    qlon, qlat = china_points(args.queries, rng)
    points = list(zip(qlon.tolist(), qlat.tolist(), strict=True))
    ids = index.ids.tolist()
    calendars = {}
    for name, chosen, weekly in (
        ("sparse", rng.choice(ids, 5000, replace=False).tolist(), 1 / 3),
        ("dense", ids[::2], 0.0),
    ):
        t0 = time.perf_counter()
        events = _events(chosen, rng, weekly_share=weekly)
        calendars[name] = EventsCalendar.build(events, version=1, at=AT)
        print(f"  {name}: {len(events)} events, calendar built in {time.perf_counter() - t0:.2f} s")
    build_times(rng.choice(ids, 5000, replace=False).tolist(), args.seed, args.builds)

    def run(calendar: EventsCalendar | None) -> None:
        for x, y in points:
            hits = index.search(x, y, k=10, at=AT)
            results = nearest_results(index, hits, CoordinateSystem.WGS84)
            if calendar is not None:
                add_event_fields(
                    results, index.ids[[h.position for h in hits]].tolist(), calendar, AT
                )
            orjson.dumps({"results": results})

    # The fields alone: on the same ten ids per query, fresh result dicts each time.
    hit_ids = []
    for x, y in points:
        hits = index.search(x, y, k=10, at=AT)
        hit_ids.append(index.ids[[h.position for h in hits]].tolist())

    def fields_only(calendar: EventsCalendar) -> None:
        for sids in hit_ids:
            add_event_fields([{} for _ in sids], sids, calendar, AT)

    for name, calendar in calendars.items():
        alone = best_of(args.repeat, lambda c=calendar: fields_only(c)) / len(points)
        print(f"  add_event_fields alone ({name}): {alone * 1e6:6.2f} µs per query of 10 results")
    run(None)
    without = best_of(args.repeat, lambda: run(None)) / len(points)
    print(f"stations {args.n}, queries {len(points)}, k=10, best of {args.repeat}")
    print(f"  nearest answer without event fields: {without * 1e6:8.1f} µs/query")
    for name, calendar in calendars.items():
        run(calendar)
        took = best_of(args.repeat, lambda c=calendar: run(c)) / len(points)
        print(
            f"  with event fields ({name}): {took * 1e6:8.1f} µs/query, ratio {took / without:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
