"""find_nearest_by_route on the river city (tests/osm_city.py), on both stores."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.crs import CoordinateSystem
from geodata.distance import distance_m
from geodata.hours import TZ
from stations.config import Settings
from stations.domain.model import AMENITIES, Status
from stations.domain.travel import NoNetworkError, OffNetworkError, Travel
from stations.readmodel.index import StationIndex
from stations.readmodel.network import NetworkHolder
from stations.services.nearest import (
    NearestQuery,
    find_nearest,
    find_nearest_by_route,
)
from tests.builders import make_station
from tests.osm_city import QUERY, WALK_ROUTE_M, A, B, C, import_city, xy_to_lonlat

MORNING = datetime(2026, 3, 3, 9, 0, tzinfo=TZ)
AFTERNOON = datetime(2026, 3, 3, 15, 0, tzinfo=TZ)


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def index(store, districts):
    for code, point, hours, amenities in (
        ("A", A, "24/7", "热水、微波炉"),
        ("B", B, "Mo-Su 08:00-12:00", "热水"),
        ("C", C, "24/7", "热水、微波炉"),
    ):
        store.create(
            make_station(
                districts,
                owner="industry:transport",
                external_id=code,
                name=f"河城驿站{code}",
                lon=point[0],
                lat=point[1],
                hours=hours,
                amenities=amenities,
            ),
            actor="t",
        )
    return StationIndex.build(store)


@pytest.fixture
def networks(store, tmp_path):
    holder = NetworkHolder(store, Settings().routing())
    yield holder
    holder.close()


def query(point=QUERY, travel=Travel.WALK, **kw):
    fields = dict(
        lon=point[0],
        lat=point[1],
        crs=CoordinateSystem.WGS84,
        wlon=point[0],
        wlat=point[1],
        out_crs=None,
        at=MORNING,
        k=10,
        radius_m=None,
        open_now=False,
        self_service=None,
        amenities=(),
        statuses=(Status.ACTIVE,),
        travel=travel,
    )
    fields.update(kw)
    return NearestQuery(**fields)


def letters(hits):
    return [h.station.name[-1] for h in hits]


def test_walk_order_differs_from_the_straight_line(store, tmp_path, index, networks):
    import_city(store, tmp_path, "walk")
    straight, _ = find_nearest(index, query(travel=None))
    assert letters(straight) == ["A", "B", "C"]
    answer = find_nearest_by_route(index, query(), networks)
    assert letters(answer.hits) == ["B", "A"]
    assert answer.route_m == pytest.approx([WALK_ROUTE_M["B"], WALK_ROUTE_M["A"]], rel=0.01)
    assert answer.note is None
    by_pos = {h.position: h for h in straight}
    for hit, route in zip(answer.hits, answer.route_m, strict=True):
        same = by_pos[hit.position]
        # The straight line, bearing and open state, as the straight answer has them.
        assert hit.distance_m == pytest.approx(same.distance_m, abs=1e-6)
        assert hit.distance_m == pytest.approx(distance_m(*QUERY, hit.lon, hit.lat), abs=1e-6)
        assert hit.bearing_deg == pytest.approx(same.bearing_deg, abs=1e-6)
        assert (hit.open_now, hit.next_change) == (same.open_now, same.next_change)
        assert route >= hit.distance_m
    assert [index.stations[u.position].name for u in answer.unreachable] == ["河城驿站C"]


def test_unreachable_only_where_it_could_have_been_in_the_answer(store, tmp_path, index, networks):
    import_city(store, tmp_path, "walk")
    c_m = distance_m(*QUERY, *C)
    assert c_m < WALK_ROUTE_M["B"]  # C is nearer in a straight line than B is on foot
    assert len(find_nearest_by_route(index, query(k=1), networks).unreachable) == 1
    assert find_nearest_by_route(index, query(radius_m=c_m - 1), networks).unreachable == []
    assert len(find_nearest_by_route(index, query(radius_m=c_m + 1), networks).unreachable) == 1
    # From the north end: C is named exactly when it is within the last route returned.
    north = xy_to_lonlat(200, 1000)
    answer = find_nearest_by_route(index, query(north, k=1), networks)
    d_c = distance_m(*north, *C)
    assert (len(answer.unreachable) == 1) == (d_c <= answer.route_m[-1])


def test_errors(store, tmp_path, index, networks):
    with pytest.raises(NoNetworkError):
        find_nearest_by_route(index, query(), networks)
    import_city(store, tmp_path, "walk")
    with pytest.raises(OffNetworkError) as caught:
        find_nearest_by_route(index, query(xy_to_lonlat(200, -800)), networks)
    assert caught.value.travel is Travel.WALK and caught.value.max_m == 200
    assert caught.value.code == "point_off_network"


def test_far_notes_by_route(store, tmp_path, index, networks):
    import_city(store, tmp_path, "walk")
    closed = find_nearest_by_route(
        index, query(open_now=True, at=AFTERNOON, amenities=("toilet",)), networks
    )
    assert closed.hits == [] and closed.note is not None
    assert "没有符合" in closed.note["hint"]
    tight = find_nearest_by_route(index, query(radius_m=100), networks)
    assert tight.hits == [] and tight.note is not None
    assert tight.note["nearest_m"] == pytest.approx(WALK_ROUTE_M["B"], rel=0.01)
    assert "步行 100 米内没有" in tight.note["hint"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    open_now=st.booleans(),
    self_service=st.sampled_from([None, True, False]),
    amenities=st.lists(st.sampled_from(AMENITIES), max_size=2, unique=True),
    statuses=st.lists(st.sampled_from(list(Status)), min_size=1, max_size=3, unique=True),
    hour=st.integers(0, 23),
)
def test_the_passing_mask_is_what_search_filters(
    index, open_now, self_service, amenities, statuses, hour
):
    at = datetime(2026, 3, 3, hour, 30, tzinfo=TZ)
    filters = dict(open_now=open_now, self_service=self_service, amenities=amenities)
    hits = index.search(*QUERY, k=len(index), at=at, statuses=statuses, **filters)
    mask = index.passing_mask(at=at, statuses=statuses, **filters)
    passing = np.ones(len(index), bool) if mask is None else mask
    assert sorted(h.position for h in hits) == np.flatnonzero(passing).tolist()


@pytest.fixture
def walk(store, tmp_path):
    return import_city(store, tmp_path, "walk")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(x=st.floats(-150, 1250), y=st.floats(-150, 1150), k=st.integers(1, 3))
def test_routes_are_never_shorter_than_the_straight_line(index, networks, walk, x, y, k):
    point = xy_to_lonlat(x, y)
    try:
        answer = find_nearest_by_route(index, query(point, k=k), networks)
    except OffNetworkError as exc:
        off: OffNetworkError | None = exc
    else:
        off = None
    if off is not None:  # beyond 200 m of the city's ways
        assert off.snap_m is None or off.snap_m > off.max_m
        return
    assert answer.route_m == sorted(answer.route_m) and len(answer.hits) == min(k, 2)
    for hit, route, seconds in zip(answer.hits, answer.route_m, answer.duration_s, strict=True):
        assert route >= hit.distance_m  # raw metres, no rounding
        # No faster than walking pace (seconds are kept as float32 per edge: 1e-6 relative).
        assert seconds >= route / (4.5 / 3.6) * (1 - 1e-6)


def test_the_off_network_message_reads_right_at_the_boundary():
    just = OffNetworkError(Travel.WALK, 200.04, 200.0)
    assert "离最近的步行可走的道路 200.0 米，超过了 200 米" in str(just)
    far = OffNetworkError(Travel.EBIKE, 9707.5, 100.0)
    assert "离最近的电动车可走的道路 9708 米，超过了 100 米" in str(far)
    assert "附近没有步行可走的道路" in str(OffNetworkError(Travel.WALK, None, 200.0))
