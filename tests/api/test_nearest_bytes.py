"""The nearest answer written as bytes is the JSON of its dicts, to the byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import orjson
import pytest

from api.representation import nearest_body, nearest_json, nearest_results
from geodata.crs import CoordinateSystem
from geodata.hours import TZ
from stations.domain.model import Stop
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
