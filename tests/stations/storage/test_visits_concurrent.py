"""Check-ins from many threads at once, on both stores: one client at one station is
counted once however many arrive together; different clients are all counted."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from geodata.hours import TZ
from stations.domain.feedback import RateLimit
from stations.domain.visits import NewVisit, UsageQuery
from tests.builders import make_station


@pytest.fixture
def store(any_store):
    return any_store


def _visit(station, client: str, at: datetime) -> NewVisit:
    return NewVisit(
        station_id=station.id,
        client_hash=client,
        occupation="delivery",
        at=at,
        via_poster=False,
        district_adcode=station.district_adcode,
    )


def test_simultaneous_check_ins_are_deduplicated_and_none_lost(store, districts):
    station = store.create(make_station(districts), actor="t")
    at = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)
    counted: list[bool] = []
    start = threading.Barrier(16)

    def one(client: str) -> None:
        start.wait()
        counted.append(
            store.add_visit(
                _visit(station, client, at),
                dedupe_s=7200,
                limits=(RateLimit("client", 12, 3600), RateLimit("station", 600, 3600)),
                keep_s=48 * 3600,
            )
        )

    # 8 threads are one client, 8 are eight others.
    threads = [threading.Thread(target=one, args=("same",)) for _ in range(8)]
    threads += [threading.Thread(target=one, args=(f"other{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted.count(True) == 9
    buckets = store.usage(
        UsageQuery(by="occupation", since=at.date(), until=at.date(), station_id=station.id)
    )
    assert {b.key: b.n for b in buckets}["delivery"] == 9
