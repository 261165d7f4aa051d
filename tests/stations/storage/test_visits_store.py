"""Check-ins in the store: de-duplication, limits, the Shanghai-hour rollup, the purge."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.feedback import RateLimit, TooManyCheckInsError
from stations.domain.visits import OCCUPATIONS, NewVisit, UsageQuery
from tests.builders import GUANYINQIAO, make_station

T0 = datetime(2026, 10, 9, 12, 0, tzinfo=TZ)
DEDUPE_S = 7200
KEEP_S = 48 * 3600
LIMITS = (RateLimit("client", 12, 3600), RateLimit("station", 600, 3600))


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def stations(store, districts):
    yz = store.create(make_station(districts, external_id="YZ1", name="渝中一站"), actor="t")
    jb = store.create(
        make_station(
            districts,
            external_id="JB1",
            name="江北一站",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    return yz, jb


def visit(station_id, *, client="c1", occupation="delivery", at=T0):
    return NewVisit(station_id=station_id, occupation=occupation, client_hash=client, at=at)


def add(store, v, *, limits=LIMITS, dedupe_s=DEDUPE_S, keep_s=KEEP_S):
    return store.add_visit(v, dedupe_s=dedupe_s, limits=limits, keep_s=keep_s)


def raw_count(store, station_id=None):
    sql = "SELECT count(*) FROM visits" + ("" if station_id is None else " WHERE station_id = ?")
    return store._conn().execute(sql, () if station_id is None else (station_id,)).fetchone()[0]


def rollup(store):
    return {
        (r[0], r[1], r[2]): r[3]
        for r in store._conn()
        .execute("SELECT station_id, day, hour, n FROM visit_counts")
        .fetchall()
    }


def test_a_repeat_within_the_window_is_not_counted_and_after_it_is(store, stations):
    yz, jb = stations
    assert add(store, visit(yz.id)) is True
    assert add(store, visit(yz.id, at=T0 + timedelta(minutes=119))) is False
    assert add(store, visit(jb.id, at=T0 + timedelta(minutes=1))) is True  # another station
    assert add(store, visit(yz.id, client="c2")) is True  # another client
    assert add(store, visit(yz.id, at=T0 + timedelta(minutes=121))) is True
    assert raw_count(store, yz.id) == 3
    q = UsageQuery(by="day", since=T0.date(), until=T0.date())
    assert [b.n for b in store.usage(q)] == [4]


def test_the_rollup_equals_a_count_of_the_raw_rows(store, stations):
    yz, jb = stations
    expected: Counter = Counter()
    for i in range(40):
        at = T0 + timedelta(minutes=37 * i)
        sid = (yz.id, jb.id)[i % 2]
        occ = OCCUPATIONS[i % len(OCCUPATIONS)]
        assert add(store, visit(sid, client=f"c{i}", occupation=occ, at=at))
        local = at.astimezone(TZ)
        expected[(sid, local.date().isoformat(), local.hour)] += 1
    assert rollup(store) == dict(expected)
    rows = store._conn().execute("SELECT station_id, occupation, at FROM visits").fetchall()
    raw = Counter(
        (r[0], datetime.fromisoformat(r[2]).date().isoformat(), datetime.fromisoformat(r[2]).hour)
        for r in rows
    )
    assert raw == expected
    by_occ = store.usage(UsageQuery(by="occupation", since=T0.date(), until=date(2026, 10, 11)))
    assert {b.key: b.n for b in by_occ} == dict(Counter(r[1] for r in rows))


def test_the_client_limit_counts_across_stations_and_names_the_exact_wait(store, stations):
    yz, jb = stations
    limits = (RateLimit("client", 3, 3600), RateLimit("station", 600, 3600))
    for i in range(3):
        sid = (yz.id, jb.id)[i % 2]
        at = T0 + timedelta(minutes=10 * i)
        assert add(store, visit(sid, at=at), limits=limits, dedupe_s=1)
    late = T0 + timedelta(minutes=25, seconds=30)
    with pytest.raises(TooManyCheckInsError) as caught:
        add(store, visit(jb.id, at=late), limits=limits, dedupe_s=1)
    # free when the first (at T0) leaves the hour
    assert caught.value.retry_after_s == 34 * 60 + 30
    assert caught.value.scope == "client"
    assert add(store, visit(jb.id, client="c2", at=late), limits=limits)  # others pass
    assert raw_count(store) == 4


def test_the_station_limit_names_the_exact_wait(store, stations):
    yz, _ = stations
    limits = (RateLimit("client", 12, 3600), RateLimit("station", 2, 3600))
    assert add(store, visit(yz.id, client="a"), limits=limits)
    assert add(store, visit(yz.id, client="b", at=T0 + timedelta(seconds=10)), limits=limits)
    with pytest.raises(TooManyCheckInsError) as caught:
        add(store, visit(yz.id, client="c", at=T0 + timedelta(seconds=20)), limits=limits)
    assert caught.value.retry_after_s == 3600 - 20  # until the first (T0) leaves the hour
    assert caught.value.scope == "station"
    assert sum(rollup(store).values()) == 2


def test_raw_rows_are_purged_after_the_keep_time_and_the_counts_stay(store, stations):
    yz, _ = stations
    for i in range(5):
        assert add(store, visit(yz.id, client=f"c{i}", at=T0 + timedelta(seconds=i)))
    assert raw_count(store) == 5
    later = T0 + timedelta(seconds=KEEP_S + 4)
    assert add(store, visit(yz.id, client="late", at=later))
    # c0..c3 are older than the keep time; c4 (at T0+4 s, exactly keep_s old) is not yet
    hashes = sorted(r[0] for r in store._conn().execute("SELECT client_hash FROM visits"))
    assert hashes == ["c4", "late"]
    assert sum(rollup(store).values()) == 6


def test_day_and_hour_are_shanghai_s(store, stations):
    yz, _ = stations
    at = datetime(2026, 10, 9, 16, 30, tzinfo=UTC)  # 00:30 on the 10th in Chongqing
    assert add(store, visit(yz.id, at=at))
    assert rollup(store) == {(yz.id, "2026-10-10", 0): 1}
    by_hour = store.usage(UsageQuery(by="hour", since=date(2026, 10, 10), until=date(2026, 10, 10)))
    assert len(by_hour) == 24
    assert [b.n for b in by_hour] == [1] + [0] * 23
    assert (
        store.usage(UsageQuery(by="day", since=date(2026, 10, 9), until=date(2026, 10, 9)))[0].n
        == 0
    )


def test_usage_filters_by_district_and_station(store, stations):
    yz, jb = stations
    add(store, visit(yz.id, client="a"))
    add(store, visit(jb.id, client="b"))
    add(store, visit(jb.id, client="c"))
    day = T0.date()

    def total(**kw):
        return sum(b.n for b in store.usage(UsageQuery(by="day", since=day, until=day, **kw)))

    assert total() == 3
    assert total(district="500103") == 1
    assert total(district="500105") == 2
    assert total(station_id=jb.id) == 2
    assert total(district="500103", station_id=jb.id) == 0
    assert store.visit_days([yz.id, jb.id, 999], since=day) == {
        yz.id: [(day.isoformat(), 1)],
        jb.id: [(day.isoformat(), 2)],
    }
