"""Coverage, gaps and demand layers as planners use them over HTTP."""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geodata.distance import destination
from stations.config import Settings
from tests.api.clients import bearer
from tests.builders import WANZHOU, make_station

WANZHOU_ADCODE = "500101"
R = 1000.0


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def add(store, districts, external_id, lon, lat, **kw):
    kw.setdefault("owner", "industry:transport")
    store.create(
        make_station(districts, external_id=external_id, lon=lon, lat=lat, **kw), actor="t"
    )


def lens_km2(r_m: float, d_m: float) -> float:
    """The area two discs of radius r whose centres are d apart share."""
    return (
        2 * r_m**2 * math.acos(d_m / (2 * r_m)) - d_m / 2 * math.sqrt(4 * r_m**2 - d_m**2)
    ) / 1e6


def wanzhou(body):
    return next(d for d in body["districts"] if d["key"] == WANZHOU_ADCODE)


def test_one_disc_and_a_lens_inside_a_district(client, store, districts):
    add(store, districts, "A", *WANZHOU)
    body = client.get("/v1/coverage").json()
    w = wanzhou(body)
    assert w["covered_km2"] == pytest.approx(math.pi, rel=2e-3)
    assert w["share"] == pytest.approx(w["covered_km2"] / w["area_km2"], rel=1e-3)
    assert w["cross_share"] == 0
    assert body["city"]["covered_km2"] == pytest.approx(w["covered_km2"], rel=1e-6)

    east = destination(*WANZHOU, azimuth_deg=90, distance_m=300)
    add(store, districts, "B", *east)
    w = wanzhou(client.get("/v1/coverage", params={"min_stations": 2}).json())
    assert w["cross_covered_km2"] == pytest.approx(lens_km2(R, 300), rel=5e-3)
    assert w["cross_share"] <= w["share"]


def test_at_night_only_24_hour_sites_count(client, store, districts):
    add(store, districts, "DAY", *WANZHOU, hours="Mo-Fr 08:00-18:00")
    far = destination(*WANZHOU, azimuth_deg=0, distance_m=5000)
    add(
        store,
        districts,
        "NIGHT",
        *far,
        hours="24/7",
        self_service_24h=True,
        entry_methods="qr",
    )
    all_hours = wanzhou(client.get("/v1/coverage").json())
    night = client.get("/v1/coverage", params={"at": "2026-11-25T02:00"}).json()  # Wednesday
    noon = client.get("/v1/coverage", params={"at": "2026-11-25T12:00"}).json()
    assert night["stations_counted"] == 1
    assert noon["stations_counted"] == 2
    assert wanzhou(night)["share"] == pytest.approx(all_hours["share"] / 2, rel=1e-3)
    assert wanzhou(noon)["share"] == pytest.approx(all_hours["share"], rel=1e-9)


def test_districts_carry_coverage_for_targets(client, store, districts):
    add(store, districts, "A", *WANZHOU)
    body = client.get("/v1/districts").json()
    w = next(d for d in body["districts"] if d["key"] == WANZHOU_ADCODE)
    assert w["coverage"] > 0
    assert w["cross_coverage"] == 0


def demand_csv(rows):
    return "lon,lat,weight\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)


def test_demand_weighted_coverage_and_all_or_nothing_upload(client, store, districts):
    add(store, districts, "A", *WANZHOU)
    admin = bearer(store, "admin")
    near = destination(*WANZHOU, azimuth_deg=45, distance_m=500)
    far = destination(*WANZHOU, azimuth_deg=45, distance_m=5000)
    r = client.put(
        "/v1/demand/riders",
        headers=admin,
        data={"crs": "wgs84"},
        files={"file": ("riders.csv", demand_csv([(*near, 3), (*far, 1)]), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["points"] == 2
    body = client.get("/v1/coverage", params={"demand": "riders"}).json()
    assert wanzhou(body)["demand_share"] == pytest.approx(0.75)
    assert body["city"]["demand_share"] == pytest.approx(0.75)

    bad = "lon,lat,weight\n108.4,,1\n108.4,30.81,-2\n29.5,106.5,1\n"
    r = client.put(
        "/v1/demand/riders",
        headers=admin,
        data={"crs": "wgs84"},
        files={"file": ("bad.csv", bad, "text/csv")},
    )
    assert r.status_code == 422
    problems = r.json()["errors"]
    assert [(p["row"], p["code"]) for p in problems] == [
        (2, "missing_position"),
        (3, "invalid_weight"),
        (4, "outside_area"),
    ]
    # Nothing changed.
    assert client.get("/v1/demand").json()["layers"][0]["points"] == 2


def test_a_demand_layer_from_excel_is_read_and_a_spreadsheet_bomb_refused(
    client, store, districts, tmp_path
):
    # Demand files go through the same spreadsheet checks as station uploads (an XLSX
    # layer was once a 500: the reader had lost its limits argument).
    from openpyxl import Workbook

    from tests.builders import xlsx_wide

    admin = bearer(store, "admin")
    book = Workbook()
    book.active.append(["经度", "纬度", "权重"])
    book.active.append([*WANZHOU, 2])
    book.save(tmp_path / "riders.xlsx")
    r = client.put(
        "/v1/demand/riders",
        headers=admin,
        data={"crs": "wgs84"},
        files={"file": ("riders.xlsx", (tmp_path / "riders.xlsx").read_bytes())},
    )
    assert r.status_code == 200, r.text
    assert r.json()["points"] == 1
    xlsx_wide(tmp_path / "wide.xlsx", rows=3, columns=2000)
    r = client.put(
        "/v1/demand/riders",
        headers=admin,
        data={"crs": "wgs84"},
        files={"file": ("wide.xlsx", (tmp_path / "wide.xlsx").read_bytes())},
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/too_many_columns")
    for bad in ('{"type": "FeatureCollection", "features": [1]}', '{"features": 3}', "[1"):
        r = client.put(
            "/v1/demand/riders", headers=admin, files={"file": ("d.geojson", bad.encode())}
        )
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("/bad_file")
    assert client.get("/v1/demand").json()["layers"][0]["points"] == 1  # nothing changed


def test_a_demand_upload_names_its_coordinate_system_unless_geojson(client, store):
    admin = bearer(store, "admin")
    r = client.put(
        "/v1/demand/riders",
        headers=admin,
        files={"file": ("r.csv", demand_csv([(*WANZHOU, 1)]), "text/csv")},
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/crs_required")
    assert "gcj02" in r.json()["detail"] and "bd09" in r.json()["detail"]
    assert client.get("/v1/demand").json()["layers"] == []
    point = {"type": "Point", "coordinates": list(WANZHOU)}
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": point}],
    }
    r = client.put(
        "/v1/demand/riders", headers=admin, files={"file": ("r.geojson", json.dumps(doc))}
    )
    assert r.status_code == 200, r.text


def test_demand_layers_are_written_by_unions_within_their_district(client, store, districts):
    yuzhong = bearer(store, "district", "500103")
    r = client.put(
        "/v1/demand/x",
        headers=yuzhong,
        data={"crs": "wgs84"},
        files={"file": ("x.csv", demand_csv([(*WANZHOU, 1)]), "text/csv")},
    )
    assert r.status_code == 403
    assert (
        client.put(
            "/v1/demand/x", data={"crs": "wgs84"}, files={"file": ("x.csv", "", "text/csv")}
        ).status_code
        == 401
    )
    industry = bearer(store, "industry", "transport")
    r = client.put(
        "/v1/demand/x",
        headers=industry,
        data={"crs": "wgs84"},
        files={"file": ("x.csv", demand_csv([(*WANZHOU, 1)]), "text/csv")},
    )
    assert r.status_code == 403
    assert client.get("/v1/demand").json()["layers"] == []


def test_gaps_pick_the_heaviest_uncovered_demand_first(client, store, districts):
    admin = bearer(store, "admin")
    heavy = destination(*WANZHOU, azimuth_deg=0, distance_m=3000)
    light = destination(*WANZHOU, azimuth_deg=180, distance_m=3000)
    rows = [(*heavy, 5), (*heavy, 5), (*light, 1), (*WANZHOU, 100)]
    client.put(
        "/v1/demand/riders",
        headers=admin,
        data={"crs": "wgs84"},
        files={"file": ("r.csv", demand_csv(rows), "text/csv")},
    )
    add(store, districts, "A", *WANZHOU)  # the heaviest point is already covered
    body = client.get(
        "/v1/gaps",
        params={"n": 3, "district": WANZHOU_ADCODE, "demand": "riders", "spacing_m": 500},
    ).json()
    first, second = body["sites"][:2]
    assert first["gain"] == pytest.approx(10)
    assert second["gain"] == pytest.approx(1)
    assert len(body["sites"]) == 2  # nothing more to gain
    assert first["share_after"] == pytest.approx(110 / 111)
    assert second["share_after"] == pytest.approx(1.0)
    from geodata.distance import distance_m

    assert distance_m(first["lon"], first["lat"], *heavy) <= R


def test_gaps_by_area_without_demand(client, store, districts):
    body = client.get("/v1/gaps", params={"n": 2, "district": "500103", "spacing_m": 500}).json()
    assert body["unit"] == "km²"
    sites = body["sites"]
    assert len(sites) == 2  # an empty 渝中区 has room for two new sites
    gains = [s["gain"] for s in sites]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    assert all(s["district_adcode"] == "500103" for s in sites)
    assert 0 < sites[0]["share_after"] < sites[1]["share_after"] <= 1
    assert len({(s["lon"], s["lat"]) for s in sites}) == 2


def test_city_wide_gaps_gain_no_more_than_a_circle_and_share_steps_match(client):
    # Once 4.0 km² for one 1 km site (a circle holds 3.14), where two districts' sample
    # grids met; the share_after steps now add up to the gains over the city's area.
    body = client.get("/v1/gaps", params={"n": 3}).json()
    city_km2 = client.get("/v1/coverage").json()["city"]["area_km2"]
    share = 0.0
    for site in body["sites"]:
        assert site["gain"] <= math.pi + 0.0005  # π km², as rounded to 3 decimals
        # share_after is rounded to 6 decimals: a step may be off by 1e-6 of the city.
        step_km2 = (site["share_after"] - share) * city_km2
        assert step_km2 == pytest.approx(site["gain"], abs=1e-6 * city_km2 + 0.001)
        share = site["share_after"]


def test_gaps_in_a_district_reuse_the_coverage_kept_for_the_city(client, store, districts):
    add(store, districts, "A", *WANZHOU)
    client.get("/v1/districts")  # what the warm-up asks for first
    coverage = client.app.state.services.index.current().cached("coverage")
    kept = set(coverage)
    r = client.get("/v1/gaps", params={"n": 1, "district": WANZHOU_ADCODE})
    assert r.status_code == 200 and r.json()["sites"]
    assert set(coverage) == kept  # nothing computed again


def test_coverage_refuses_bad_options(client):
    assert client.get("/v1/coverage", params={"radius_m": 0}).status_code == 422
    assert client.get("/v1/coverage", params={"min_stations": 1}).status_code == 422
    assert client.get("/v1/coverage", params={"district": "999999"}).status_code == 404
    assert client.get("/v1/coverage", params={"demand": "nope"}).status_code == 404


@pytest.mark.parametrize("path", ["/v1/coverage", "/v1/gaps", "/maps/coverage"])
@pytest.mark.parametrize("radius_m", [5e-324, 1e-9, 0.5])
def test_a_radius_under_a_metre_is_refused_not_a_crash(client, path, radius_m):
    # 5e-324 (found by the schema fuzzer) made GEOS buffer a disc of NaN: a 500.
    r = client.get(path, params={"radius_m": radius_m})
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/out_of_range")
    assert "at least 1" in r.json()["detail"]


def test_gaps_refuse_a_search_too_big_for_one_request(client):
    # The whole city at a 250 m grid and a 10 km reach is billions of pairs (it once took
    # 12 GB): refused at once, with what to change; a district at the same grid is fine.
    r = client.get("/v1/gaps", params={"n": 1, "spacing_m": 250, "radius_m": 10_000})
    assert r.status_code == 422
    assert r.json()["type"].endswith("/too_much_work")
    assert "choose a district, a wider spacing_m or a smaller radius_m" in r.json()["detail"]
    r = client.get("/v1/gaps", params={"n": 1, "spacing_m": 250, "district": "500103"})
    assert r.status_code == 200


def test_coverage_refuses_work_too_big_for_one_request(client, store, districts, monkeypatch):
    # Cross coverage by 10 stations at 10 km over the whole city took 18 s on the sample
    # registry (and 80 s with 20,000 stations); the limit is scaled here to this registry.
    import numpy as np

    from stations.services import planning
    from stations.services.planning import CoverageOptions, coverage_figures_work

    for i, azimuth in enumerate((0, 120, 240)):
        add(store, districts, f"S{i}", *destination(*WANZHOU, azimuth_deg=azimuth, distance_m=400))
    everyone = list(store.iter_all())
    lon, lat = np.array([s.lon for s in everyone]), np.array([s.lat for s in everyone])
    heavy = CoverageOptions(radius_m=10_000, min_stations=10)
    city = coverage_figures_work(districts, lon, lat, options=heavy)
    one = coverage_figures_work(districts, lon, lat, options=heavy, only=WANZHOU_ADCODE)
    default = coverage_figures_work(districts, lon, lat)
    assert one < default < city
    monkeypatch.setattr(planning, "MAX_COVERAGE_WORK", (default + city) / 2)

    r = client.get("/v1/coverage", params={"radius_m": 10_000, "min_stations": 10})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/too_much_work")
    assert "choose a district, a smaller radius_m or a smaller min_stations" in r.json()["detail"]
    # The same for one district, and the whole city at the defaults, are answered.
    r = client.get(
        "/v1/coverage", params={"radius_m": 10_000, "min_stations": 3, "district": WANZHOU_ADCODE}
    )
    assert r.status_code == 200
    assert wanzhou(r.json())["cross_share"] > 0
    assert client.get("/v1/coverage").status_code == 200


def test_districts_leave_coverage_out_rather_than_fail_when_it_is_too_much(
    client, store, districts, monkeypatch
):
    from stations.services import planning

    add(store, districts, "A", *WANZHOU)
    monkeypatch.setattr(planning, "MAX_COVERAGE_WORK", 0)
    r = client.get("/v1/districts")
    assert r.status_code == 200
    assert r.json()["city"]["coverage"] is None
    assert r.json()["city"]["stations_active"] == 1
    assert client.get(f"/v1/districts/{WANZHOU_ADCODE}").json()["coverage"] is None


def test_a_district_too_large_to_measure_in_one_piece_is_refused_not_a_crash(tmp_path):
    # A user's boundary file with one area over all of China: coverage in one local
    # projection would be off by more than 0.1 %, and the map and figures used to fail
    # with a 500.
    import json

    from geodata.districts import load_districts
    from stations.storage.sqlite import SQLiteStore

    ring = [[73.0, 17.0], [136.0, 17.0], [136.0, 54.0], [73.0, 54.0], [73.0, 17.0]]
    path = tmp_path / "china.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"adcode": "000000", "name": "全国"},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    country = load_districts(path)
    store = SQLiteStore(tmp_path / "r.sqlite3")
    store.create(
        make_station(country, owner="industry:transport", lon=WANZHOU[0], lat=WANZHOU[1]),
        actor="t",
    )
    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}"),
        store=store,
        districts=country,
    )
    with TestClient(app) as c:
        for url in ("/v1/coverage", "/maps/coverage"):
            r = c.get(url)
            assert r.status_code == 422, url
            assert r.json()["type"].endswith("/too_much_work")
            assert "split it" in r.json()["detail"]
        r = c.get("/v1/districts")
        assert r.status_code == 200
        assert r.json()["city"]["stations_active"] == 1
        assert r.json()["city"]["coverage"] is None
    store.close()


def test_gap_pair_estimate_is_close_to_the_pairs_found(districts):
    from geodata.coverage import _reach_matrix, candidate_grid, gap_pairs_estimate

    area = districts.find("500101").geometry
    cx, cy = candidate_grid(area, spacing_m=1000)
    dx, dy = candidate_grid(area, spacing_m=500)
    reach = _reach_matrix(cx, cy, dx, dy, 1500)
    estimate = gap_pairs_estimate(len(cx), len(dx), spacing_m=1000, radius_m=1500)
    assert 0.8 < reach.nnz / estimate < 1.1


def test_refusals_tell_the_planner_in_chinese_what_to_do(client):
    # A planner reads Chinese first: what to change, then the figures that decided it.
    r = client.get("/v1/gaps", params={"n": 1, "spacing_m": 250, "radius_m": 10_000})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("计算量超过了单次请求的上限") and "选择一个省份或区县" in detail
    assert "candidate-demand pairs" in detail  # the figures still follow
    r = client.get("/v1/coverage", params={"district": "999999"})
    assert r.status_code == 404 and r.json()["type"].endswith("/unknown_district")
    assert r.json()["detail"].startswith("没有行政区划代码为 '999999' 的区县")


def test_a_new_question_while_three_others_wait_is_a_503_busy_not_a_held_thread(
    client, store, districts
):
    """A flood of costly questions (a new radius or time each) held every worker thread
    behind one computation at a time, and other pages stalled: a new one past the queue is
    refused at once with Retry-After; figures already computed are still answered."""
    from stations.services.planning import COVERAGE

    add(store, districts, "A", *WANZHOU)
    assert client.get("/v1/coverage").status_code == 200  # computed and kept
    index = client.app.state.services.index.current()
    cache = index.cache(COVERAGE)
    cache._pending.update({("other", i): 1 for i in range(3)})  # three others queued
    try:
        busy = client.get("/v1/coverage", params={"radius_m": 777})
        assert busy.status_code == 503
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert busy.json()["type"].endswith("/problems/busy")
        assert int(busy.headers["retry-after"]) > 0
        assert "计算" in client.get("/problems/busy").text
        assert client.get("/v1/coverage").status_code == 200  # kept: answered at once
    finally:
        cache._pending.clear()
    assert client.get("/v1/coverage", params={"radius_m": 777}).status_code == 200
