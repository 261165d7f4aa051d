"""District and province figures, coverage and gaps on a national registry: the country's
2,848 counties and a national sample; what is too much for one request says to choose a
province or a county, at once."""

from __future__ import annotations

import time

import pytest

from geodata.districts import china_counties, provinces
from stations.services.sample import load_demo
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client

NINGXIA = "64"  # 22 counties: the smallest province by counties but Beijing/Tianjin/Shanghai


@pytest.fixture(scope="module")
def counties():
    return china_counties()


@pytest.fixture(scope="module")
def national(tmp_path_factory, counties):
    path = tmp_path_factory.mktemp("national") / "registry.sqlite3"
    with SQLiteStore(path) as store:
        load_demo(store, counties, seed=18, total=4000, national=True)
        with api_client(store, counties, path) as client:
            yield client


@pytest.mark.serial  # timed: alone, not beside another worker
def test_the_whole_country_is_too_much_for_one_coverage_request_and_says_so_at_once(national):
    start = time.perf_counter()
    r = national.get("/v1/coverage")
    assert time.perf_counter() - start < 3  # the estimate, not the computation
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("/too_much_work")
    assert "every district (2,848)" in body["detail"]
    assert "choose a province (district=51" in body["detail"] and "省份" in body["detail"]


def test_a_province_has_its_counties_and_their_sum(national, counties):
    r = national.get("/v1/coverage", params={"district": NINGXIA})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["city"] is None
    codes = [d["key"] for d in body["districts"]]
    assert codes == list(provinces(counties)[NINGXIA].adcodes) and len(codes) == 22
    whole = body["province"]
    assert whole["key"] == NINGXIA and whole["name"] == "宁夏回族自治区"
    assert whole["area_km2"] == pytest.approx(sum(d["area_km2"] for d in body["districts"]))
    # (each district's km² is rounded to the m²·1000; the sum is of the exact ones)
    assert whole["covered_km2"] == pytest.approx(
        sum(d["covered_km2"] for d in body["districts"]), abs=0.001 * len(codes)
    )
    assert 0 < whole["share"] < 0.2  # 4,000 stations over the country: sparse
    # (The layer's Ningxia is 51,940 km², its own province outline 51,982 km².)
    assert whole["area_km2"] == pytest.approx(51_940, rel=0.01)


def test_one_county_still_answers_and_unknown_codes_are_refused(national):
    r = national.get("/v1/coverage", params={"district": "500103"})
    assert r.status_code == 200 and [d["key"] for d in r.json()["districts"]] == ["500103"]
    assert "province" not in r.json()
    for bad in ("99", "71", "5"):
        r = national.get("/v1/coverage", params={"district": bad})
        assert r.status_code == 404 and r.json()["type"].endswith("/unknown_district"), bad


@pytest.mark.serial  # timed: alone, not beside another worker
def test_district_figures_for_2848_counties_without_coverage(national, counties):
    start = time.perf_counter()
    r = national.get("/v1/districts")
    first = time.perf_counter() - start
    assert r.status_code == 200
    body = r.json()
    assert len(body["districts"]) == 2848
    assert sum(d["stations_total"] for d in body["districts"]) == body["city"]["stations_total"]
    # Coverage of the whole country is over the budget: left out, not waited for.
    assert body["city"]["coverage"] is None
    assert body["city"]["name"] == "全国"  # not 全市: the districts are the country's
    start = time.perf_counter()
    assert national.get("/v1/districts/110101").json()["name"] == "东城区"
    assert time.perf_counter() - start < max(first, 0.5)  # kept for the snapshot


@pytest.mark.serial  # timed: alone, not beside another worker
def test_gaps_over_the_country_are_refused_at_once_a_province_answers(national):
    start = time.perf_counter()
    r = national.get("/v1/gaps")
    assert time.perf_counter() - start < 2
    assert r.status_code == 422 and r.json()["type"].endswith("/too_much_work")
    assert "choose a province" in r.json()["detail"]
    r = national.get("/v1/gaps", params={"district": NINGXIA, "spacing_m": 5000, "n": 3})
    assert r.status_code == 200, r.text
    sites = r.json()["sites"]
    assert len(sites) == 3 and all(s["district_adcode"].startswith(NINGXIA) for s in sites)
    r = national.get(
        "/v1/gaps", params={"district": NINGXIA, "spacing_m": 5000, "n": 2, "demand": "示例"}
    )
    assert r.status_code == 200, r.text


def test_province_coverage_on_either_store(any_store, counties, tmp_path):
    load_demo(any_store, counties, seed=5, total=3000, national=True)
    with api_client(any_store, counties, tmp_path / "r.sqlite3") as client:
        r = client.get("/v1/coverage", params={"district": "50", "demand": "示例"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["districts"]) == 38 and body["province"]["name"] == "重庆市"
        assert body["province"]["demand_weight"] == pytest.approx(
            sum(d["demand_weight"] for d in body["districts"]), rel=1e-6
        )
        assert client.get("/v1/coverage").status_code == 422


def test_area_tiles_of_the_country_carry_counties_and_province_outlines(national, counties):
    # Zoom 4, the tile over Sichuan and Chongqing: hundreds of counties, a few vertices each.
    r = national.get("/tiles/districts/4/12/6.json")
    assert r.status_code == 200
    body = r.json()
    codes = {code for code, _, _ in body["d"]}
    assert {"500101", "510104"} <= codes
    assert {"50", "51"} <= {code for code, _, _ in body["b"]}
    names = dict(zip(counties.adcodes, [d.name for d in counties], strict=True))
    assert all(names[code] == name for code, name, _ in body["d"])
    vertices = sum(len(ring) // 2 for _, _, rings in body["d"] for ring in rings)
    assert vertices < 40 * len(body["d"])  # simplified for the zoom
    chosen = national.get("/tiles/districts/4/12/6.json", params={"district": "50"}).json()
    assert {code[:2] for code, _, _ in chosen["d"]} == {"50"}
    assert [code for code, _, _ in chosen["b"]] == ["50"]
