"""Star ratings from the year's figures (rows seeded with raw SQL), on both stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from stations.domain.auth import Principal, Role
from stations.domain.errors import ForbiddenError
from stations.domain.stars import StationYear, load_rule
from stations.readmodel.index import StationIndex
from stations.services import stars as svc
from tests.builders import GUANYINQIAO, make_station
from tests.stations import ops_rows
from tests.stations.ops_rows import NOW

RULE = load_rule()
ALL_PASSED = {"open_as_posted": True, "hygiene": True, "first_aid": True}
CITY = Principal("t", "市总工会", Role.ADMIN, None)
YUZHONG = Principal("t", "渝中区总工会", Role.DISTRICT, "500103")
JIANGBEI = Principal("t", "江北区总工会", Role.DISTRICT, "500105")


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def two(store, districts):
    a = store.create(
        make_station(districts, external_id="A", name="甲站", amenities="热水、微波炉"), actor="t"
    )
    b = store.create(make_station(districts, external_id="B", name="乙站"), actor="t")
    return a, b


def test_the_years_figures_come_from_each_table(store, two):
    a, b = two
    ops_rows.inspection(store, a.id, ALL_PASSED, at=NOW - timedelta(days=10))
    ops_rows.inspection(
        store,
        a.id,
        {**ALL_PASSED, "open_as_posted": False, "hygiene": False},
        announced=True,
        at=NOW - timedelta(days=20),
    )
    ops_rows.inspection(store, a.id, ALL_PASSED, at=NOW - timedelta(days=400))  # too old
    for i, stars in enumerate((5, 4, 3)):
        ops_rows.rating(store, a.id, stars, client=f"c{i}", at=NOW - timedelta(days=3))
    ops_rows.rating(store, b.id, 1, at=NOW - timedelta(days=500))  # too old for the year
    ops_rows.visits(store, a.id, "2026-11-30", 7)
    ops_rows.visits(store, a.id, "2026-11-30", 3, hour=13)
    ops_rows.visits(store, a.id, "2025-01-01", 100)  # too old
    ops_rows.case(store, a.id, state="resolved", resolved=NOW - timedelta(days=5, hours=-1))
    ops_rows.case(store, a.id, state="open")  # overdue, unanswered
    ops_rows.case(store, a.id, state="open", replied=True)  # overdue, answered
    ops_rows.case(
        store, a.id, kind="closed_during_hours", state="confirmed", resolved=NOW - timedelta(days=1)
    )
    figures = store.ops_inputs(NOW - timedelta(days=365), NOW, hours_item="open_as_posted")
    assert figures[a.id] == StationYear(
        checks=2,
        checks_passed=1,
        items_checked=6,
        items_passed=4,
        unannounced_passed=1,
        hours_checked=2,
        hours_kept=1,
        rating_average=4.0,
        rating_count=3,
        visits=10,
        cases=4,
        cases_resolved_in_time=1,
        cases_overdue_unanswered=1,
        closed_confirmed=1,
    )
    assert b.id not in figures


def test_a_station_nobody_checked_gets_no_stars_not_one_star(store, two):
    """Stars need evidence: a station without a spot check in the year is 未评定 (none
    shown), and a later run that no longer rates a station takes its stars away."""
    a, _ = two
    index = StationIndex.build(store)
    assert svc.compute_stars(store, index, RULE, NOW) == []
    assert store.latest_star_ratings() == {}
    ops_rows.inspection(store, a.id, ALL_PASSED, at=NOW - timedelta(days=300))
    (only,) = svc.compute_stars(store, index, RULE, NOW)
    assert only.station_id == a.id and store.ops_summary(check_in_day_min=3)[a.id].stars
    # Seventy days on, that check is over a year old: the station is unrated again.
    assert svc.compute_stars(store, index, RULE, NOW + timedelta(days=70)) == []
    assert store.latest_star_ratings() == {}
    summary = store.ops_summary(check_in_day_min=3)
    assert a.id not in summary or summary[a.id].stars is None


def _checked(store, *stations):
    for s in stations:
        ops_rows.inspection(store, s.id, ALL_PASSED, at=NOW - timedelta(days=200))


def test_compute_saves_every_stations_stars_with_reasons(store, two):
    a, b = two
    _checked(store, a, b)
    index = StationIndex.build(store)
    rows = svc.compute_stars(store, index, RULE, NOW)
    assert {r.station_id for r in rows} == {a.id, b.id}
    latest = store.latest_star_ratings()
    assert latest[a.id].stars == rows[0].stars
    assert latest[a.id].reasons == rows[0].reasons
    assert latest[a.id].rules_version == RULE.version
    # A later computation is the latest; the earlier one is kept.
    ops_rows.inspection(store, a.id, ALL_PASSED, at=NOW - timedelta(days=1))
    svc.compute_stars(store, index, RULE, NOW + timedelta(hours=1))
    later = store.latest_star_ratings()[a.id]
    assert later.computed_at == NOW + timedelta(hours=1)
    assert later.score > latest[a.id].score
    assert len(store.export_table("star_ratings")) == 4
    summary = store.ops_summary(check_in_day_min=3)
    assert summary[a.id].stars == later.stars


def test_reasons_are_the_stations_union_and_the_city_unions(store, two, districts):
    a, _ = two
    _checked(store, *two)
    index = StationIndex.build(store)
    svc.compute_stars(store, index, RULE, NOW)
    assert svc.station_stars(YUZHONG, store, index, a.id)["reasons"]
    assert svc.station_stars(CITY, store, index, a.id)["score"] is not None
    with pytest.raises(ForbiddenError):
        svc.station_stars(JIANGBEI, store, index, a.id)
    with pytest.raises(ForbiddenError):
        svc.compute_stars_as(YUZHONG, store, index, RULE, NOW)
    assert [d["station_id"] for d in svc.union_ratings(JIANGBEI, store, index)] == []
    assert len(svc.union_ratings(CITY, store, index)) == 2
    public = svc.public_stars(store, index, "500103")
    assert set(public[0]) == {"station_id", "name", "district_adcode", "stars"}


def _five_star(store, station_id, *, unannounced=True):
    for days in (10, 40, 80):
        ops_rows.inspection(
            store, station_id, ALL_PASSED, at=NOW - timedelta(days=days), announced=not unannounced
        )
    for i in range(10):
        ops_rows.rating(store, station_id, 5, client=f"c{station_id}-{i}")
    for d in range(1, 29):
        ops_rows.visits(store, station_id, f"2026-11-{d:02d}", 10)


def test_candidates_are_five_stars_without_open_rectifications_checked_unannounced(
    store, districts
):
    full = "热水、微波炉、饮用水、手机充电、厕所、座椅、空调、急救药箱"
    made = [
        store.create(
            make_station(districts, external_id=f"S{i}", name=f"{i}号站", amenities=full),
            actor="t",
        )
        for i in range(4)
    ]
    jb = store.create(
        make_station(
            districts,
            external_id="JB",
            name="江北站",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
            amenities=full,
        ),
        actor="t",
    )
    for s in (*made[:3], jb):
        _five_star(store, s.id)
    _five_star(store, made[3].id, unannounced=False)  # 5 stars, never checked unannounced
    check = ops_rows.inspection(store, made[1].id, ALL_PASSED, at=NOW - timedelta(days=100))
    ops_rows.rectification(store, made[1].id, check, due=NOW + timedelta(days=3))
    ops_rows.rectification(store, made[2].id, check, due=NOW - timedelta(days=3), closed=True)
    index = StationIndex.build(store)
    # Five stars from 70 points: no 上图 in these stations, and the fourth's checks announced.
    rule = replace(RULE, thresholds=(70.0, 65.0, 50.0, 35.0))
    rows = {r.station_id: r for r in svc.compute_stars(store, index, rule, NOW)}
    assert all(rows[s.id].stars == 5 for s in (*made, jb)), [r.reasons for r in rows.values()]
    found = svc.candidates(store, index, NOW, district="500103")
    assert [c.station_id for c in found["500103"]] == [made[0].id, made[2].id]
    everywhere = svc.candidates(store, index, NOW, district=None)
    assert [c.station_id for c in everywhere["500105"]] == [jb.id]
    assert (
        svc.candidates(store, index, NOW, district="500103", top=1)["500103"][0].station_id
        == made[0].id
    )


def test_district_figures_for_the_dashboard(store, two):
    a, b = two
    check = ops_rows.inspection(store, a.id, ALL_PASSED, at=NOW - timedelta(days=30))
    ops_rows.inspection(store, b.id, ALL_PASSED, at=NOW - timedelta(days=400))
    ops_rows.rectification(store, a.id, check, due=NOW - timedelta(days=1))
    ops_rows.case(store, a.id, state="in_progress")
    ops_rows.case(store, a.id, state="resolved")
    ops_rows.rating(store, a.id, 5, client="x")
    ops_rows.rating(store, b.id, 2, client="y")
    ops_rows.visits(store, a.id, "2026-11-25", 4)
    ops_rows.visits(store, a.id, "2026-09-01", 50)  # beyond 30 days
    figures = store.ops_figures_by_district(
        NOW - timedelta(days=365), NOW, visits_since=NOW - timedelta(days=30)
    )
    f = figures["500103"]
    assert (f.checks, f.rectifications_overdue, f.cases_overdue, f.visits) == (1, 1, 1, 4)
    assert f.rating_average == pytest.approx(3.5)
    assert store.open_rectification_counts() == {a.id: 1}
    ops_rows.inspection(store, b.id, {"hygiene": True, "x": False}, at=NOW - timedelta(days=2))
    ops_rows.inspection(store, b.id, {"hygiene": True}, at=NOW - timedelta(days=1), announced=True)
    since = NOW - timedelta(days=365)
    assert store.unannounced_passed_counts(since, NOW) == {a.id: 1}
