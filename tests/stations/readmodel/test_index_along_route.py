"""StationIndex.along_route: nearest's filters, and its ball tree kept while no station moves."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from geodata.along_route import BallTree, check_route
from geodata.distance import wgs84_geod
from geodata.hours import TZ
from stations.domain.model import Status
from stations.readmodel.index import StationIndex
from tests.builders import JIEFANGBEI, make_station

G = wgs84_geod()
AT = datetime(2025, 9, 30, 10, 0, tzinfo=TZ)  # a Tuesday, a working day


@pytest.fixture
def store(any_store):
    return any_store


def _add(store, districts, n, along_m, **fields):
    x, y, back = G.fwd(*JIEFANGBEI, 90.0, along_m)
    lon, lat, _ = G.fwd(x, y, back - 90.0, 30.0)
    station = make_station(
        districts, owner="industry:transport", external_id=f"I{n}", lon=lon, lat=lat, **fields
    )
    return store.create(station, actor="t")


def _route():
    end = G.fwd(*JIEFANGBEI, 90.0, 5000.0)[:2]
    return check_route([JIEFANGBEI[0], end[0]], [JIEFANGBEI[1], end[1]])


def test_every_filter_of_nearest_applies(store, districts):
    a = _add(store, districts, 1, 1000, hours="24小时", amenities="热水")
    b = _add(store, districts, 2, 2000, hours="周一至周五 9:00-18:00", amenities="微波炉")
    c = _add(store, districts, 3, 3000, status="planned")
    index = StationIndex.build(store)

    def ids(**filters):
        filters.setdefault("at", AT)
        found = index.along_route(_route(), distance_m=100, **filters)
        return index.ids[found.index].tolist()

    assert ids() == [a.id, b.id]
    assert ids(statuses=tuple(Status)) == [a.id, b.id, c.id]
    assert ids(amenities=("microwave",)) == [b.id]
    assert ids(open_now=True, at=AT.replace(hour=20)) == [a.id]
    assert ids(self_service=True) == []


def test_the_ball_tree_is_kept_until_a_station_moves(store, districts):
    a = _add(store, districts, 1, 1000)
    index = StationIndex.build(store)
    index.along_route(_route(), distance_m=100, at=AT)
    tree = BallTree.of(index.nearest.xyz)
    renamed = store.update(
        dataclasses.replace(a, name="新名字"), expected_version=a.version, actor="t"
    )
    edited = index.updated(store)
    assert edited is not index and BallTree.of(edited.nearest.xyz) is tree
    moved = dataclasses.replace(renamed, lon=renamed.lon + 0.001)
    store.update(moved, expected_version=renamed.version, actor="t")
    again = edited.updated(store)
    assert BallTree.of(again.nearest.xyz) is not tree
    found = again.along_route(_route(), distance_m=200, at=AT)
    assert found.offset_m.tolist() == pytest.approx([30.0], abs=20.0)
