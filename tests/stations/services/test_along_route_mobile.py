"""Along a route, a mobile station is listed at the stop where it stands when the rider gets
there: exact against a brute force (every stop against the route by Geod alone)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.along_route import check_route
from geodata.distance import wgs84_geod
from geodata.hours import TZ
from stations.domain.mobile import place
from stations.domain.model import Stop
from stations.readmodel.index import StationIndex
from stations.services.along_route import AlongRouteQuery, stations_along_route
from tests.builders import JIEFANGBEI, make_station
from tests.geodata.test_along_route import brute_force

G = wgs84_geod()
START = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)  # a Wednesday
EAST = [G.fwd(*JIEFANGBEI, 90.0, d)[:2] for d in (0.0, 5000.0, 10000.0)]
ROUTE = check_route([x for x, _ in EAST], [y for _, y in EAST])
DISTANCE_M = 300.0


def beside(along_m: float, offset_m: float) -> tuple[float, float]:
    x, y, back = G.fwd(*JIEFANGBEI, 90.0, along_m)
    lon, lat, _ = G.fwd(x, y, back - 90.0, offset_m)
    return float(lon), float(lat)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def registries(draw):
    """Fixed stations and buses beside the route (stops within or clearly beyond the
    distance, standing for a while between 09:00 and 13:00), a start time and a speed."""
    n_fixed = draw(st.integers(0, 4))
    fixed = [(draw(st.floats(0, 10_000)), draw(st.floats(-600, 600))) for _ in range(n_fixed)]
    buses = []
    for _ in range(draw(st.integers(1, 6))):
        stops, t = [], draw(st.integers(9 * 60, 11 * 60))
        for _ in range(draw(st.integers(1, 3))):
            off = draw(st.one_of(st.floats(-DISTANCE_M + 2, DISTANCE_M - 2), st.floats(320, 900)))
            length = draw(st.integers(5, 60))
            stops.append((draw(st.floats(0, 10_000)), off, t, t + length))
            t += length + draw(st.integers(1, 30))
        buses.append(stops)
    at = START + timedelta(minutes=draw(st.integers(0, 180)))
    speed = draw(st.sampled_from([5.0, 10.0, 15.0, 25.0]))
    return fixed, buses, at, speed, draw(st.booleans())


def _build(base, fixed, buses):
    stations = []
    for along, off in fixed:
        lon, lat = beside(along, off)
        stations.append(replace(base, lon=lon, lat=lat, hours="24/7", id=len(stations) + 1))
    for stops in buses:
        made = tuple(
            Stop(f"站{k}", *beside(along, off), f"Mo-Su {_hhmm(t0)}-{_hhmm(t1)}")
            for k, (along, off, t0, t1) in enumerate(stops)
        )
        stations.append(replace(base, mobile=True, stops=made, id=len(stations) + 1))
    return stations


def _brute_mobile(stations, at, speed_kmh, open_now):
    """Per bus: (along_m, stop index) of the first stop along the route within the
    distance where it stands on arrival (and, with open_now, at ``at`` too)."""
    out = {}
    for s in stations:
        if not s.mobile:
            continue
        px = np.array([p.lon for p in s.stops])
        py = np.array([p.lat for p in s.stops])
        offsets, alongs = brute_force(px, py, ROUTE.lon, ROUTE.lat)
        best = offsets.argmin(axis=1)
        options = sorted(
            (float(alongs[i, best[i]]), i)
            for i in range(len(s.stops))
            if offsets[i, best[i]] <= DISTANCE_M
        )
        for along, i in options:
            arrival = at + timedelta(seconds=along / (speed_kmh / 3.6))
            placed = place(s, arrival)
            if placed is None or placed.index != i:
                continue
            now = place(s, at)
            if open_now and (now is None or now.index != i):
                continue
            out[s.id] = (along, i)
            break
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_buses_along_the_route_are_the_brute_force(districts, case):
    fixed, buses, at, speed, open_now = case
    base = make_station(districts, owner="industry:transport")
    stations = _build(base, fixed, buses)
    index = StationIndex(stations, 1)
    q = AlongRouteQuery(
        ROUTE, DISTANCE_M, at, speed_kmh=speed, limit=1000, open_now=open_now, open_on_arrival=True
    )
    page = stations_along_route(index, q)
    # The fixed stations are what a registry without buses answers.
    only_fixed = StationIndex([s for s in stations if not s.mobile], 1)
    fixed_page = stations_along_route(only_fixed, q)
    got_fixed = [h.station.id for h, p in zip(page.hits, page.placements, strict=True) if p is None]
    assert got_fixed == [h.station.id for h in fixed_page.hits]
    expected = _brute_mobile(stations, at, speed, open_now)
    got = {
        h.station.id: (along, p.index)
        for h, along, p in zip(page.hits, page.along_m, page.placements, strict=True)
        if p is not None
    }
    assert got.keys() == expected.keys()
    for station_id, (along, i) in got.items():
        assert i == expected[station_id][1]
        assert abs(along - expected[station_id][0]) <= 0.05
    # Each bus is shown where it stands, open on arrival; the order is along the route.
    for h, p, ok in zip(page.hits, page.placements, page.open_on_arrival, strict=True):
        if p is not None:
            assert (h.lon, h.lat) == (p.stop.lon, p.stop.lat)
            assert ok
    assert page.along_m == sorted(page.along_m)
