"""The planners' map of a national registry: a province (its 2-digit code) is what the
budget tells a planner to choose for the whole country, so the map and its tiles take one."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qsl

import pytest

from geodata.districts import china_counties
from stations.services import maps as map_service
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client
from tests.builders import JIEFANGBEI, make_station

YINCHUAN = (106.2309, 38.4872)  # 银川 兴庆区, Ningxia (64)


@pytest.fixture(scope="module")
def counties():
    return china_counties()


@pytest.fixture
def national(tmp_path, counties):
    path = tmp_path / "registry.sqlite3"
    with SQLiteStore(path) as store:
        made = {}
        for key, position in (("CQ", JIEFANGBEI), ("NX", YINCHUAN)):
            lon, lat = position
            station = make_station(
                counties,
                external_id=key,
                lon=lon,
                lat=lat,
                owner="industry:transport",
                name=f"{key}驿站",
                address=f"{key}路 1 号",
            )
            made[key] = store.create(station, actor="t")
        with api_client(store, counties, path, warm_start=False) as client:
            yield client, made


def test_the_whole_country_advises_a_province_and_the_map_takes_one(national, monkeypatch):
    client, made = national
    # The whole country is over the coverage budget whatever the stations: the advice is a
    # province's 2-digit code...
    advice = client.get("/v1/coverage").json()["detail"]
    assert "district=51, 2 digits" in advice
    # ...and the map of that province is drawn, titled by its name, with its stations only.
    r = client.get("/maps/coverage", params={"district": "64"})
    assert r.status_code == 200, r.text
    assert "工会驿站覆盖图·宁夏回族自治区" in r.text
    assert "NX路 1 号" in r.text and "CQ路 1 号" not in r.text
    # Drawn from tiles, the page's tiles take the province too and hold its stations only.
    monkeypatch.setattr(map_service, "TILED_ABOVE", 0)
    page = client.get("/maps/coverage", params={"district": "64", "radius_m": 999}).text
    cfg = json.loads(re.search(r"var cfg = (\{.*?\});\n", page).group(1))
    params = dict(parse_qsl(cfg["query"].lstrip("?")))
    assert params["district"] == "64"
    tile = client.get("/tiles/stations/0/0/0.json", params=params)
    assert tile.status_code == 200, tile.text
    assert [p[2] for p in tile.json()["p"]] == [made["NX"].id]
    # A code that is no province is still refused, in Chinese.
    for bad in ("71", "9"):
        r = client.get("/tiles/stations/0/0/0.json", params={"district": bad})
        assert r.status_code == 404 and "区县" in r.json()["detail"], bad
        assert client.get("/maps/coverage", params={"district": bad}).status_code == 404


@pytest.mark.serial  # timed: alone, not beside another worker
def test_the_whole_country_map_says_to_choose_a_province_at_once(national):
    client, _ = national
    # Drawing the coverage of 2,848 counties took minutes (a 180 MB page) with 2 stations:
    # the map's budget weighs the drawing of the outlines too.
    start = time.perf_counter()
    r = client.get("/maps/coverage")
    assert time.perf_counter() - start < 10
    # Refused with the advice, or (when the map is drawn without coverage over the budget)
    # drawn with it in the legend.
    if r.status_code == 422:
        problem = r.json()
        assert problem["type"].endswith("/too_much_work")
        assert "district=51, 2 digits" in problem["detail"] and "省份" in problem["detail"]
    else:
        assert r.status_code == 200 and "请选择一个省" in r.text
    # A province's map still answers.
    assert client.get("/maps/coverage", params={"district": "11"}).status_code == 200


def test_gaps_of_a_province_too_wide_to_measure_say_so_in_chinese(national):
    client, _ = national
    r = client.get("/v1/gaps", params={"district": "54", "spacing_m": 5000, "n": 1})  # 西藏
    assert r.status_code == 422 and r.json()["type"].endswith("/too_much_work")
    assert "请选择一个区县" in r.json()["detail"]


def test_a_province_counts_the_stations_reaching_it_not_the_countrys(national):
    client, _ = national
    # 北京 holds no station, and none is within 1 km of it: the country's two reach nothing.
    beijing = client.get("/v1/coverage", params={"district": "11"}).json()["province"]
    assert beijing["stations_reaching"] == 0 and beijing["share"] == 0
    ningxia = client.get("/v1/coverage", params={"district": "64"}).json()
    assert ningxia["province"]["stations_reaching"] == 1  # 银川's, once
    assert sum(d["stations_reaching"] for d in ningxia["districts"]) >= 1
