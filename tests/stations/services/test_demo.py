"""The sample registry looks like Chongqing's: dense downtown, ~7 % 24-hour, listings."""

from __future__ import annotations

from collections import Counter

import pytest

from stations.domain.listings import check_listing
from stations.domain.validation import build_station
from stations.services.demo import sample_rows
from stations.services.sample import RealStationsError, load_demo
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station


@pytest.fixture(scope="module")
def sample(districts):
    return [
        build_station(r, districts=districts) for r in sample_rows(districts, total=2000, seed=7)
    ]


def test_sample_covers_every_district_densest_downtown(sample, districts):
    per = Counter(s.district_adcode for s in sample)
    assert set(per) == {d.adcode for d in districts}
    density = {k: n / districts.get(k).area_m2 for k, n in per.items()}
    assert max(density, key=density.get) == "500103"  # 渝中区


def test_sample_shares_look_real(sample):
    share_24h = sum(s.self_service_24h for s in sample) / len(sample)
    assert 0.04 < share_24h < 0.10
    listed = [li for s in sample for li in s.listings if li.listed]
    assert {li.crs.value for li in listed} == {"gcj02", "bd09"}
    offsets = [check_listing(s, li).offset_m for s in sample for li in s.listings if li.listed]
    imprecise = sum(o > 50 for o in offsets) / len(offsets)
    assert 0.05 < imprecise < 0.30
    assert all(s.sample and "示例" in s.name and "示例" in s.address for s in sample)


def test_loading_keeps_an_earlier_sample_unless_replaced_and_never_touches_real_ones(
    tmp_path, districts
):
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        first = load_demo(store, districts, seed=3, total=60)
        assert first.loaded and first.stations + first.skipped == 60
        assert store.find_demand(first.demand.name) is not None
        ids = {s.id for s in store.iter_all()}
        kept = load_demo(store, districts, seed=3, total=60)
        assert not kept.loaded and kept.already == first.stations
        assert {s.id for s in store.iter_all()} == ids
        again = load_demo(store, districts, seed=4, total=40, replace=True)
        assert again.loaded and store.count() == again.stations
        assert not ids & {s.id for s in store.iter_all()}  # the earlier sample is gone
    with SQLiteStore(tmp_path / "r.sqlite3") as store:
        store.create(make_station(districts, external_id="R1"), actor="t")
        with pytest.raises(RealStationsError, match="holds 1 real stations"):
            load_demo(store, districts, seed=3, total=10, replace=True)
        assert store.count() == 1


@pytest.mark.parametrize("total", [1, 37, 100, 189, 190])
def test_a_small_sample_has_exactly_its_total(districts, total):
    assert sum(1 for _ in sample_rows(districts, total=total, seed=1)) == total
