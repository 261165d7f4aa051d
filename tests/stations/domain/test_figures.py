"""Planner figures: rates per district and city, targets and their deadlines, history."""

from __future__ import annotations

from datetime import date

import pytest

from geodata.crs import from_wgs84
from stations.domain.figures import CITY, figures, load_targets, mapped_history, progress
from stations.storage.sqlite import SQLiteStore
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station


def listings(point, *, precise=True, providers=("amap", "baidu", "tencent"), keyword=True):
    lon, lat = point if precise else (point[0] + 0.01, point[1])
    out = []
    for p in providers:
        x, y = from_wgs84(lon, lat, crs="bd09" if p == "baidu" else "gcj02")
        out.append(
            {
                "provider": p,
                "listed": True,
                "listed_lon": x,
                "listed_lat": y,
                "keyword_linked": keyword,
            }
        )
    return out


@pytest.fixture
def sample(districts):
    jb = {"owner": "district:500105", "lon": GUANYINQIAO[0], "lat": GUANYINQIAO[1]}
    return [
        make_station(
            districts, external_id="1", listings=listings(JIEFANGBEI), signage_unified="是"
        ),
        make_station(districts, external_id="2", listings=listings(JIEFANGBEI, precise=False)),
        make_station(
            districts, external_id="3", listings=listings(JIEFANGBEI, providers=("amap",))
        ),
        make_station(districts, external_id="4", status="planned", listings=listings(JIEFANGBEI)),
        make_station(
            districts,
            external_id="5",
            hours="24小时",
            self_service_24h="是",
            entry_methods="扫码",
            **jb,
        ),
    ]


def test_rates_count_active_stations_only(sample, districts):
    names = {d.adcode: d.name for d in districts}
    out = figures(sample, names)
    yz = out["500103"].as_dict()
    assert yz["stations_total"] == 4
    assert yz["by_status"]["planned"] == 1
    assert yz["stations_active"] == 3
    assert yz["listed_rate_amap"] == pytest.approx(1.0)
    assert yz["listed_rate_baidu"] == pytest.approx(2 / 3)
    assert yz["listed_all_rate"] == pytest.approx(2 / 3)
    assert yz["precise_rate"] == pytest.approx(1 / 3)
    assert yz["signage_rate"] == pytest.approx(1 / 3)
    city = out[CITY].as_dict()
    assert city["stations_active"] == 4
    assert city["self_service_24h"] == 1
    assert out["500101"].as_dict()["listed_all_rate"] is None  # no stations: no rate


def test_targets_progress_and_overdue(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(
        '[[target]]\ndistrict = "500103"\nmetric = "precise_rate"\nvalue = 0.9\n'
        "deadline = 2026-06-30\n\n"
        '[[target]]\nmetric = "listed_all_rate"\nvalue = 0.5\ndeadline = 2026-12-31\n',
        encoding="utf-8",
    )
    targets = load_targets(path)
    values = {"500103": {"precise_rate": 0.4}, CITY: {"listed_all_rate": 0.6}}
    got = progress(targets, values, today=date(2026, 11, 23))
    assert [(g["key"], g["met"], g["overdue"]) for g in got] == [
        ("500103", False, True),
        (CITY, True, False),
    ]
    path.write_text(
        '[[target]]\nmetric = "happiness"\nvalue = 1\ndeadline = "soon"\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"happiness.*deadline"):
        load_targets(path)


def test_history_replays_the_audit_trail(sample, db_path):
    with SQLiteStore(db_path) as store:
        first = store.create(sample[2], actor="a")  # amap only
        store.create(sample[0], actor="a")  # all three, precise
        store.update(first.with_changes(listings=sample[0].listings), expected_version=1, actor="a")
        history = mapped_history(store.mapped_history_days(threshold_m=50.0))
    (today,) = history
    assert today == {"date": today["date"], "active": 2, "listed_all": 2, "precise_all": 2}
