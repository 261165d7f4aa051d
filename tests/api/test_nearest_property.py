"""The nearest endpoint against brute force, on random registries and random queries.

Brute force: every station's geodesic distance on the WGS-84 ellipsoid (pyproj ``Geod``),
the filters applied one by one, sorted. The endpoint must return the same distances in the
same order; ids may differ only among stations at exactly the same distance (ties).
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from api.app import create_app
from geodata.hours import TZ
from stations.config import Settings
from stations.domain.changes import Create
from stations.domain.model import Station, Status
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station

pytestmark = pytest.mark.slow

GEOD = Geod(ellps="WGS84")
HOURS = ["24/7", "Mo-Fr 08:00-20:00; PH off", "Mo-Su 09:00-17:00", "Mo-Sa 07:30-22:00"]
# The State Council's 2026 arrangement (国办发明电〔2025〕7号), written out here so that
# open-now is checked against the notice, not against geodata's own calendar: National
# Day 10月1日至7日放假调休, 9月20日（周日）、10月10日（周六）上班; 中秋节 9月25日（周五）至27日
# 放假 (the Friday is the one weekday: a case hypothesis found, missing here before).
HOLIDAYS_2026 = frozenset(date(2026, 10, d) for d in range(1, 8)) | {date(2026, 9, 25)}
MAKEUP_WORKDAYS_2026 = frozenset({date(2026, 9, 20), date(2026, 10, 10)})


def reference_open(text: str, at: datetime) -> bool:
    """Open at ``at`` by :data:`HOURS` read by hand: an expression with ``PH`` follows the
    official calendar (holidays off, make-up Saturdays worked); one without is literal."""
    day, minute = at.date(), at.hour * 60 + at.minute
    weekday = day.weekday() < 5
    if text == "24/7":
        return True
    if text == "Mo-Fr 08:00-20:00; PH off":
        workday = (weekday and day not in HOLIDAYS_2026) or day in MAKEUP_WORKDAYS_2026
        return workday and 8 * 60 <= minute < 20 * 60
    if text in ("Mo-Su 09:00-17:00", "09:00-17:00"):  # stored in its normal form
        return 9 * 60 <= minute < 17 * 60
    if text == "Mo-Sa 07:30-22:00":
        return day.weekday() < 6 and 7 * 60 + 30 <= minute < 22 * 60
    msg = f"no reference reading for {text!r}"
    raise AssertionError(msg)


# Chongqing's bounding box (stations must fall in a district) and China's extremes (queries).
CQ = (105.3, 28.2, 110.1, 32.2)
CHINA_EDGES = [(73.6, 39.4), (134.7, 48.3), (124.3, 40.1), (108.3, 18.3), (97.5, 28.3)]
WORLDS = 3


class World:
    """A registry behind a client (not a dataclass: hypothesis prints those field by field)."""

    def __init__(self, client: TestClient, stations: list[Station]) -> None:
        self.client = client
        self.stations = stations
        self.lon = np.array([s.lon for s in stations])
        self.lat = np.array([s.lat for s in stations])

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"World({len(self.stations)} stations)"


def build_world(seed: int, districts, tmp_path_factory, stack) -> World:
    rng = np.random.default_rng(seed)
    n = 240
    # Clusters around a few centres plus a sprinkle over the whole city.
    centres = np.column_stack([rng.uniform(CQ[0] + 0.5, CQ[2] - 0.5, 4), rng.uniform(29, 31, 4)])
    pick = rng.integers(0, 4, n)
    lon = centres[pick, 0] + rng.normal(0, 0.05, n)
    lat = centres[pick, 1] + rng.normal(0, 0.05, n)
    spread = rng.random(n) < 0.2
    lon[spread] = rng.uniform(CQ[0], CQ[2], spread.sum())
    lat[spread] = rng.uniform(CQ[1], CQ[3], spread.sum())
    inside = districts.lookup(lon, lat) != ""
    lon, lat = lon[inside], lat[inside]
    # Ties: groups of stations at exactly the same position.
    for group in range(6):
        j = rng.integers(0, len(lon), 3)
        lon[j], lat[j] = lon[j[0]], lat[j[0]]
        del group
    ops = []
    for i in range(len(lon)):
        self_service = rng.random() < 0.1
        amenities = ["热水"] + (["aed"] if rng.random() < 0.01 or i == 0 else [])
        if rng.random() < 0.5:
            amenities.append("microwave")
        status = rng.choice(["active"] * 8 + ["temporarily_closed", "planned"])
        station = make_station(
            districts,
            owner="industry:transport",
            external_id=f"W{seed}-{i}",
            name=f"站{i}",
            lon=float(lon[i]),
            lat=float(lat[i]),
            hours="24/7" if self_service else HOURS[int(rng.integers(0, len(HOURS)))],
            self_service_24h=self_service,
            entry_methods="qr" if self_service else "staffed",
            amenities="、".join(amenities),
            status=str(status),
        )
        ops.append(Create(station))
    db = tmp_path_factory.mktemp(f"world{seed}") / "r.sqlite3"
    store = stack.enter_context(contextlib.closing(SQLiteStore(db)))
    store.apply(ops, actor="test")
    app = create_app(Settings(database_url=f"sqlite:///{db}"), store=store, districts=districts)
    client = stack.enter_context(TestClient(app))
    stations = list(store.iter_all())
    return World(client, stations)


@pytest.fixture(scope="module")
def worlds(districts, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        yield [build_world(seed, districts, tmp_path_factory, stack) for seed in range(WORLDS)]


def brute_force(world: World, lon, lat, *, statuses, amenities, self_service, open_at, radius):
    _, _, dist = GEOD.inv(
        np.full(len(world.lon), lon), np.full(len(world.lat), lat), world.lon, world.lat
    )
    keep = []
    for s, d in zip(world.stations, dist, strict=True):
        if s.status.value not in statuses:
            continue
        if not set(amenities) <= set(s.amenities):
            continue
        if self_service is not None and s.self_service_24h != self_service:
            continue
        if open_at is not None and not (
            s.status is Status.ACTIVE and reference_open(s.hours, open_at)
        ):
            continue
        if radius is not None and d > radius:
            continue
        keep.append((float(d), s.id))
    return sorted(keep)


@st.composite
def queries(draw):
    world = draw(st.integers(0, WORLDS - 1))
    where = draw(st.sampled_from(["station", "city", "edge"]))
    if where == "edge":
        lon, lat = draw(st.sampled_from(CHINA_EDGES))
    elif where == "city":
        lon = draw(st.floats(CQ[0], CQ[2]))
        lat = draw(st.floats(CQ[1], CQ[3]))
    else:
        lon, lat = None, draw(st.integers(0, 10_000))  # resolved against the world below
    return {
        "world": world,
        "where": lon,
        "lat": lat,
        "k": draw(st.integers(1, 25)),
        "radius_m": draw(st.sampled_from([None, 500.0, 5_000.0, 60_000.0, 2e5, 5e5])),
        "statuses": draw(st.sampled_from([["active"], ["active", "planned"], ["any"]])),
        # About 1 % of stations have an AED: the rare-filter case.
        "amenities": draw(st.sampled_from([[], [], ["microwave"], ["aed"], ["aed", "hot_water"]])),
        "self_service": draw(st.sampled_from([None, None, True, False])),
        "open_now": draw(st.booleans()),
        # Half the queries on the days the calendar decides: the break's first and last
        # days, the days after it, and both make-up working days.
        "at": datetime.combine(
            draw(
                st.sampled_from(
                    sorted(MAKEUP_WORKDAYS_2026 | {date(2026, 10, d) for d in (1, 7, 8)})
                )
                | st.dates(date(2026, 9, 18), date(2026, 10, 15))
            ),
            datetime.min.time(),
            tzinfo=TZ,
        )
        + timedelta(minutes=draw(st.integers(6 * 60, 23 * 60))),
    }


def nearest_params(lon: float, lat: float, q: dict) -> dict:
    """The query string of a drawn query: every filter it sets, at the point."""
    params = {
        "lon": lon,
        "lat": lat,
        "k": q["k"],
        "status": q["statuses"],
        "amenity": q["amenities"],
        "at": q["at"].isoformat(),
        "open_now": str(q["open_now"]).lower(),
    }
    if q["radius_m"] is not None:
        params["radius_m"] = q["radius_m"]
    if q["self_service"] is not None:
        params["self_service"] = str(q["self_service"]).lower()
    return params


@given(q=queries())
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_nearest_matches_brute_force(worlds, q):
    world = worlds[q["world"]]
    if q["where"] is None:  # exactly at a station, ties included
        s = world.stations[q["lat"] % len(world.stations)]
        lon, lat = s.lon, s.lat
    else:
        lon, lat = q["where"], q["lat"]
    params = nearest_params(lon, lat, q)
    r = world.client.get("/v1/stations/nearest", params=params)
    assert r.status_code == 200, r.text
    got = [(x["distance_m"], x["id"]) for x in r.json()["results"]]

    statuses = [s.value for s in Status] if q["statuses"] == ["any"] else q["statuses"]
    want = brute_force(
        world,
        lon,
        lat,
        statuses=statuses,
        amenities=q["amenities"],
        self_service=q["self_service"],
        open_at=q["at"] if q["open_now"] else None,
        radius=q["radius_m"],
    )
    k = q["k"]
    assert len(got) == min(k, len(want))
    # Same distances in the same order (the API rounds to 0.01 m).
    assert [d for d, _ in got] == pytest.approx([d for d, _ in want[:k]], abs=0.006)
    # Same stations, but for ties at the k-th distance.
    by_id = dict((i, d) for d, i in want)
    for d, i in got:
        assert i in by_id, f"station {i} should have been filtered out"
        assert by_id[i] == pytest.approx(d, abs=0.006)
    if got:
        last = want[len(got) - 1][0]
        must = {i for d, i in want if d < last - 0.01}
        assert must <= {i for _, i in got}
