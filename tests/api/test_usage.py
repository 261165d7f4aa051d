"""GET /v1/usage: the figures' shape, their ranges, and that they equal a plain count."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.hours import TZ
from stations.domain.feedback import RateLimit
from stations.domain.visits import OCCUPATION_LABELS, OCCUPATIONS, NewVisit
from tests.builders import GUANYINQIAO, make_station

DAY0 = date(2026, 10, 1)
T0 = datetime(2026, 10, 1, 0, 0, tzinfo=TZ)
NO_LIMITS = (RateLimit("client", 10**6, 3600), RateLimit("station", 10**6, 3600))


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


def seed(store, station_id, at, occupation="delivery", client="c"):
    v = NewVisit(station_id=station_id, occupation=occupation, client_hash=client, at=at)
    return store.add_visit(v, dedupe_s=1, limits=NO_LIMITS, keep_s=10**9)


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code


def test_by_day_has_every_day_of_the_range_zeros_included(client, store, stations):
    yz, _ = stations
    seed(store, yz.id, T0 + timedelta(days=1, hours=12))
    seed(store, yz.id, T0 + timedelta(days=1, hours=13))
    r = client.get("/v1/usage?by=day&since=2026-10-01&until=2026-10-03")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "by": "day",
        "since": "2026-10-01",
        "until": "2026-10-03",
        "district": None,
        "station_id": None,
        "total": 2,
        "buckets": [
            {"key": "2026-10-01", "label": "2026-10-01", "n": 0},
            {"key": "2026-10-02", "label": "2026-10-02", "n": 2},
            {"key": "2026-10-03", "label": "2026-10-03", "n": 0},
        ],
    }


def test_by_hour_has_24_buckets_and_by_occupation_6_with_chinese_labels(client, store, stations):
    yz, jb = stations
    seed(store, yz.id, T0 + timedelta(hours=12, minutes=5), "courier")
    seed(store, jb.id, T0 + timedelta(hours=12, minutes=50), "sanitation")
    hours = client.get("/v1/usage?by=hour&since=2026-10-01&until=2026-10-01").json()
    assert [b["key"] for b in hours["buckets"]] == [str(h) for h in range(24)]
    assert hours["buckets"][12] == {"key": "12", "label": "12:00", "n": 2}
    assert hours["total"] == 2
    jobs = client.get("/v1/usage?by=occupation&since=2026-10-01&until=2026-10-01").json()
    assert [(b["key"], b["label"]) for b in jobs["buckets"]] == list(OCCUPATION_LABELS.items())
    assert {b["key"]: b["n"] for b in jobs["buckets"] if b["n"]} == {"courier": 1, "sanitation": 1}
    mine = client.get("/v1/usage?by=occupation&since=2026-10-01&until=2026-10-01&district=500105")
    assert mine.json()["district"] == "500105" and mine.json()["total"] == 1
    one = client.get(f"/v1/usage?by=hour&since=2026-10-01&until=2026-10-01&station_id={yz.id}")
    assert one.json()["station_id"] == yz.id and one.json()["total"] == 1


def test_the_default_range_is_the_last_30_days(client):
    r = client.get("/v1/usage").json()
    today = datetime.now(TZ).date()
    assert r["by"] == "day" and r["until"] == today.isoformat()
    assert r["since"] == (today - timedelta(days=29)).isoformat()
    assert len(r["buckets"]) == 30 and r["total"] == 0


def test_a_bad_range_is_a_400(client):
    assert_problem(client.get("/v1/usage?since=2026-10-02&until=2026-10-01"), 400, "invalid_range")
    assert_problem(client.get("/v1/usage?since=2025-01-01&until=2026-10-01"), 400, "invalid_range")
    ok = client.get("/v1/usage?since=2025-09-01&until=2026-10-05")  # exactly 400 days
    assert_problem(client.get("/v1/usage?since=2025-08-31&until=2026-10-05"), 400, "invalid_range")
    assert ok.status_code == 200 and len(ok.json()["buckets"]) == 400


@pytest.mark.parametrize(
    "query",
    ["by=week", "since=yesterday", "district=5001", "district=<img src=x>", "station_id=0"],
)
def test_bad_parameters_are_422(client, query):
    assert_problem(client.get(f"/v1/usage?{query}"), 422, "invalid_parameter")


def test_an_unknown_district_is_a_404(client):
    assert_problem(client.get("/v1/usage?district=999999"), 404, "unknown_district")


CHECK_INS = st.lists(
    st.tuples(
        st.integers(0, 1),  # which station
        st.integers(0, 6 * 24 * 60 - 1),  # minutes after T0 (six days)
        st.sampled_from(OCCUPATIONS),
    ),
    max_size=40,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(check_ins=CHECK_INS, window=st.tuples(st.integers(0, 6), st.integers(0, 6)))
def test_usage_equals_a_plain_count_of_the_check_ins(client, store, stations, check_ins, window):
    with store._write() as c:
        c.execute("DELETE FROM visits")
        c.execute("DELETE FROM visit_counts")
    ids = [s.id for s in stations]
    districts = {stations[0].id: "500103", stations[1].id: "500105"}
    kept = []
    for i, (which, minutes, occupation) in enumerate(check_ins):
        at = T0 + timedelta(minutes=minutes)
        seed(store, ids[which], at, occupation, client=f"c{i}")
        kept.append((ids[which], at.astimezone(TZ), occupation))
    first, last = sorted(DAY0 + timedelta(days=d) for d in window)
    for district in (None, "500105"):
        chosen = [
            k
            for k in kept
            if first <= k[1].date() <= last and (district is None or districts[k[0]] == district)
        ]
        expected = {
            "day": Counter(k[1].date().isoformat() for k in chosen),
            "hour": Counter(str(k[1].hour) for k in chosen),
            "occupation": Counter(k[2] for k in chosen),
        }
        for by, counts in expected.items():
            q = f"by={by}&since={first}&until={last}" + (
                f"&district={district}" if district else ""
            )
            got = client.get(f"/v1/usage?{q}").json()
            assert {b["key"]: b["n"] for b in got["buckets"] if b["n"]} == dict(counts), q
            assert got["total"] == len(chosen)
