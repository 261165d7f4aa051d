"""Bad input gets a clear 4xx problem naming the field, the same on both stores, never a 500."""

from __future__ import annotations

import csv
import io

import pytest

from geodata.crs import from_wgs84
from tests.api.clients import new_bearer
from tests.builders import JIEFANGBEI

YUZHONG = "500103"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def yuzhong(store):
    return new_bearer(store, "district", YUZHONG, "渝中区总工会")[0]


@pytest.fixture
def admin(store):
    return new_bearer(store, "admin", name="市总工会")[0]


def body(**kw):
    doc = {
        "external_id": "V1",
        "name": "民族路工会驿站",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "每天 8:00-20:00",
        "contact_phone": "023-63888888",
    }
    doc.update(kw)
    return doc


def listing(**kw):
    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    doc = {"provider": "amap", "listed": True, "listed_lon": glon, "listed_lat": glat}
    doc.update(kw)
    return doc


def problem(r, status=422, code="validation_failed"):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["type"] == f"/problems/{code}"
    return doc


def fields(r) -> dict[str, str]:
    """Field -> problem code of a refused record."""
    return {e["field"]: e["code"] for e in problem(r)["errors"]}


def created(client, headers, **kw):
    r = client.post("/v1/stations", json=body(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


# -- times ---------------------------------------------------------------------------------

EDGE_TIMES = ["0001-01-01T00:00+14:00", "9999-12-31T23:59-12:00", "1900-06-01T12:00"]


@pytest.mark.parametrize("at", EDGE_TIMES)
@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/v1/stations/nearest", {"lon": 106.5772, "lat": 29.557}, id="nearest"),
        pytest.param("/v1/coverage", {"radius_m": 1000}, id="coverage"),
        pytest.param("/maps/coverage", {"radius_m": 1000}, id="maps"),
    ],
)
def test_times_at_the_calendars_edges_are_a_422_not_a_500(client, store, yuzhong, path, params, at):
    created(client, yuzhong)
    r = client.get(path, params={**params, "at": at})
    doc = problem(r, 422, "time_out_of_range")
    assert "2000-01-01" in doc["detail"] and at in doc["detail"]


def test_a_time_before_1901_never_comes_back_as_local_mean_time(client, store, yuzhong):
    created(client, yuzhong)
    r = client.get(
        "/v1/stations/nearest", params={"lon": 106.5772, "lat": 29.557, "at": "2026-10-01T03:00"}
    )
    assert r.status_code == 200, r.text
    assert "+08:05" not in r.text
    assert "+08:05" not in client.get("/v1/stations/nearest?lon=106.5&lat=29.5&at=1900-01-01").text


@pytest.mark.parametrize("at", EDGE_TIMES)
def test_a_listing_checked_at_the_calendars_edge_is_refused_on_post_and_patch(
    client, store, yuzhong, at
):
    r = client.post("/v1/stations", json=body(listings=[listing(checked_at=at)]), headers=yuzhong)
    assert fields(r) == {"amap_checked_at": "time_out_of_range"}
    doc = created(client, yuzhong, external_id="V2")
    r = client.patch(
        f"/v1/stations/{doc['id']}",
        json={"listings": [listing(checked_at=at)], "version": 1},
        headers=yuzhong,
    )
    assert fields(r) == {"amap_checked_at": "time_out_of_range"}
    assert client.get(f"/v1/stations/{doc['id']}").json()["version"] == 1


def test_a_listing_checked_at_in_range_is_kept_in_shanghai_time(client, yuzhong):
    doc = created(client, yuzhong, listings=[listing(checked_at="2025-06-30T02:00Z")])
    assert doc["listings"][0]["checked_at"] == "2025-06-30T10:00:00+08:00"


def upload(client, headers, rows, *, name="stations.csv", header=None):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        header or ["编号", "名称", "经度", "纬度", "开放时间", "联系电话", "amap_checked_at"]
    )
    w.writerows(rows)
    return client.post(
        "/v1/uploads",
        headers=headers,
        files={"file": (name, out.getvalue().encode())},
        data={"crs": "wgs84"},
    )


def upload_row(ext, **kw):
    row = {
        "ext": ext,
        "name": f"驿站{ext}",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "周一至周五 9:00-18:00",
        "phone": "023-6388 8888转123",
        "checked": "2025-06-30 10:00",
    }
    row.update(kw)
    return list(row.values())


def rejected(report) -> dict[int, dict[str, str]]:
    return {
        r["row"]: {p["field"]: p["code"] for p in r["problems"]}
        for r in report["rows"]
        if r["action"] == "rejected"
    }


def test_an_upload_rejects_the_rows_with_bad_times_and_text_and_keeps_the_others(
    client, store, yuzhong
):
    r = upload(
        client,
        yuzhong,
        [
            upload_row("U1"),
            upload_row("U2", checked="0001-01-01T00:00+14:00"),
            upload_row("U3\x00", name="驿站U3"),
            upload_row("U4", name="驿站\u202e站驿"),
            upload_row("U5", phone="call me"),
            upload_row("U6", phone="13800138000、023-63888888"),
            upload_row("U7", lon="106.5\x00"),
        ],
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["status"] == "dry_run"
    assert rejected(report) == {
        3: {"amap_checked_at": "time_out_of_range"},
        4: {"external_id": "control_character"},
        5: {"name": "control_character"},
        6: {"contact_phone": "invalid_phone"},
        8: {"lon": "invalid_number"},
    }
    assert report["counts"]["create"] == 2
    # The refused NUL is reported written out, and never stored (PostgreSQL refuses it).
    nul_row = next(row for row in report["rows"] if row["row"] == 4)
    assert nul_row["external_id"] == "U3\\u0000"
    again = client.get(f"/v1/uploads/{report['id']}", headers=yuzhong).json()
    assert rejected(again) == rejected(report)


def test_an_upload_with_a_control_character_in_a_header_is_stored_written_out(
    client, store, yuzhong
):
    header = ["编号", "名称", "经度", "纬度", "开放时间", "联系电话", "备注\x00"]
    r = upload(client, yuzhong, [upload_row("U1")], header=header)
    assert r.status_code == 201, r.text
    assert r.json()["unknown_columns"] == ["备注\\u0000"]


# -- control characters, on both stores -----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("external_id", "A\x00B", id="nul-external-id"),
        pytest.param("name", "驿站\x00", id="nul-name"),
        pytest.param("name", "驿站\x1b[31m", id="escape-name"),
        pytest.param("address", "民族路\u202e1号", id="bidi-address"),
        pytest.param("host", "工\x85会", id="c1-host"),
        pytest.param("external_id", "A\nB", id="newline-external-id"),
    ],
)
def test_control_and_bidi_characters_are_refused_naming_the_field(
    client, store, yuzhong, field, value
):
    r = client.post("/v1/stations", json=body(**{field: value}), headers=yuzhong)
    assert fields(r) == {field: "control_character"}
    assert client.get("/v1/stations").json()["total"] == 0


def test_an_address_keeps_the_line_break_of_a_spreadsheet_cell(client, yuzhong):
    assert (
        created(client, yuzhong, address="民族路1号\n解放碑旁")["address"] == "民族路1号\n解放碑旁"
    )


def test_an_upload_file_name_with_a_nul_is_refused_alike_on_both_stores(client, yuzhong):
    # Written by hand: HTTP clients percent-encode a NUL in a file name, an attacker need not.
    data = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="crs"\r\n\r\nwgs84\r\n'
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="stations\x00.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        + "编号,名称,经度,纬度,开放时间\nU1,驿站,106.5772,29.557,24小时\n".encode()
        + b"\r\n--b--\r\n"
    )
    r = client.post(
        "/v1/uploads",
        headers={**yuzhong, "Content-Type": "multipart/form-data; boundary=b"},
        content=data,
    )
    assert fields(r) == {"file": "control_character"}


def test_a_demand_layer_name_with_a_nul_is_refused_alike_on_both_stores(client, admin):
    data = b"lon,lat,weight\n106.5772,29.557,1\n"
    r = client.put(
        "/v1/demand/a%00b", headers=admin, files={"file": ("d.csv", data)}, data={"crs": "wgs84"}
    )
    assert problem(r, 422, "invalid_parameter")
    assert "control" in r.json()["detail"]
    problem(client.get("/v1/demand/a%00b"), 422, "invalid_parameter")
    problem(client.get("/v1/coverage", params={"demand": "a\x00b"}), 422, "invalid_parameter")
    problem(client.delete("/v1/demand/a%00b", headers=admin), 422, "invalid_parameter")


@pytest.mark.parametrize("path", ["", "/commit", "/revert"])
def test_an_upload_id_with_a_nul_is_not_found_alike_on_both_stores(client, yuzhong, path):
    method = client.get if not path else client.post
    problem(method(f"/v1/uploads/a%00b{path}", headers=yuzhong), 404, "upload_not_found")


# -- PATCH with a crs alone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"crs": "bd09"}, id="crs-alone"),
        pytest.param({"crs": "bd09", "lon": 106.58}, id="crs-and-lon"),
    ],
)
def test_a_patch_with_a_crs_but_no_position_is_refused_and_moves_nothing(
    client, store, yuzhong, patch
):
    doc = created(client, yuzhong)
    r = client.patch(f"/v1/stations/{doc['id']}", json={**patch, "version": 1}, headers=yuzhong)
    assert fields(r) == {"crs": "crs_without_position"}
    after = client.get(f"/v1/stations/{doc['id']}").json()
    assert after["version"] == 1
    assert after["district_adcode"] == YUZHONG
    assert (after["lon"], after["lat"]) == (doc["lon"], doc["lat"])


# -- fields, types and shapes ----------------------------------------------------------------


def test_a_misspelt_field_is_refused_and_the_version_stays(client, store, yuzhong):
    doc = created(client, yuzhong)
    r = client.patch(
        f"/v1/stations/{doc['id']}", json={"nmae": "新", "version": 1}, headers=yuzhong
    )
    assert fields(r) == {"nmae": "unknown_field"}
    assert "name" in problem(r)["errors"][0]["message"]
    assert client.get(f"/v1/stations/{doc['id']}").json()["version"] == 1
    r = client.post("/v1/stations", json=body(external_id="V2", adress="民族路"), headers=yuzhong)
    assert fields(r) == {"adress": "unknown_field"}


def test_derived_fields_are_refused_as_read_only(client, yuzhong):
    doc = created(client, yuzhong)
    r = client.patch(
        f"/v1/stations/{doc['id']}",
        json={"district_adcode": "500105", "version": 1},
        headers=yuzhong,
    )
    assert fields(r) == {"district_adcode": "read_only_field"}
    r = client.patch(
        f"/v1/stations/{doc['id']}",
        json={"listings": [listing(colour="red")], "version": 1},
        headers=yuzhong,
    )
    assert fields(r) == {"listings[0].colour": "unknown_field"}


@pytest.mark.parametrize("value", [{"zh": "驿站"}, ["驿站"], True], ids=["object", "list", "bool"])
@pytest.mark.parametrize("field", ["name", "external_id", "host"])
def test_text_given_as_an_object_list_or_boolean_is_refused(client, store, yuzhong, field, value):
    r = client.post("/v1/stations", json=body(**{field: value}), headers=yuzhong)
    assert fields(r) == {field: "not_text"}
    assert client.get("/v1/stations").json()["total"] == 0


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param({"amenities": {"hot_water": True}}, {"amenities": "not_a_list"}, id="object"),
        pytest.param({"entry_methods": True}, {"entry_methods": "not_a_list"}, id="bool"),
        pytest.param({"lon": True}, {"lon": "invalid_number"}, id="bool-lon"),
        pytest.param({"lat": [29.5]}, {"lat": "invalid_number"}, id="list-lat"),
    ],
)
def test_lists_and_numbers_of_the_wrong_shape_are_refused(client, yuzhong, patch, expected):
    r = client.post("/v1/stations", json=body(**patch), headers=yuzhong)
    assert fields(r) == expected


def test_a_numeric_code_is_still_taken_as_text(client, yuzhong):
    assert created(client, yuzhong, external_id=1001)["external_id"] == "1001"


@pytest.mark.parametrize(
    ("listings", "expected"),
    [
        pytest.param({"provider": "amap", "listed": True}, {"listings": "not_a_list"}, id="object"),
        pytest.param(["amap"], {"listings[0]": "not_an_object"}, id="list-of-text"),
        pytest.param(
            [listing(listed_lon=1e308, listed_lat=29.5)], {"amap_lon": "outside_china"}, id="1e308"
        ),
        pytest.param(
            [listing(listed_lon=2.35, listed_lat=48.85)], {"amap_lon": "outside_china"}, id="paris"
        ),
        pytest.param(
            [listing(listed_lon=29.55, listed_lat=106.58)],
            {"amap_lon": "latlon_swapped"},
            id="swapped",
        ),
        pytest.param([listing(poi_id="B" * 65)], {"amap_poi_id": "too_long"}, id="long-poi"),
    ],
)
def test_bad_listings_are_refused_not_dropped(client, store, yuzhong, listings, expected):
    r = client.post("/v1/stations", json=body(listings=listings), headers=yuzhong)
    assert fields(r) == expected


def test_an_external_id_has_a_length_limit(client, yuzhong):
    r = client.post("/v1/stations", json=body(external_id="X" * 65), headers=yuzhong)
    assert fields(r) == {"external_id": "too_long"}
    assert created(client, yuzhong, external_id="X" * 64)["external_id"] == "X" * 64


@pytest.mark.parametrize(
    "phone",
    [
        "13800138000",
        "+86 138 0013 8000",
        "023-63888888",
        "(023) 6388 8888",
        "023-6388 8888转123",
        "023-63888888 分机 8",
        "400-820-8820",
        "12351",
        "63888888",
        "13800138000、023-63888888",
        "023-63888888-8001",
        "１３８００１３８０００",
        "（023）63888888",
    ],
)
def test_chinese_telephone_numbers_as_clerks_write_them_are_accepted(client, yuzhong, phone):
    assert created(client, yuzhong, contact_phone=phone)["contact_phone"] == phone


@pytest.mark.parametrize("none", ["无", "暂无", "-"])
def test_a_clerks_no_telephone_is_kept_as_none(client, yuzhong, none):
    assert created(client, yuzhong, contact_phone=none)["contact_phone"] == ""


@pytest.mark.parametrize(
    "phone",
    [
        "call me",
        "1380013800",
        "023-6388888a",
        "tel:13800138000",
        "++++",
        "138001380001",
        "13800138000-12",
    ],
)
def test_garbage_telephone_numbers_are_refused(client, yuzhong, phone):
    r = client.post("/v1/stations", json=body(contact_phone=phone), headers=yuzhong)
    assert fields(r) == {"contact_phone": "invalid_phone"}
    assert "13800138000" in problem(r)["errors"][0]["message"]


@pytest.mark.parametrize("version", [4.5, 1.5, True, "1.0", [1], -1])
def test_a_version_that_is_not_a_whole_number_is_refused(client, yuzhong, version):
    doc = created(client, yuzhong)
    r = client.patch(
        f"/v1/stations/{doc['id']}", json={"name": "新", "version": version}, headers=yuzhong
    )
    assert problem(r, 422, "invalid_parameter")["errors"][0]["field"] == "version"
    assert client.get(f"/v1/stations/{doc['id']}").json()["version"] == 1


def test_several_file_parts_are_refused_naming_file(client, yuzhong):
    good = "编号,名称,经度,纬度,开放时间\nU1,驿站,106.5772,29.557,24小时\n".encode()
    r = client.post(
        "/v1/uploads",
        headers=yuzhong,
        files=[("file", ("a.csv", good)), ("file", ("b.csv", good))],
        data={"crs": "wgs84"},
    )
    assert problem(r, 422, "invalid_parameter")["errors"][0]["field"] == "file"


def test_several_file_parts_in_a_demand_layer_are_refused_naming_file(client, admin):
    data = b"lon,lat,weight\n106.5772,29.557,1\n"
    r = client.put(
        "/v1/demand/riders",
        headers=admin,
        files=[("file", ("a.csv", data)), ("file", ("b.csv", data))],
        data={"crs": "wgs84"},
    )
    assert problem(r, 422, "invalid_parameter")["errors"][0]["field"] == "file"
    assert client.get("/v1/demand").json()["layers"] == []


def test_a_station_stored_before_a_rule_can_still_be_patched(client, store, yuzhong):
    """A telephone, a name and hours saved before today's rules: a PATCH of the amenities
    was refused (422 on four fields the clerk did not touch). Untouched stored fields are
    kept as they were, with a warning each; a field the patch sends is checked."""
    from dataclasses import replace

    from stations.domain.changes import Update

    created = client.post("/v1/stations", json=body(), headers=yuzhong).json()
    url = f"/v1/stations/{created['id']}"
    stored = store.get(created["id"])
    legacy = replace(
        stored, contact_phone="张主任 6388", name="民族路\x07驿站", hours_text="不定时"
    )
    store.apply([Update(legacy, expected_version=stored.version)], actor="before the rules")
    version = store.get(created["id"]).version

    r = client.patch(url, json={"amenities": ["wifi"], "version": version}, headers=yuzhong)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["amenities"] == ["wifi"]
    after = store.get(created["id"])
    assert (after.contact_phone, after.name, after.hours_text, after.hours) == (
        "张主任 6388",
        "民族路\x07驿站",
        "不定时",
        stored.hours,
    )
    assert {w["field"]: w["code"] for w in doc["warnings"]} == {
        "contact_phone": "invalid_phone",
        "name": "control_character",
        "hours": "hours_unparseable",
    }
    assert all("已保留原样" in w["message"] for w in doc["warnings"])

    # The field a patch sends is held to the rules, and only its own problem is listed.
    r = client.patch(url, json={"contact_phone": "abc", "version": after.version}, headers=yuzhong)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["contact_phone"]
    r = client.patch(
        url, json={"contact_phone": "023-63888888", "version": after.version}, headers=yuzhong
    )
    assert r.status_code == 200, r.text
    assert store.get(created["id"]).contact_phone == "023-63888888"
    assert {w["field"] for w in r.json()["warnings"]} == {"name", "hours"}
