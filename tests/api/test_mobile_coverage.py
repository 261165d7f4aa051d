"""Coverage at a time counts a mobile station at the stop where it stands (not at its base,
not at all between stops); both stores."""

from __future__ import annotations

import numpy as np
import pytest

from stations.readmodel.index import StationIndex
from stations.services.planning import counted_points, coverage_figures
from tests.builders import make_station
from tests.mobile_data import MARKET, NEW_YEAR_11, SQUARE, WEDNESDAY_11, WEDNESDAY_15, at, make_bus

YUZHONG = "500103"


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def made(store, districts):
    # The fixed station where the Saturday stop is; the bus based at 解放碑, far from both.
    fixed = store.create(
        make_station(districts, external_id="F1", lon=SQUARE.lon, lat=SQUARE.lat, hours="24小时"),
        actor="t",
    )
    bus = store.create(make_bus(districts), actor="t")
    return fixed, bus


def _share(client, when):
    r = client.get("/v1/coverage", params={"at": when, "district": YUZHONG, "radius_m": 500})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["districts"][0]["share"], body["stations_counted"]


def _reference(districts, *points):
    lon, lat = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    from stations.services.planning import CoverageOptions

    figures = coverage_figures(
        districts, lon, lat, options=CoverageOptions(radius_m=500), only=YUZHONG
    )
    return figures[YUZHONG]["share"]


def test_a_bus_covers_its_stop_only_while_it_stands_there(client, made, districts):
    fixed, bus = made
    alone = _reference(districts, (fixed.lon, fixed.lat))
    with_stop = _reference(districts, (fixed.lon, fixed.lat), (MARKET.lon, MARKET.lat))
    with_base = _reference(districts, (fixed.lon, fixed.lat), (bus.lon, bus.lat))
    assert with_stop > alone and with_base > alone  # each disc adds area of its own
    assert _share(client, WEDNESDAY_11) == (pytest.approx(with_stop, abs=1e-6), 2)
    assert _share(client, WEDNESDAY_15) == (pytest.approx(alone, abs=1e-6), 1)
    assert _share(client, NEW_YEAR_11) == (pytest.approx(alone, abs=1e-6), 1)  # PH off


def test_the_counted_points_are_the_stops(store, made):
    fixed, bus = made
    index = StationIndex.build(store)
    eleven = counted_points(index, at(WEDNESDAY_11))
    assert sorted(zip(eleven.lon.tolist(), eleven.lat.tolist(), strict=True)) == sorted(
        [(fixed.lon, fixed.lat), (MARKET.lon, MARKET.lat)]
    )
    assert counted_points(index, at(WEDNESDAY_15)).lon.tolist() == [fixed.lon]
    # Without a time: every stop, as a fixed station counts whatever its hours; never the base.
    anytime = counted_points(index, None)
    assert sorted(anytime.lon.tolist()) == sorted([fixed.lon, MARKET.lon, SQUARE.lon])
    assert bus.lon not in anytime.lon.tolist() and anytime.stations == 2
    # Different placements are different sets (figures are kept by the key).
    assert eleven.key != counted_points(index, at(WEDNESDAY_15)).key
