"""The in-process read index, updated from the audit trail."""

from __future__ import annotations

import random

import numpy as np
import pytest

from stations.readindex import StationIndex
from stations.store import Create, Delete, Update
from tests.builders import JIEFANGBEI, make_station

HOURS = ["24小时", "周一至周五 9:00-18:00", "8:00-20:00", "周一至周六 8:00-19:00"]
AMENITIES = ["热水", "微波炉、手机充电", "厕所、座椅、无线网络", "热水、冰箱、急救药箱"]


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def _station(districts, rng: random.Random, external_id: str):
    return make_station(
        districts,
        external_id=external_id,
        owner="industry:transport",
        lon=JIEFANGBEI[0] + rng.uniform(-0.01, 0.01),
        lat=JIEFANGBEI[1] + rng.uniform(-0.01, 0.01),
        hours=rng.choice(HOURS),
        amenities=rng.choice(AMENITIES),
    )


def assert_same_index(a: StationIndex, b: StationIndex) -> None:
    assert a.version == b.version
    assert a.stations == b.stations
    assert a.position == b.position
    assert a.hours_list == b.hours_list
    for name in ("ids", "status", "self_service", "amenities", "district", "owner", "mapped"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.hours_id, b.hours_id)
    assert np.array_equal(a.nearest.lon, b.nearest.lon)
    assert np.array_equal(a.nearest.lat, b.nearest.lat)


def test_an_updated_index_equals_one_built_afresh(store, districts):
    rng = random.Random(5)
    store.apply([Create(_station(districts, rng, f"S{i}")) for i in range(40)], actor="t")
    index = StationIndex.build(store)
    serial = 40
    for _ in range(6):
        live = list(store.iter_all())
        changes = []
        for s in rng.sample(live, 4):
            changes.append(
                Update(
                    s.with_changes(hours=rng.choice(["24/7", "Mo-Fr 08:00-18:00"])),
                    s.version,
                )
            )
        for s in rng.sample([s for s in live if not any(c.station.id == s.id for c in changes)], 3):
            changes.append(Delete(s.id, s.version))
        for _ in range(5):
            changes.append(Create(_station(districts, rng, f"S{serial}")))
            serial += 1
        store.apply(changes, actor="t")
        index = index.updated(store)
        assert_same_index(index, StationIndex.build(store))
    # A deleted station put back under its old id, as a revert does.
    back = next(iter(store.iter_all()))
    store.delete(back.id, expected_version=back.version, actor="t")
    index = index.updated(store)
    assert index.get(back.id) is None
    store.apply([Create(back)], actor="t", kind="revert")
    index = index.updated(store)
    assert index.get(back.id) is not None
    assert_same_index(index, StationIndex.build(store))


def test_an_unchanged_store_gives_the_same_index(store, districts):
    store.create(make_station(districts), actor="t")
    index = StationIndex.build(store)
    assert index.updated(store) is index
