"""The nearest answer written as bytes is the JSON of its dicts, to the byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.representation import (
    nearest_body,
    nearest_json,
    nearest_query_echo,
    nearest_results,
    rounded,
)
from geodata.crs import CoordinateSystem
from geodata.hours import TZ
from stations.domain.model import AMENITIES, Status, Stop
from stations.readmodel.index import StationIndex
from stations.services.nearest import NearestQuery, find_nearest
from tests.builders import JIEFANGBEI, make_station

AT = datetime(2026, 12, 2, 11, 0, tzinfo=TZ)  # a Wednesday: the bus stands at its stop


@pytest.fixture(scope="module")
def index(districts):
    stations = []
    for i in range(12):
        lon, lat = JIEFANGBEI[0] + (i % 4 - 2) * 0.003, JIEFANGBEI[1] + (i // 4 - 1) * 0.002
        hours = ["24/7", "Mo-Fr 08:00-20:00; PH off", "Sa 09:00-12:00"][i % 3]
        s = make_station(districts, external_id=f"B{i}", name=f'站 {i} "q" <b>', lon=lon, lat=lat)
        stations.append(replace(s, id=i + 1, hours=hours))
    stop = Stop("较场口", JIEFANGBEI[0] + 0.001, JIEFANGBEI[1], "Mo-Fr 10:00-14:00", "工作日")
    stations[5] = replace(stations[5], mobile=True, stops=(stop,))
    return StationIndex(stations, 1)


@pytest.mark.parametrize("crs", list(CoordinateSystem))
@pytest.mark.parametrize("f", ["json", "geojson"])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_the_bytes_are_the_json_of_the_dicts(index, crs, f, k):
    here = (JIEFANGBEI[0] + 0.0012, JIEFANGBEI[1])  # by the bus's stop
    q = NearestQuery(
        lon=here[0],
        lat=here[1],
        crs=CoordinateSystem.WGS84,
        wlon=here[0],
        wlat=here[1],
        out_crs=crs,
        at=AT,
        k=k,
        radius_m=None,
        open_now=False,
        self_service=None,
        amenities=(),
        statuses=(),
    )
    hits, note = find_nearest(index, q)
    assert any(h.placement is not None for h in hits)
    dicts = nearest_results(index, hits, crs)
    got = nearest_json(index, hits, crs)
    assert got == [orjson.dumps(d) for d in dicts]
    body, _ = nearest_body(q, f, hits, got, note)
    doc = orjson.loads(body)
    if f == "json":
        assert doc["results"] == orjson.loads(orjson.dumps(dicts))
        assert doc["count"] == len(hits)
    else:
        want = orjson.loads(orjson.dumps(dicts))
        for feature, hit, d in zip(doc["features"], hits, want, strict=True):
            assert feature == {
                "type": "Feature",
                "id": hit.station.id,
                "geometry": {"type": "Point", "coordinates": [hit.lon, hit.lat]},
                "properties": d,
            }
    assert doc["query"]["k"] == k


@settings(max_examples=3000)
@given(
    x=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0, max_value=2e7),  # metres on the Earth, degrees
        st.integers(0, 2 * 10**9).map(lambda i: i / 1000),  # the halves: 0.125, 2.675, ...
        st.integers(-(10**6), 10**6).map(lambda i: i / 200),
    ),
    ndigits=st.sampled_from([1, 2]),
)
def test_rounded_is_round_to_the_bit(x, ndigits):
    want, got = round(x, ndigits), rounded(x, ndigits)
    assert repr(got) == repr(want)  # the sign of a zero too; nan as nan


@settings(max_examples=300)
@given(
    at=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59, 999999)).map(
        lambda d: d.replace(tzinfo=TZ)
    ),
    statuses=st.lists(st.sampled_from(list(Status)), unique=True).map(tuple),
    amenities=st.lists(st.sampled_from(sorted(AMENITIES)), unique=True).map(tuple),
    crs=st.sampled_from(list(CoordinateSystem)),
)
def test_the_query_echo_is_written_as_its_plain_values(at, statuses, amenities, crs):
    """``query`` holds enums, tuples and the time for orjson to write: the same bytes as
    their values, lists and ``isoformat()``."""
    q = NearestQuery(
        lon=106.5,
        lat=29.5,
        crs=crs,
        wlon=106.5,
        wlat=29.5,
        out_crs=None,
        at=at.astimezone(TZ),
        k=10,
        radius_m=None,
        open_now=False,
        self_service=None,
        amenities=amenities,
        statuses=statuses,
    )
    plain = {
        "lon": 106.5,
        "lat": 29.5,
        "crs": crs.value,
        "at": q.at.isoformat(),
        "k": 10,
        "radius_m": None,
        "open_now": False,
        "self_service": None,
        "amenity": list(amenities),
        "status": [s.value for s in statuses],
    }
    assert orjson.dumps(nearest_query_echo(q)) == orjson.dumps(plain)
