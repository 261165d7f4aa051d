"""Coverage by travel time on the river city (tests/osm_city.py): a west-bank station does
not cover the east bank far from the bridge within 15 minutes on foot, though its 1 km disc
does; the figures, cross coverage, ``at``, ``district``, demand, gaps and the budget."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geodata.coverage import coverage
from geodata.districts import District, Districts
from geodata.hours import TZ
from geodata.routing import Router
from geodata.travel_coverage import cell_grid
from stations.domain.demand import DemandLayer
from stations.domain.errors import InvalidOptionError
from stations.domain.figures import CITY
from stations.domain.travel import NoNetworkError, RoutingSettings, Travel
from stations.readmodel.index import StationIndex
from stations.readmodel.network import NetworkHolder
from stations.services import gaps as gaps_service
from stations.services import planning
from stations.services.gaps import find_travel_gaps, gap_options
from stations.services.planning import (
    TooMuchWorkError,
    TravelOptions,
    index_travel_coverage,
    travel_cover,
    travel_coverage_figures,
    travel_options,
)
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station
from tests.osm_city import import_city, xy_to_lonlat

YUZHONG = "500103"
WALK = TravelOptions(Travel.WALK, 15)
ROUTING = RoutingSettings(
    speed_kmh={"walk": 4.5, "ebike": 15.0},
    steps_factor=0.4,
    snap_m={"walk": 200.0, "ebike": 100.0},
    list_size=48,
    list_max_m=3000.0,
    build_lists=False,
)
WEST = (390.0, 240.0)  # a west-bank station beside the riverside street
WEST_NORTH = (300.0, 900.0)  # another, near the bridge head
_GEOD = Geod(ellps="WGS84")


def add_station(store, districts, xy, name, **overrides):
    lon, lat = xy_to_lonlat(*xy)
    return store.create(
        make_station(
            districts, external_id=name, name=f"{name}工会驿站", lon=lon, lat=lat, **overrides
        ),
        actor="t",
    )


@pytest.fixture
def city(tmp_path: Path, districts):
    store = SQLiteStore(tmp_path / "registry.sqlite3")
    import_city(store, tmp_path, "walk")
    add_station(store, districts, WEST, "W1", hours="24小时")
    holder = NetworkHolder(store, ROUTING)
    yield store, holder
    holder.close()
    store.close()


def cells_at(grid, xys):
    """The kept cell containing each city point (x, y metres), or -1."""
    lon = np.array([xy_to_lonlat(*xy)[0] for xy in xys])
    lat = np.array([xy_to_lonlat(*xy)[1] for xy in xys])
    fwd = grid.to_local()
    x, y = fwd.transform(lon, lat)
    ix = np.floor((np.asarray(x) - grid.x0) / grid.cell_m).astype(int)
    iy = np.floor((np.asarray(y) - grid.y0) / grid.cell_m).astype(int)
    out = []
    for i, j in zip(ix, iy, strict=True):
        hit = np.flatnonzero((grid.ix == i) & (grid.iy == j))
        out.append(int(hit[0]) if hit.size else -1)
    return np.array(out)


def test_the_east_bank_far_from_the_bridge_is_not_within_15_minutes_on_foot(city, districts):
    store, holder = city
    index = StationIndex.build(store)
    router = holder.router(Travel.WALK, index)
    grid = cell_grid(router.network, router.snapper, cell_m=50.0, walk_in_m=100.0)
    mask = np.ones(len(index.nearest.lon), bool)
    cover = travel_cover(router, grid, mask, WALK, cross=False)
    east_south, west_near, east_bridge = (760.0, 260.0), (300.0, 260.0), (760.0, 980.0)
    cells = cells_at(grid, [east_south, west_near, east_bridge])
    assert np.all(cells >= 0)
    covered = cover.covered[cells]
    # Across the river, 370 m as the crow flies, but 1.8 km by the bridge: 24 minutes.
    assert not covered[0]
    assert covered[1]
    # The east bank at the bridge head: ~0.1 + 0.3 + 0.76 km, 16 minutes; within 20, where
    # the far east bank (1.9 km, 25 minutes) still is not.
    assert not covered[2]
    longer = travel_cover(router, grid, mask, TravelOptions(Travel.WALK, 20), cross=False)
    assert list(longer.covered[cells]) == [False, True, True]
    # The 1 km disc says the far east bank is covered.
    station = xy_to_lonlat(*WEST)
    _, _, straight = _GEOD.inv(*station, *xy_to_lonlat(*east_south))
    assert straight < 1000
    yuzhong = districts.get(YUZHONG).geometry
    disc = coverage(yuzhong, np.array([station[0]]), np.array([station[1]]), radius_m=1000)
    assert shapely.contains_xy(disc.covered, *xy_to_lonlat(*east_south))
    # The district's share on foot is well under the disc's.
    figures = index_travel_coverage(index, districts, holder, WALK, only=YUZHONG)
    assert 0 < figures[YUZHONG]["share"] < disc.share / 2
    assert figures[YUZHONG]["stations_reaching"] == 1


def test_shares_are_shares_and_grow_with_minutes_and_stations(city, districts):
    store, holder = city
    index = StationIndex.build(store)
    shares = []
    for minutes in (3, 10, 15, 30):
        doc = index_travel_coverage(
            index, districts, holder, TravelOptions(Travel.WALK, minutes), only=YUZHONG
        )[YUZHONG]
        assert 0 <= doc["cross_share"] <= doc["share"] <= 1
        assert doc["cross_covered_km2"] <= doc["covered_km2"] <= doc["area_km2"]
        shares.append(doc["share"])
    assert shares == sorted(shares) and shares[0] < shares[-1]
    one = index_travel_coverage(index, districts, holder, WALK, only=YUZHONG)[YUZHONG]
    # One station: no cross coverage; a second one near the bridge adds both.
    assert one["cross_share"] == 0
    add_station(store, districts, WEST_NORTH, "W2")
    index = StationIndex.build(store)
    two = index_travel_coverage(index, districts, holder, WALK, only=YUZHONG)[YUZHONG]
    assert two["share"] > one["share"]
    assert 0 < two["cross_share"] <= two["share"]
    # Cross coverage by three is never more than by two.
    three = index_travel_coverage(
        index, districts, holder, TravelOptions(Travel.WALK, 15, min_stations=3), only=YUZHONG
    )[YUZHONG]
    assert three["cross_share"] <= two["cross_share"]


def test_the_whole_city_sums_its_districts(city, districts):
    store, holder = city
    index = StationIndex.build(store)
    figures = index_travel_coverage(index, districts, holder, WALK)
    assert set(figures) == {d.adcode for d in districts} | {CITY}
    covered = sum(figures[d.adcode]["covered_km2"] for d in districts)
    assert figures[CITY]["covered_km2"] == pytest.approx(covered, abs=0.01)
    # The city over the districts the network reaches (only Yuzhong here).
    assert figures[CITY]["share"] == figures[YUZHONG]["share"] > 0
    # Kept for the snapshot and network version.
    assert index_travel_coverage(index, districts, holder, WALK) is figures
    # One district alone (searching only from the stations within reach of it) is the same.
    alone = index_travel_coverage(index, districts, holder, WALK, only=YUZHONG)
    assert alone == {YUZHONG: figures[YUZHONG]}


def test_at_counts_only_the_stations_open_then(city, districts):
    store, holder = city
    add_station(store, districts, (850.0, 250.0), "E1", hours="周一至周五 9:00-18:00")
    index = StationIndex.build(store)
    day = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)  # a Wednesday
    night = datetime(2026, 12, 2, 2, 0, tzinfo=TZ)
    by_day = index_travel_coverage(index, districts, holder, WALK, at=day, only=YUZHONG)
    by_night = index_travel_coverage(index, districts, holder, WALK, at=night, only=YUZHONG)
    assert by_night[YUZHONG]["share"] < by_day[YUZHONG]["share"]
    assert by_night[YUZHONG]["stations_reaching"] == 1
    assert by_day[YUZHONG]["stations_reaching"] == 2


def test_demand_share_counts_the_points_within_the_time(city, districts):
    store, holder = city
    index = StationIndex.build(store)
    points = [(300.0, 300.0), (350.0, 100.0), (800.0, 250.0)]  # two west, one far east
    lon = np.array([xy_to_lonlat(*p)[0] for p in points])
    lat = np.array([xy_to_lonlat(*p)[1] for p in points])
    layer = DemandLayer("riders", lon, lat, np.array([1.0, 3.0, 6.0]))
    doc = index_travel_coverage(index, districts, holder, WALK, demand=layer, only=YUZHONG)
    assert doc[YUZHONG]["demand_weight"] == 10.0
    assert doc[YUZHONG]["demand_share"] == pytest.approx(0.4)
    assert doc[YUZHONG]["demand_cross_share"] == 0


def test_no_network_for_the_profile_says_how_to_load_one(city, districts):
    store, holder = city
    index = StationIndex.build(store)
    with pytest.raises(NoNetworkError, match="yizhan network import"):
        index_travel_coverage(index, districts, holder, TravelOptions(Travel.EBIKE, 15))


def test_options_in_chinese():
    assert travel_options(None) is None
    assert travel_options("walk") == TravelOptions(Travel.WALK, 15)
    with pytest.raises(InvalidOptionError, match="radius_m 不能同时使用"):
        travel_options("walk", radius_m=1000)
    with pytest.raises(InvalidOptionError, match="须在 1 到 60 之间"):
        travel_options("walk", minutes=61)
    with pytest.raises(InvalidOptionError, match="需要与 travel"):
        travel_options(None, minutes=15)
    with pytest.raises(InvalidOptionError, match="travel 只能是"):
        travel_options("car")


def test_cross_coverage_work_is_budgeted(city, districts, monkeypatch):
    store, holder = city
    index = StationIndex.build(store)
    monkeypatch.setattr(planning, "MAX_REACH_WORK", 1)
    with pytest.raises(TooMuchWorkError, match="choose a district or fewer minutes"):
        index_travel_coverage(index, districts, holder, WALK, only=YUZHONG)


def test_gaps_by_travel_time_pick_the_other_bank_first(city, districts):
    store, holder = city
    index = StationIndex.build(store)
    options = gap_options(districts, n=3, spacing_m=250, district=YUZHONG, travel="walk")
    found = find_travel_gaps(index, districts, holder, options)
    assert found.unit == "km²" and found.candidates > 4
    assert len(found.sites) >= 2
    first = found.sites[0]
    # East of the river (x >= 700 m): the west-bank station's 15 minutes do not reach it.
    assert first.lon > xy_to_lonlat(650.0, 0.0)[0]
    gains = [s.gain for s in found.sites]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    shares = [s.share for s in found.sites]
    assert shares == sorted(shares)
    before = index_travel_coverage(index, districts, holder, WALK, only=YUZHONG)[YUZHONG]
    assert shares[0] == pytest.approx(before["share"] + first.gain / before["area_km2"], rel=1e-3)


def test_the_travel_gap_search_is_budgeted(city, districts, monkeypatch):
    store, holder = city
    index = StationIndex.build(store)
    options = gap_options(districts, n=3, spacing_m=250, district=YUZHONG, travel="walk")
    monkeypatch.setattr(gaps_service, "MAX_TRAVEL_GAP_WORK", 1000)
    with pytest.raises(TooMuchWorkError, match="choose a district or a wider spacing_m"):
        find_travel_gaps(index, districts, holder, options)


def test_a_district_the_network_does_not_reach_has_no_share_not_zero(city, districts):
    """A walk network of a Yuzhong extract says nothing of a district 200 km away: its share
    is unknown (None), not 0 %; the city's share is over the districts the network reaches."""
    store, holder = city
    far = "500243"  # 彭水, far south-east
    add_station(store, districts, WEST, "W9")
    index = StationIndex.build(store)
    figures = index_travel_coverage(index, districts, holder, WALK)
    assert figures[far]["network_km2"] == 0
    assert figures[far]["share"] is None and figures[far]["cross_share"] is None
    yz = figures[YUZHONG]
    assert 0 < yz["network_km2"] < yz["area_km2"] and 0 < yz["share"] < 1
    measured = [figures[d.adcode] for d in districts if figures[d.adcode]["share"] is not None]
    area = sum(f["area_km2"] for f in measured)
    assert area < 1000  # Chongqing is 82,000 km²: the city share is not over all of it
    assert figures[CITY]["area_km2"] == pytest.approx(area, abs=0.01)
    assert figures[CITY]["share"] == pytest.approx(
        sum(f["covered_km2"] for f in measured) / area, rel=1e-3
    )
    assert figures[CITY]["network_km2"] == pytest.approx(
        sum(f["network_km2"] for f in measured), abs=0.01
    )
    # Demand there is unknown too, and the city's demand share is over the measured part.
    pengshui = districts.get(far).geometry.representative_point()
    west = xy_to_lonlat(300.0, 300.0)
    layer = DemandLayer(
        "riders", np.array([west[0], pengshui.x]), np.array([west[1], pengshui.y]), np.ones(2)
    )
    doc = index_travel_coverage(index, districts, holder, WALK, demand=layer)
    assert doc[far]["demand_weight"] == 1.0 and doc[far]["demand_share"] is None
    assert doc[YUZHONG]["demand_share"] == 1.0
    assert doc[CITY]["demand_weight"] == 1.0 and doc[CITY]["demand_share"] == 1.0


def test_one_district_alone_counts_the_stations_reaching_its_border_cells(city):
    """A cell on a district's border counts by its centre, which may lie outside the
    district: a station just beyond the straight-line reach of the district itself still
    covers that cell. Before, ``district=`` dropped that station and said 0 where the whole
    city's figures said 1 % (a 40 m cell over a 100 m x 40 m district's edge)."""
    store, holder = city
    index = StationIndex.build(store)
    router = holder.router(Travel.WALK, index)
    options = TravelOptions(Travel.WALK, 2, cell_m=40.0)
    grid = cell_grid(router.network, router.snapper, cell_m=40.0, walk_in_m=100.0)
    reach = router.speed_kmh / 3.6 * options.limit_s
    fwd = grid.to_local()
    cx = grid.x0 + (grid.ix + 0.5) * grid.cell_m
    cy = grid.y0 + (grid.iy + 0.5) * grid.cell_m
    # A cell whose centre is on a street, and a station on it reach - 5 m east of it: the
    # cell is within the time; the district ends 19 m west of the centre (the cell overlaps
    # it by 1 m), so the station is reach + 14 m from the district.
    for c in np.flatnonzero(grid.snaps.snap_m < 1):
        lon, lat = fwd.transform(cx[c] + reach - 5, cy[c], direction="INVERSE")
        if router.snapper.snap(np.array([lon]), np.array([lat]), max_m=100).snap_m[0] < 1:
            break
    else:
        pytest.fail("no cell centre on a street")
    box = grid.wgs84(shapely.box(cx[c] - 119, cy[c] - 20, cx[c] - 19, cy[c] + 20))
    edge = Districts([District("500199", "边区", "区", box, 4000.0)], source="test")
    lons, lats = np.array([lon]), np.array([lat])
    sites = Router(router.network, router.snapper, lons, lats, snap_max_m=200, speed_kmh=4.5)
    mask = np.ones(1, bool)
    whole = travel_coverage_figures(edge, sites, grid, (lons, lats), mask, options)
    alone = travel_coverage_figures(edge, sites, grid, (lons, lats), mask, options, only="500199")
    assert whole["500199"]["share"] == pytest.approx(0.01, abs=0.002)
    assert alone == {"500199": whole["500199"]}
    assert alone["500199"]["stations_reaching"] == 1


def test_gaps_over_the_whole_city_share_over_the_districts_the_network_reaches(city, districts):
    """Without district=, the gap picks' shares are over the districts the network reaches
    (as the coverage's city share), not over all 82,000 km² of Chongqing."""
    store, holder = city
    index = StationIndex.build(store)
    options = gap_options(districts, n=1, spacing_m=250, travel="walk")
    (first,) = find_travel_gaps(index, districts, holder, options).sites
    city_doc = index_travel_coverage(index, districts, holder, WALK)[CITY]
    assert first.share == pytest.approx(
        city_doc["share"] + first.gain / city_doc["area_km2"], rel=1e-3
    )


def test_the_map_has_no_share_for_a_district_the_network_does_not_reach(city, districts):
    """The service-area map colours a district outside the network's extent 无数据 (no
    share), not 0 %: the same figures as /v1/coverage?travel=."""
    store, holder = city
    index = StationIndex.build(store)
    mask = np.ones(len(index.nearest.lon), bool)
    areas = planning.travel_areas(index, districts, holder, WALK, mask)
    figures = index_travel_coverage(index, districts, holder, WALK)
    assert areas.shares["500243"] is None
    assert areas.shares[YUZHONG] == pytest.approx(figures[YUZHONG]["share"], abs=1e-6)
    assert {k for k, v in areas.shares.items() if v is None} == {
        k for k, f in figures.items() if f["share"] is None
    }
