"""Nearest at a time, with mobile stations (流动驿站), against brute force.

Random registries of fixed and mobile stations; random times, points and filters. Brute
force places every mobile station by ``stations.domain.mobile.place`` at ``at`` (left out
between stops), measures every candidate with pyproj ``Geod`` on the WGS-84 ellipsoid and
applies the filters one by one. Both ways of answering (api/fast_nearest.py ahead of the
router, and the FastAPI route alone) must give its distances in its order, each mobile
result at its stop with ``mobile``, ``stop_name``, ``stop_until`` = ``next_change`` and
``open_now`` true, each fixed one with ``mobile: false`` and no stop fields.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from api.app import create_app
from api.fast_nearest import FastNearest
from geodata.hours import TZ, hours
from stations.config import Settings
from stations.domain.changes import Create
from stations.domain.mobile import place
from stations.domain.model import Station, Status, Stop
from stations.storage.sqlite import SQLiteStore
from tests.api.test_nearest_property import nearest_params
from tests.builders import JIEFANGBEI, make_station

pytestmark = pytest.mark.slow

GEOD = Geod(ellps="WGS84")
HOURS = ["24/7", "Mo-Fr 08:00-20:00; PH off", "Mo-Su 09:00-17:00", "Mo-Sa 07:30-22:00"]
# A bus's stops: none overlap another of the same bus (they are drawn in this order).
STOP_HOURS = [
    ("Mo-Fr 08:00-11:00; PH off", "Mo-Fr 12:00-16:00; PH off"),
    ("Mo,We,Fr 09:00-12:00", "Tu,Th 09:00-12:00", "Sa,Su 14:00-18:00"),
    ("Mo-Su 10:00-14:00",),
    ("Sa 09:00-12:00", "Mo-Fr 15:00-19:00; PH off"),
]
CENTRE = JIEFANGBEI
WORLDS = 3


class World:
    """A registry behind both ways of answering (not a dataclass: hypothesis prints it)."""

    def __init__(self, clients: tuple[TestClient, TestClient], stations: list[Station]) -> None:
        self.clients = clients
        self.stations = stations

    def __repr__(self) -> str:
        return f"World({len(self.stations)} stations)"


def _point(rng: np.random.Generator, spread: float) -> tuple[float, float]:
    return float(CENTRE[0] + rng.normal(0, spread)), float(CENTRE[1] + rng.normal(0, spread))


def build_world(seed: int, districts, tmp_path_factory, stack) -> World:
    rng = np.random.default_rng(seed)
    ops = []
    n = 60
    for i in range(n):
        lon, lat = _point(rng, 0.03)
        if districts.lookup(np.array([lon]), np.array([lat]))[0] == "":
            lon, lat = CENTRE
        self_service = rng.random() < 0.15
        amenities = ["热水"] + (["microwave"] if rng.random() < 0.5 else [])
        status = str(rng.choice(["active"] * 8 + ["temporarily_closed", "planned"]))
        station = make_station(
            districts,
            owner="industry:transport",
            external_id=f"M{seed}-{i}",
            name=f"站{i}",
            lon=lon,
            lat=lat,
            hours="24/7" if self_service else HOURS[int(rng.integers(0, len(HOURS)))],
            self_service_24h=self_service,
            entry_methods="qr" if self_service else "staffed",
            amenities="、".join(amenities),
            status=status,
        )
        if rng.random() < 0.35:  # a bus: its base is a fixed station's position, or its own
            if rng.random() < 0.3 and ops:
                base = ops[int(rng.integers(0, len(ops)))].station
                station = replace(station, lon=base.lon, lat=base.lat)
            timetable = STOP_HOURS[int(rng.integers(0, len(STOP_HOURS)))]
            stops = []
            for j, text in enumerate(timetable):
                slon, slat = _point(rng, 0.02)
                if rng.random() < 0.2 and ops:  # exactly at a fixed station: ties
                    other = ops[int(rng.integers(0, len(ops)))].station
                    slon, slat = other.lon, other.lat
                stops.append(Stop(f"停靠点{i}-{j}", slon, slat, hours(text).osm, text))
            station = replace(station, mobile=True, stops=tuple(stops))
        ops.append(Create(station))
    db = tmp_path_factory.mktemp(f"mobile{seed}") / "r.sqlite3"
    store = stack.enter_context(contextlib.closing(SQLiteStore(db)))
    store.apply(ops, actor="test")
    served = create_app(Settings(database_url=f"sqlite:///{db}"), store=store, districts=districts)
    routed = create_app(Settings(database_url=f"sqlite:///{db}"), store=store, districts=districts)
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not FastNearest]
    clients = (
        stack.enter_context(TestClient(served)),
        stack.enter_context(TestClient(routed)),
    )
    return World(clients, list(store.iter_all()))


@pytest.fixture(scope="module")
def worlds(districts, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        yield [build_world(seed, districts, tmp_path_factory, stack) for seed in range(WORLDS)]


def brute_force(world: World, lon, lat, q) -> list[tuple[float, int, dict]]:
    """(distance, id, what the result must say) of every station passing the filters."""
    at = q["at"]
    keep = []
    for s in world.stations:
        if s.mobile:
            placed = place(s, at)
            if placed is None:
                continue
            slon, slat, is_open = placed.stop.lon, placed.stop.lat, True
            until = None if placed.until is None else placed.until.isoformat()
            want = {"mobile": True, "stop_name": placed.stop.name, "stop_until": until}
            want.update(next_change=until, lon=slon, lat=slat)
        else:
            slon, slat = s.lon, s.lat
            is_open = s.status is Status.ACTIVE and hours(s.hours).is_open(at)
            want = {"mobile": False, "lon": slon, "lat": slat}
        if s.status.value not in q["statuses"]:
            continue
        if not set(q["amenities"]) <= set(s.amenities):
            continue
        if q["self_service"] is not None and s.self_service_24h != q["self_service"]:
            continue
        if q["open_now"] and not is_open:
            continue
        want["open_now"] = is_open
        _, _, d = GEOD.inv(lon, lat, slon, slat)
        if q["radius_m"] is not None and d > q["radius_m"]:
            continue
        keep.append((float(d), s.id, want))
    keep.sort(key=lambda t: t[0])
    return keep


@st.composite
def queries(draw):
    return {
        "world": draw(st.integers(0, WORLDS - 1)),
        "dx": draw(st.floats(-0.05, 0.05)),
        "dy": draw(st.floats(-0.05, 0.05)),
        "at_stop": draw(st.booleans()),  # exactly at some mobile station's stop
        "pick": draw(st.integers(0, 10_000)),
        "k": draw(st.integers(1, 12)),
        "radius_m": draw(st.sampled_from([None, None, 300.0, 2_000.0, 8_000.0])),
        "statuses": draw(st.sampled_from([["active"], ["active", "planned"], ["any"]])),
        "amenities": draw(st.sampled_from([[], [], ["microwave"]])),
        "self_service": draw(st.sampled_from([None, None, True, False])),
        "open_now": draw(st.booleans()),
        "f": draw(st.sampled_from(["json", "geojson"])),
        # Around the National Day break (PH) and ordinary weeks, at any minute of the day.
        "at": datetime.combine(
            draw(
                st.sampled_from([date(2026, 10, 1), date(2026, 10, 10)])
                | st.dates(date(2026, 9, 26), date(2026, 10, 12))
            ),
            datetime.min.time(),
            tzinfo=TZ,
        )
        + timedelta(minutes=draw(st.integers(0, 24 * 60 - 1))),
    }


def _results(body: dict, f: str) -> list[dict]:
    if f == "json":
        return body["results"]
    out = []
    for feature in body["features"]:
        props = dict(feature["properties"])
        # The geometry is the found position (a mobile station's stop), WGS-84.
        assert feature["geometry"]["coordinates"] == [props["lon"], props["lat"]]
        props["id"] = feature["id"]
        out.append(props)
    return out


@given(q=queries())
@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_nearest_at_a_time_with_mobile_stations_matches_brute_force(worlds, q):
    world = worlds[q["world"]]
    buses = [s for s in world.stations if s.mobile]
    if q["at_stop"] and buses:
        bus = buses[q["pick"] % len(buses)]
        stop = bus.stops[q["pick"] % len(bus.stops)]
        lon, lat = stop.lon, stop.lat
    else:
        lon, lat = CENTRE[0] + q["dx"], CENTRE[1] + q["dy"]
    statuses = [s.value for s in Status] if q["statuses"] == ["any"] else q["statuses"]
    want = brute_force(world, lon, lat, {**q, "statuses": statuses})
    params = {**nearest_params(lon, lat, q), "f": q["f"]}
    bodies = []
    for client in world.clients:
        r = client.get("/v1/stations/nearest", params=params)
        assert r.status_code == 200, r.text
        bodies.append(r.content)
    assert bodies[0] == bodies[1]  # both ways of answering: the same bytes
    got = _results(json.loads(bodies[0]), q["f"])
    k = q["k"]
    assert len(got) == min(k, len(want))
    assert [r["distance_m"] for r in got] == pytest.approx([d for d, _, _ in want[:k]], abs=0.006)
    by_id = {i: (d, w) for d, i, w in want}
    for r in got:
        assert r["id"] in by_id, f"station {r['id']} should not be in the answer"
        d, w = by_id[r["id"]]
        assert r["distance_m"] == pytest.approx(d, abs=0.006)
        assert r["mobile"] is w["mobile"]
        assert (r["lon"], r["lat"]) == (w["lon"], w["lat"])  # never a bus at its base
        assert r["open_now"] is w["open_now"]
        if w["mobile"]:
            assert (r["stop_name"], r["stop_until"]) == (w["stop_name"], w["stop_until"])
            assert r["next_change"] == w["stop_until"]
        else:
            assert "stop_name" not in r and "stop_until" not in r
        assert "stops" not in r
    if got:  # the same stations, but for ties at the last distance
        last = want[len(got) - 1][0]
        must = {i for d, i, _ in want if d < last - 0.01}
        assert must <= {r["id"] for r in got}
