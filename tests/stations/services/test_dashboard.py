"""The planners' dashboard: the same figures as the JSON API, scoped by who asks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.auth import Principal, Role
from stations.domain.errors import ForbiddenError, InvalidOptionError
from stations.readmodel.index import StationIndex
from stations.services import planning
from stations.services.dashboard import (
    DISTRICT_COLUMNS,
    OPS_COLUMNS,
    dashboard,
    night_time,
    report_tables,
    sorted_rows,
)
from stations.services.sample import load_demo
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client
from tests.builders import GUANYINQIAO, make_station
from tests.stations import ops_rows

YUZHONG = "500103"
CITY = Principal("c", "重庆市总工会", Role.ADMIN, None)
TRANSPORT = Principal("i", "交通运输工会", Role.INDUSTRY, "transport")
YUZHONG_UNION = Principal("d", "渝中区总工会", Role.DISTRICT, YUZHONG)
TARGETS = (
    '[[target]]\ndistrict = "500103"\nmetric = "listed_all_rate"\nvalue = 0.99\n'
    "deadline = 2020-01-01\n"
    '[[target]]\ndistrict = "500103"\nmetric = "stations_active"\nvalue = 1\n'
    "deadline = 2030-01-01\n"
    '[[target]]\nmetric = "coverage"\nvalue = 0.5\ndeadline = 2030-06-30\nnote = "双15"\n'
    '[[target]]\ndistrict = "500101"\nmetric = "listed_rate_amap"\nvalue = 0.9\n'
    "deadline = 2031-01-01\n"
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, districts):
    path = tmp_path_factory.mktemp("dashboard") / "registry.sqlite3"
    targets = path.parent / "targets.toml"
    targets.write_text(TARGETS, encoding="utf-8")
    store = SQLiteStore(path)
    load_demo(store, districts, seed=7, total=400)
    yield store, path, targets
    store.close()


def board_of(registry, districts, by=CITY, district=None):
    store, _, targets = registry
    today = datetime.now(TZ).date()
    index = StationIndex.build(store)
    return dashboard(
        index, districts, store, by, district=district, targets_file=targets, today=today
    )


def test_the_figures_are_those_of_v1_districts_coverage_and_history(registry, districts):
    store, path, targets = registry
    board = board_of(registry, districts)
    with api_client(store, districts, path, targets_file=targets) as client:
        api = client.get("/v1/districts").json()
        night = client.get("/v1/coverage", params={"at": board.night.isoformat()}).json()
        history = client.get("/v1/history/mapped").json()
    assert [r["key"] for r in board.rows] == [d["key"] for d in api["districts"]]
    assert len(board.rows) == 38
    night_by_key = {d["key"]: d["share"] for d in night["districts"]}
    for row, doc in zip([*board.rows, board.city], [*api["districts"], api["city"]], strict=True):
        for column in DISTRICT_COLUMNS:
            key = column.key
            if key.startswith("status_"):
                assert row[key] == doc["by_status"][key.removeprefix("status_")], key
            elif key == "night_coverage":
                expected = night_by_key.get(row["key"], night["city"]["share"])
                assert row[key] == expected
            elif key.startswith("targets_"):
                assert row["targets_overdue"] == sum(t["overdue"] for t in doc["targets"])
            elif column in OPS_COLUMNS:
                continue  # the operations' figures: test_the_operations_columns_per_district
            else:
                assert row[key] == doc[key], key
    assert board.city["stations_active"] > 0 and board.city["coverage"] is not None
    assert [{k: h[k] for k in history[0]} for h in board.history] == history


def test_targets_carry_deadlines_and_what_is_overdue(registry, districts):
    board = board_of(registry, districts)
    by_metric = {t["metric"]: t for t in board.targets}
    assert by_metric["listed_all_rate"]["state"] == "逾期"
    assert by_metric["listed_all_rate"]["deadline"] == "2020-01-01"
    assert by_metric["stations_active"]["state"] == "已达成"
    assert by_metric["coverage"]["name"] == "全市" and by_metric["coverage"]["note"] == "双15"
    assert [t["metric"] for t in board.overdue] == ["listed_all_rate"]
    assert by_metric["listed_rate_amap"]["_kinds"] == {"target": "rate", "current": "rate"}
    assert by_metric["listed_rate_amap"]["metric_label"] == "高德上图率"
    assert by_metric["stations_active"]["_kinds"] == {}
    yuzhong = next(r for r in board.rows if r["key"] == YUZHONG)
    assert yuzhong["targets_overdue"] == 1 and yuzhong["targets_met"] == "1/2"


def test_a_district_union_sees_its_own_district_only(registry, districts):
    own = board_of(registry, districts, by=YUZHONG_UNION)
    assert own.scope == YUZHONG and [r["key"] for r in own.rows] == [YUZHONG]
    assert own.city is None and own.history == []
    assert {t["key"] for t in own.targets} == {YUZHONG}
    assert [t.name for t in report_tables(own)] == ["各区县指标", "目标进度"]
    with pytest.raises(ForbiddenError):
        board_of(registry, districts, by=YUZHONG_UNION, district="500101")
    for who in (CITY, TRANSPORT):
        assert len(board_of(registry, districts, by=who).rows) == 38
        assert board_of(registry, districts, by=who, district=YUZHONG).rows[0]["key"] == YUZHONG
    with pytest.raises(InvalidOptionError):
        board_of(registry, districts, district="999999")


def test_too_much_work_leaves_coverage_out(registry, districts, monkeypatch):
    monkeypatch.setattr(planning, "MAX_COVERAGE_WORK", 0)
    store, _, targets = registry
    index = StationIndex.build(store)  # a fresh snapshot: nothing kept
    board = dashboard(
        index, districts, store, CITY, district=None, targets_file=targets, today=date.today()
    )
    assert all(r["coverage"] is None and r["night_coverage"] is None for r in board.rows)


def test_a_district_is_measured_alone_when_the_city_is_too_much(registry, districts, monkeypatch):
    store, _, targets = registry
    index = StationIndex.build(store)
    whole = planning.index_coverage(index, districts)
    yuzhong = planning.coverage_figures_work(
        districts, index.nearest.lon, index.nearest.lat, only=YUZHONG
    )
    monkeypatch.setattr(planning, "MAX_COVERAGE_WORK", yuzhong + 1)
    index = StationIndex.build(store)
    today = date.today()
    board = dashboard(
        index, districts, store, CITY, district=YUZHONG, targets_file=targets, today=today
    )
    assert board.rows[0]["coverage"] == whole[YUZHONG]["share"]
    assert board.rows[0]["night_coverage"] is not None
    assert board.night == night_time(today) and board.night.hour == 2


def test_rows_sort_by_a_column_laggards_first_and_no_value_last():
    rows = [
        {"key": "a", "name": "甲", "listed_all_rate": 0.5},
        {"key": "b", "name": "乙", "listed_all_rate": None},
        {"key": "c", "name": "丙", "listed_all_rate": 0.1},
    ]
    assert [r["key"] for r in sorted_rows(rows, "listed_all_rate")] == ["c", "a", "b"]
    assert sorted_rows(rows, None) is rows
    with pytest.raises(InvalidOptionError):
        sorted_rows(rows, "nonsense")


def test_the_operations_columns_per_district(any_store, districts):
    store = any_store
    a = store.create(make_station(districts, external_id="A"), actor="t")
    b = store.create(
        make_station(
            districts,
            external_id="B",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    now = datetime.now(TZ)
    check = ops_rows.inspection(store, a.id, {"hygiene": False}, at=now - timedelta(days=3))
    ops_rows.inspection(store, a.id, {"hygiene": True}, at=now - timedelta(days=400))
    ops_rows.rectification(store, a.id, check, due=now - timedelta(days=1))
    ops_rows.case(store, a.id, opened=now - timedelta(days=4), due=now - timedelta(days=2))
    ops_rows.case(
        store, b.id, opened=now - timedelta(hours=1), due=now + timedelta(days=1), district="500105"
    )
    ops_rows.rating(store, a.id, 5, client="x")
    ops_rows.rating(store, a.id, 4, client="y")
    ops_rows.rating(store, b.id, 1, client="z")
    today = now.date()
    ops_rows.visits(store, a.id, today.isoformat(), 6)
    ops_rows.visits(store, b.id, (today - timedelta(days=40)).isoformat(), 9, district="500105")
    board = dashboard(
        StationIndex.build(store),
        districts,
        store,
        CITY,
        district=None,
        targets_file=None,
        today=today,
    )
    rows = {r["key"]: r for r in board.rows}
    keys = [c.key for c in OPS_COLUMNS]
    assert [rows["500103"][k] for k in keys] == [1, 1, 1, 4.5, 6]
    assert [rows["500105"][k] for k in keys] == [0, 0, 0, 1.0, 0]
    assert [board.city[k] for k in keys] == [1, 1, 1, pytest.approx(10 / 3, abs=0.01), 6]
    assert rows["500101"]["rating_average"] is None
    (table, *_) = report_tables(board)
    assert {"抽查次数（365天）", "逾期整改", "逾期诉求", "平均评分", "签到人次（30天）"} <= {
        c.label for c in table.columns
    }
