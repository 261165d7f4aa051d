"""Mobile stations (流动驿站) in the record: written, patched, read, listed, exported and
uploaded with their timetable, on every store."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from openpyxl import load_workbook

from geodata.crs import from_wgs84, to_wgs84
from stations.domain.records import station_to_dict
from tests.api.test_writes import store, upload, yuzhong  # every store; 渝中区总工会's token
from tests.builders import BUS_STOPS, GUANYINQIAO, JIEFANGBEI

__all__ = ["store", "yuzhong"]  # fixtures, used by name


def _gcj(lon, lat):
    x, y = from_wgs84(lon, lat, crs="gcj02")
    return float(x), float(y)


def bus_body(**kw):
    doc = {
        "external_id": "BUS-1",
        "name": "渝中流动驿站一号车",
        "crs": "gcj02",
        "hours": "周一至周六 10:00-16:00",
        "mobile": True,
        "stops": [
            {
                "name": s["name"],
                "lon": _gcj(s["lon"], s["lat"])[0],
                "lat": _gcj(s["lon"], s["lat"])[1],
                "hours": s["hours"],
            }
            for s in BUS_STOPS
        ],
    }
    doc.update(kw)
    return doc


def _post_bus(client, headers, **kw):
    r = client.post("/v1/stations", json=bus_body(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_union_posts_a_bus_and_reads_its_stops_back_in_any_crs(client, store, yuzhong):
    created = _post_bus(client, yuzhong)
    assert created["mobile"] is True and created["crs"] == "wgs84"
    for got, given in zip(created["stops"], BUS_STOPS, strict=True):
        assert got["name"] == given["name"]
        assert got["lon"] == pytest.approx(given["lon"], abs=1e-8)  # GCJ-02 in, exactly
        assert got["lat"] == pytest.approx(given["lat"], abs=1e-8)
        assert got["hours_text"] == given["hours"]
    assert created["stops"][0]["hours"] == "Mo,We,Fr 10:00-14:00; PH off"
    # Based at its first stop, since the body gives no base.
    assert (created["lon"], created["lat"]) == (
        created["stops"][0]["lon"],
        created["stops"][0]["lat"],
    )
    url = f"/v1/stations/{created['id']}"
    in_gcj = client.get(url, params={"crs": "gcj02"}).json()
    given = bus_body()["stops"]
    for got, sent in zip(in_gcj["stops"], given, strict=True):
        assert got["lon"] == pytest.approx(sent["lon"], abs=1e-8)
        assert got["lat"] == pytest.approx(sent["lat"], abs=1e-8)
    # The stored record is WGS-84, like the station's own position.
    stored = store.get(created["id"])
    assert stored.mobile and stored.stops[1].lon == pytest.approx(BUS_STOPS[1]["lon"], abs=1e-8)
    # A fixed station says so, with no stops.
    fixed = client.post(
        "/v1/stations",
        json={
            "external_id": "F1",
            "name": "驿站",
            "lon": JIEFANGBEI[0],
            "lat": JIEFANGBEI[1],
            "hours": "24小时",
        },
        headers=yuzhong,
    ).json()
    assert fixed["mobile"] is False and fixed["stops"] == []


def test_an_impossible_timetable_is_a_422_naming_each_stop_and_writes_nothing(
    client, store, yuzhong
):
    stops = bus_body()["stops"]
    stops[1]["hours"] = "周一 11:00-15:00"  # meets 解放碑's Monday 10:00-14:00
    stops[2]["hours"] = "10:00-09:00"
    r = client.post("/v1/stations", json=bus_body(stops=stops), headers=yuzhong)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert errors["stops[1].hours"]["code"] == "stops_overlap"
    assert "“解放碑”和第 2 个停靠点“大坪”的停靠时间重叠" in errors["stops[1].hours"]["message"]
    assert errors["stops[2].hours"]["code"] == "stop_leaves_before_arrival"
    assert store.count() == 0
    r = client.post("/v1/stations", json=bus_body(stops=[]), headers=yuzhong)
    assert r.json()["errors"][0]["code"] == "mobile_without_stops"
    far = [
        {"name": "观音桥", "lon": GUANYINQIAO[0], "lat": GUANYINQIAO[1], "hours": "Su 10:00-12:00"}
    ]
    r = client.post("/v1/stations", json=bus_body(stops=far, crs="wgs84"), headers=yuzhong)
    assert r.json()["errors"][0]["code"] == "outside_own_district"
    assert store.count() == 0


def test_a_patch_replaces_the_stops_whole_and_can_make_the_bus_fixed(client, store, yuzhong):
    created = _post_bus(client, yuzhong)
    url = f"/v1/stations/{created['id']}"
    etag = client.get(url).headers["etag"]
    two = bus_body()["stops"][:2]
    r = client.patch(
        url, json={"stops": two, "crs": "gcj02"}, headers={**yuzhong, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["version"] == 2 and [s["name"] for s in doc["stops"]] == ["解放碑", "大坪"]
    assert doc["stops"][1]["lon"] == pytest.approx(BUS_STOPS[1]["lon"], abs=1e-8)
    assert (doc["lon"], doc["lat"]) == (created["lon"], created["lat"])  # the base stays
    # Another field patched in GCJ-02 leaves the stored stops exactly as they were.
    moved = _gcj(JIEFANGBEI[0] + 0.001, JIEFANGBEI[1])
    r = client.patch(
        url, json={"lon": moved[0], "lat": moved[1], "crs": "gcj02", "version": 2}, headers=yuzhong
    )
    assert r.status_code == 200, r.text
    assert [(s.lon, s.lat) for s in store.get(created["id"]).stops] == [
        (s["lon"], s["lat"]) for s in doc["stops"]
    ]
    # Fixed without emptying the stops: refused, and nothing changes.
    r = client.patch(url, json={"mobile": False, "version": 3}, headers=yuzhong)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "stops_without_mobile"
    r = client.patch(url, json={"mobile": False, "stops": [], "version": 3}, headers=yuzhong)
    assert r.status_code == 200, r.text
    assert r.json()["mobile"] is False and r.json()["stops"] == []
    audit = store.audit(station_id=created["id"])
    assert [a.action for a in audit] == ["create", "update", "update", "update"]
    assert len(audit[1].before["stops"]) == 3 and len(audit[1].after["stops"]) == 2
    assert audit[-1].before["mobile"] is True and "stops" not in audit[-1].after


def test_listings_the_feed_ogc_and_export_carry_mobile_and_stops(client, store, yuzhong):
    cursor = client.get("/v1/stations/changes").json()["next"]
    created = _post_bus(client, yuzhong)
    listing = client.get("/v1/stations", params={"crs": "gcj02"}).json()
    (item,) = listing["items"] if "items" in listing else listing["stations"]
    assert item["mobile"] is True
    assert item["stops"][0]["lon"] == pytest.approx(bus_body()["stops"][0]["lon"], abs=1e-8)
    geo = client.get("/v1/stations", params={"f": "geojson"}).json()
    assert geo["features"][0]["properties"]["stops"][2]["name"] == "较场口"
    ogc = client.get("/collections/stations/items").json()
    assert ogc["features"][0]["properties"]["mobile"] is True
    one = client.get(f"/collections/stations/items/{created['id']}").json()
    assert len(one["properties"]["stops"]) == 3
    feed = client.get("/v1/stations/changes", params={"since": cursor}).json()
    assert feed["changed"][0]["stops"][1]["hours_text"] == "周二、四 10:00-14:00"
    (line,) = client.get("/v1/stations/export").content.decode().splitlines()
    assert json.loads(line)["stops"] == station_to_dict(store.get(created["id"]))["stops"]
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/stations?f=csv").text.lstrip("\ufeff"))))
    assert rows[0]["mobile"] == "true"
    lines = rows[0]["stops"].splitlines()
    assert lines[0].startswith("解放碑 | 106.5772") and lines[0].endswith(
        "| 周一、三、五 10:00-14:00"
    )


# -- uploads -------------------------------------------------------------------------------


_upload = upload


def _cell(stops):
    return "\n".join(f"{s['name']} | {s['lon']},{s['lat']} | {s['hours']}" for s in stops)


def test_a_sheet_with_a_good_bus_and_a_bad_one_reports_the_bad_stops_row_by_row(
    client, store, yuzhong
):
    good = bus_body()["stops"]
    bad = [dict(s) for s in good]
    bad[0]["hours"] = "周一至周五 9:00-18:00"  # over 大坪's Tuesday and Thursday
    bad[2]["lon"] = "东经106度"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["编号", "名称", "开放时间", "流动驿站", "停靠点"])
    writer.writerow(["B1", "一号车", "周一至周六 10:00-16:00", "是", _cell(good)])
    writer.writerow(["B2", "二号车", "周一至周六 10:00-16:00", "是", _cell(bad)])
    writer.writerow(
        ["B3", "三号车", "周一至周六 10:00-16:00", "否", "；".join(_cell([s]) for s in good)]
    )
    report = _upload(client, yuzhong, out.getvalue().encode("gbk")).json()
    assert report["counts"]["create"] == 1 and report["counts"]["rejected"] == 2, report
    assert store.count() == 0  # a dry run
    rejected = {r["row"]: r["problems"] for r in report["rows"] if r["action"] == "rejected"}
    two = {(p["field"], p["code"]): p for p in rejected[3]}
    overlap = two[("stops[1].hours", "stops_overlap")]
    assert (
        overlap["column"] == "停靠点"
        and "第 1 个停靠点“解放碑”和第 2 个停靠点“大坪”" in overlap["message"]
    )
    assert two[("stops[2].lon", "invalid_number")]["message"].startswith("第 3 个停靠点“较场口”：")
    assert "stops_without_mobile" in [p["code"] for p in rejected[4]]
    # How the good bus's stop hours were read on holidays, said as for a station's own.
    (created,) = [r for r in report["rows"] if r["action"] == "create"]
    reading = {w["field"]: w["message"] for w in created["warnings"]}
    assert reading["stops[0].hours"].startswith("第 1 个停靠点“解放碑”的停靠时间“周一、三、五")
    assert "法定节假日不开放" in reading["stops[0].hours"]
    r = client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong)
    assert r.status_code == 409 and store.count() == 0  # all or nothing, unless asked
    url = f"/v1/uploads/{report['id']}/commit?accepted_only=true"
    assert client.post(url, headers=yuzhong).status_code == 200
    (bus,) = store.iter_all()
    assert bus.mobile and [s.name for s in bus.stops] == ["解放碑", "大坪", "较场口"]
    assert bus.stops[0].lon == pytest.approx(BUS_STOPS[0]["lon"], abs=1e-8)  # GCJ-02 read exactly
    # The same sheet again plans no change for the bus.
    again = _upload(client, yuzhong, out.getvalue().encode("gbk")).json()
    assert again["counts"]["unchanged"] == 1 and again["counts"]["create"] == 0


def test_a_stops_cell_of_ten_thousand_stops_is_refused_cheaply(client, store, yuzhong):
    def sheet(n):
        cell = "\n".join(f"站{i} | 106.5836,29.5547 | Mo 10:00-11:00" for i in range(n))
        return (f'编号,名称,开放时间,流动驿站,停靠点\nB1,车,全天,是,"{cell}"\n').encode()

    started = time.perf_counter()
    r = _upload(client, yuzhong, sheet(10_000))  # past the cell limit: the file is refused
    assert r.status_code == 422 and r.json()["type"] == "/problems/cell_too_long", r.text
    # Within a cell's limit, 700 stops: the row is refused by its length, no stop read.
    report = _upload(client, yuzhong, sheet(700)).json()
    assert time.perf_counter() - started < 5
    (problems,) = [r["problems"] for r in report["rows"] if r["action"] == "rejected"]
    problem = next(p for p in problems if p["code"] == "too_many_stops")
    assert problem["column"] == "停靠点" and "64 个停靠点" in problem["message"]
    assert store.count() == 0


def test_a_geojson_upload_takes_a_stops_property(client, store, yuzhong):
    lon, lat = JIEFANGBEI
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "external_id": "G1",
                    "name": "车",
                    "hours": "全天",
                    "mobile": True,
                    "stops": [dict(s) for s in BUS_STOPS],
                },
            }
        ],
    }
    report = _upload(
        client,
        yuzhong,
        json.dumps(doc, ensure_ascii=False).encode(),
        name="b.geojson",
        crs="wgs84",
    ).json()
    assert report["counts"]["create"] == 1, report["rows"]
    client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong)
    (bus,) = store.iter_all()
    assert [(s.lon, s.lat) for s in bus.stops] == [(s["lon"], s["lat"]) for s in BUS_STOPS]


def test_the_template_shows_a_bus_and_uploads_it(client, store, yuzhong):
    r = client.get("/v1/uploads/template.xlsx")
    book = load_workbook(io.BytesIO(r.content))
    header = [c.value for c in book["驿站"][1]]
    assert "流动驿站" in header and "停靠点" in header
    notes = {row[0].value: row[1].value for row in book["填写说明"].iter_rows(min_row=2)}
    assert "名称 | 经度,纬度 | 停靠时间" in notes["停靠点"] and "次日" in notes["停靠点"]
    report = _upload(client, yuzhong, r.content, name="template.xlsx").json()
    assert report["counts"] == {**report["counts"], "create": 2, "rejected": 0}, report["rows"]
    client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong)
    bus = next(s for s in store.iter_all() if s.mobile)
    assert [s.name for s in bus.stops] == ["解放碑", "大坪", "较场口"]
    lon, lat = to_wgs84(106.577, 29.557, crs="gcj02")  # in the upload's crs, like the rest
    assert (bus.stops[0].lon, bus.stops[0].lat) == (float(lon), float(lat))


def test_the_openapi_body_shows_a_bus_with_three_stops(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/stations"]["post"]
    examples = post["requestBody"]["content"]["application/json"]
    found = json.dumps(examples, ensure_ascii=False)
    assert '"mobile": true' in found and found.count('"hours": "周') >= 3


def test_a_stored_timetable_todays_rules_refuse_is_kept_by_a_patch_that_leaves_it(
    client, store, yuzhong, districts
):
    from stations.domain.model import Stop
    from tests.mobile_data import SQUARE, make_bus

    past = Stop("旧集市", 106.52, 29.54, "2025 Jan 08 10:00-14:00", "2025年1月8日 10:00-14:00")
    bus = store.create(make_bus(districts, past, SQUARE), actor="t")  # stored before today
    url = f"/v1/stations/{bus.id}"
    r = client.patch(url, json={"name": "一号车", "version": 1}, headers=yuzhong)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "一号车"
    assert "保留原样" in r.text  # said, for the union to correct
    assert store.get(bus.id).stops == bus.stops
    # A patch of the stops themselves is held to today's rules.
    stops = [{"name": "旧集市", "lon": 106.52, "lat": 29.54, "hours": "2025年1月8日 10:00-14:00"}]
    r = client.patch(url, json={"stops": stops, "version": 2}, headers=yuzhong)
    assert r.status_code == 422 and store.get(bus.id).version == 2


def test_a_bus_given_to_another_district_must_have_its_stops_there(client, store, districts):
    from stations.domain.auth import Principal, Role
    from stations.domain.validation import ValidationError
    from stations.services.stations import patch_station
    from tests.mobile_data import make_bus

    bus = store.create(make_bus(districts), actor="t")  # 渝中区's, its stops in 渝中区
    admin = Principal("city", "city", Role.ADMIN, None)
    patch = {
        "owner": "district:500105",
        "lon": GUANYINQIAO[0],
        "lat": GUANYINQIAO[1],
        "crs": "wgs84",
    }
    with pytest.raises(ValidationError) as info:
        patch_station(store, districts, admin, bus, patch, expected_version=1)
    assert any(p.field.startswith("stops") for p in info.value.problems)
    assert store.get(bus.id).owner == bus.owner
