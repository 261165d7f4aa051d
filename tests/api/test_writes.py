"""Writes and uploads as unions make them: tokens, roles, reports, commit and revert."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from geodata.crs import from_wgs84
from geodata.hours import TZ
from tests.api.clients import api_client, make_app, new_bearer
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station, point_beyond_border
from tests.stores import stored_text, upload_states

YUZHONG, JIANGBEI = "500103", "500105"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


token = new_bearer


@pytest.fixture
def yuzhong(store):
    return token(store, "district", YUZHONG, "渝中区总工会")[0]


@pytest.fixture
def jiangbei(store):
    return token(store, "district", JIANGBEI, "江北区总工会")[0]


@pytest.fixture
def admin(store):
    return token(store, "admin", name="市总工会")[0]


def body(**kw):
    doc = {
        "external_id": "W1",
        "name": "民族路工会驿站",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "每天 8:00-20:00",
        "amenities": ["hot_water"],
    }
    doc.update(kw)
    return doc


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == f"/problems/{code}"


# -- authentication ------------------------------------------------------------------------


def test_missing_wrong_and_revoked_tokens_get_401(client, store):
    r = client.post("/v1/stations", json=body())
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_problem(
        client.post("/v1/stations", json=body(), headers={"Authorization": "Bearer yz_abc_def"}),
        401,
        "unauthorized",
    )
    headers, record = token(store, "district", YUZHONG)
    wrong = {"Authorization": headers["Authorization"][:-3] + "xyz"}
    assert_problem(client.post("/v1/stations", json=body(), headers=wrong), 401, "unauthorized")
    assert client.post("/v1/stations", json=body(), headers=headers).status_code == 201
    store.revoke_token(record.id, datetime.now(TZ))
    assert_problem(
        client.post("/v1/stations", json=body(external_id="W2"), headers=headers),
        401,
        "unauthorized",
    )


def test_failed_authentications_are_rate_limited(store, districts, db_path):
    app = make_app(store, districts, db_path, auth_failures_per_minute=3)
    good, _ = token(store, "admin", name="city")
    with TestClient(app) as c:
        for _ in range(3):
            assert (
                c.post(
                    "/v1/stations", json=body(), headers={"Authorization": "Bearer yz_a_b"}
                ).status_code
                == 401
            )
        r = c.post("/v1/stations", json=body(), headers={"Authorization": "Bearer yz_a_b"})
        assert_problem(r, 429, "too_many_requests")
        assert int(r.headers["retry-after"]) > 0
        # A valid token is not held back by others' failures from the address.
        assert c.post("/v1/stations", json=body(), headers=good).status_code == 201


def test_tokens_are_stored_hashed_and_never_logged(client, store, caplog, db_path):
    caplog.set_level(logging.DEBUG)
    headers, record = token(store, "district", YUZHONG)
    secret = headers["Authorization"].split("_", 2)[2]
    client.post("/v1/stations", json=body(), headers=headers)
    client.post("/v1/stations", json=body(), headers={"Authorization": "Bearer yz_x_" + secret})
    assert secret not in caplog.text
    assert secret not in stored_text(store)
    assert record.secret_sha256 != secret


# -- roles ---------------------------------------------------------------------------------


def test_district_union_writes_only_its_own_stations(client, store, districts, yuzhong, jiangbei):
    r = client.post("/v1/stations", json=body(), headers=yuzhong)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["owner"] == f"district:{YUZHONG}"
    sid = created["id"]
    etag = r.headers["etag"]
    # Another district union can neither change nor delete it.
    assert_problem(
        client.patch(f"/v1/stations/{sid}", json={"name": "x", "version": 1}, headers=jiangbei),
        403,
        "forbidden",
    )
    assert_problem(
        client.delete(f"/v1/stations/{sid}", headers={**jiangbei, "If-Match": etag}),
        403,
        "forbidden",
    )
    # Nor create one in someone else's name, nor outside its own district.
    assert_problem(
        client.post("/v1/stations", json=body(owner=f"district:{YUZHONG}"), headers=jiangbei),
        403,
        "forbidden",
    )
    r = client.post("/v1/stations", json=body(external_id="W9"), headers=jiangbei)
    assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["code"] == "outside_own_district"
    assert store.get(sid).name == "民族路工会驿站"


def test_industry_union_may_place_stations_anywhere_but_only_its_own(client, store, admin):
    transport, _ = token(store, "industry", "transport")
    r = client.post(
        "/v1/stations", json=body(lon=GUANYINQIAO[0], lat=GUANYINQIAO[1]), headers=transport
    )
    assert r.status_code == 201
    assert r.json()["owner"] == "industry:transport"
    other = client.post("/v1/stations", json=body(external_id="Y"), headers=admin).json()
    assert_problem(
        client.patch(
            f"/v1/stations/{other['id']}", json={"name": "z", "version": 1}, headers=transport
        ),
        403,
        "forbidden",
    )


def test_patch_needs_the_version_and_refuses_stale_writes(client, yuzhong):
    created = client.post("/v1/stations", json=body(), headers=yuzhong).json()
    url = f"/v1/stations/{created['id']}"
    assert_problem(
        client.patch(url, json={"name": "新"}, headers=yuzhong), 428, "precondition_required"
    )
    r = client.patch(url, json={"hours": "24小时"}, headers={**yuzhong, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["hours"] == "24/7"
    assert r.json()["version"] == 2
    assert r.json()["lon"] == pytest.approx(JIEFANGBEI[0])
    assert_problem(
        client.patch(url, json={"name": "旧", "version": 1}, headers=yuzhong), 409, "stale_write"
    )
    assert client.get(url).json()["name"] == "民族路工会驿站"


def test_patch_in_gcj02_moves_the_station_exactly(client, yuzhong):
    created = client.post("/v1/stations", json=body(), headers=yuzhong).json()
    glon, glat = from_wgs84(JIEFANGBEI[0] + 0.001, JIEFANGBEI[1], crs="gcj02")
    r = client.patch(
        f"/v1/stations/{created['id']}",
        json={"lon": glon, "lat": glat, "crs": "gcj02", "version": 1},
        headers=yuzhong,
    )
    assert r.status_code == 200, r.text
    assert r.json()["lon"] == pytest.approx(JIEFANGBEI[0] + 0.001, abs=1e-8)


def test_delete_with_version(client, store, yuzhong):
    created = client.post("/v1/stations", json=body(), headers=yuzhong).json()
    url = f"/v1/stations/{created['id']}"
    assert_problem(client.delete(url, headers=yuzhong), 428, "precondition_required")
    assert client.delete(url + "?version=1", headers=yuzhong).status_code == 204
    assert_problem(client.get(url), 404, "station_not_found")
    assert store.audit(station_id=created["id"])[-1].action == "delete"


# -- uploads -------------------------------------------------------------------------------


HEADER = ["编号", "名称", "地址", "经度", "纬度", "开放时间", "设施", "24小时", "进入方式"]


def csv_bytes(rows, encoding="gbk") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADER)
    w.writerows(rows)
    return out.getvalue().encode(encoding)


def row(
    ext,
    name=None,
    lon=None,
    lat=None,
    hours="周一至周五 9:00-18:00",
    amen="热水",
    h24="否",
    entry="",
):
    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    return [
        ext,
        name or f"驿站{ext}",
        "民族路",
        glon if lon is None else lon,
        glat if lat is None else lat,
        hours,
        amen,
        h24,
        entry,
    ]


def upload(client, headers, data: bytes, name="stations.csv", **form):
    form.setdefault("crs", "gcj02")
    return client.post(
        "/v1/uploads",
        headers=headers,
        files={"file": (name, data)},
        data={k: str(v).lower() for k, v in form.items()},
    )


def problems_by_row(report):
    return {r["row"]: r["problems"] for r in report["rows"] if r["action"] == "rejected"}


def test_upload_dry_run_reports_every_rejection_reason_in_chinese(client, store, yuzhong):
    gj = from_wgs84(*GUANYINQIAO, crs="gcj02")
    data = csv_bytes(
        [
            row("A1", lon=2.35, lat=48.85),  # 2: outside China
            row("A2", lon=29.55, lat=106.58),  # 3: swapped
            row("A3", lon=gj[0], lat=gj[1]),  # 4: in 江北, not 渝中
            row("A4", hours="看情况"),  # 5
            row("A5", amen="热水、按摩椅"),  # 6
            row("", name="无编号"),  # 7: no code: given one (500103-0001)
            row("A7"),  # 8
            row("A7", name="重复"),  # 9: duplicate code in the file
        ]
    )
    r = upload(client, yuzhong, data)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["status"] == "dry_run"
    assert report["counts"]["rejected"] == 6
    assert report["counts"]["create"] == 2
    given = next(r for r in report["rows"] if r["row"] == 7)
    assert (given["action"], given["external_id"]) == ("create", "500103-0001")
    assert "编号 500103-0001" in given["warnings"][0]["message"]
    got = problems_by_row(report)
    code = {n: {p["code"] for p in ps} for n, ps in got.items()}
    assert code == {
        2: {"outside_china"},
        3: {"latlon_swapped"},
        4: {"outside_own_district"},
        5: {"hours_unparseable"},
        6: {"unknown_amenity"},
        9: {"duplicate_in_file"},
    }
    assert "江北区" in got[4][0]["message"]
    assert "“看情况”" in got[5][0]["message"]
    assert got[5][0]["column"] == "开放时间"
    assert got[5][0]["value"] == "看情况"
    assert "按摩椅" in got[6][0]["message"]
    assert "微波炉(microwave)" in got[6][0]["message"]
    assert "填反" in got[3][0]["message"]
    assert store.count() == 0  # a dry run changes nothing
    assert_problem(
        client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong), 409, "upload_state"
    )


def test_upload_flags_likely_duplicates_without_rejecting(client, store, districts, yuzhong):
    store.create(make_station(districts, external_id="OLD", name="老驿站"), actor="t")
    glon, glat = from_wgs84(JIEFANGBEI[0] + 0.0001, JIEFANGBEI[1], crs="gcj02")  # ~10 m away
    far = from_wgs84(JIEFANGBEI[0] - 0.004, JIEFANGBEI[1] + 0.004, crs="gcj02")
    data = csv_bytes(
        [row("N1", lon=glon, lat=glat), row("N2", name="老驿站", lon=far[0], lat=far[1])]
    )
    report = upload(client, yuzhong, data).json()
    assert report["counts"]["create"] == 2
    warnings = {r["external_id"]: {w["code"] for w in r["warnings"]} for r in report["rows"]}
    assert "possible_duplicate_nearby" in warnings["N1"]
    assert "possible_duplicate_name" in warnings["N2"]


def test_upload_report_says_how_unsaid_holidays_were_read(client, yuzhong):
    far = from_wgs84(JIEFANGBEI[0] - 0.004, JIEFANGBEI[1] + 0.004, crs="gcj02")
    data = csv_bytes(
        [
            row("H1", hours="周一至周五 9:00-18:00"),
            row("H2", hours="周一至周五 9:00-18:00，节假日照常", lon=far[0], lat=far[1]),
        ]
    )
    report = upload(client, yuzhong, data).json()
    assert report["counts"]["create"] == 2
    notes = {
        r["external_id"]: [w for w in r["warnings"] if w["code"] == "hours_holiday_reading"]
        for r in report["rows"]
    }
    (note,) = notes["H1"]
    assert "按工作日理解" in note["message"]
    assert "节假日照常" in note["message"]  # how to say otherwise
    assert "Mo-Fr 09:00-18:00; PH off" in note["message"]
    assert notes["H2"] == []


def test_commit_then_revert_puts_back_exactly_what_was_there(client, store, yuzhong):
    first = upload(client, yuzhong, csv_bytes([row("K1", name="原名")]), dry_run=False).json()
    assert first["status"] == "committed"
    (kept,) = store.iter_all()
    before = {s.id: s for s in store.iter_all()}
    data = csv_bytes([row("K1", name="新名"), row("K2")])
    report = upload(client, yuzhong, data).json()
    assert report["counts"] == {"create": 1, "update": 1, "close": 0, "unchanged": 0, "rejected": 0}
    changed = next(r for r in report["rows"] if r["action"] == "update")
    assert changed["changed"] == ["name"]
    where = {"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}
    (old,) = client.get("/v1/stations/nearest", params=where).json()["results"]
    assert old["name"] == "原名"  # and the server now keeps its serialised record
    r = client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong)
    assert r.status_code == 200, r.text
    assert store.get(kept.id).name == "新名"
    assert store.count() == 2
    near = client.get("/v1/stations/nearest", params=where).json()
    assert {x["name"] for x in near["results"]} == {"新名", "驿站K2"}
    renamed = next(x for x in near["results"] if x["id"] == kept.id)
    assert quote("新名") in renamed["navigation"]["amap"]
    assert quote("原名") not in renamed["navigation"]["baidu"]
    assert_problem(
        client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong), 409, "upload_state"
    )
    r = client.post(f"/v1/uploads/{report['id']}/revert", headers=yuzhong)
    assert r.status_code == 200, r.text
    after = {s.id: s for s in store.iter_all()}
    assert after.keys() == before.keys()
    assert after[kept.id].with_changes(version=1, updated_at=None) == before[kept.id].with_changes(
        updated_at=None
    )
    assert client.get(f"/v1/uploads/{report['id']}", headers=yuzhong).json()["status"] == "reverted"
    audit = store.batches(limit=1)[0]
    assert audit.kind == "revert"
    assert report["id"] in audit.note
    assert "渝中区总工会" in audit.actor


def test_a_revert_after_one_of_its_stations_was_deleted_is_refused_as_changed_since(
    client, store, yuzhong
):
    """A station the upload made, deleted by someone since: the revert is refused whole as
    a change since (409 stale_write), as a newer version is; not 404, nothing put back."""
    far = from_wgs84(JIEFANGBEI[0] - 0.004, JIEFANGBEI[1] + 0.004, crs="gcj02")
    data = csv_bytes([row("D1"), row("D2", lon=far[0], lat=far[1])])
    report = upload(client, yuzhong, data, dry_run=False).json()
    assert report["status"] == "committed"
    gone, kept = sorted(store.iter_all(), key=lambda s: s.external_id)
    r = client.delete(f"/v1/stations/{gone.id}", headers={**yuzhong, "If-Match": '"1"'})
    assert r.status_code == 204, r.text
    r = client.post(f"/v1/uploads/{report['id']}/revert", headers=yuzhong)
    assert_problem(r, 409, "stale_write")
    assert "deleted" in r.json()["detail"]
    assert [s.id for s in store.iter_all()] == [kept.id]  # the revert changed nothing
    assert client.get(f"/v1/uploads/{report['id']}", headers=yuzhong).json()["status"] == (
        "committed"
    )


def test_other_unions_cannot_see_commit_or_revert_an_upload(client, yuzhong, jiangbei):
    report = upload(client, yuzhong, csv_bytes([row("Q1")])).json()
    for method, path in [("get", ""), ("post", "/commit"), ("post", "/revert")]:
        r = getattr(client, method)(f"/v1/uploads/{report['id']}{path}", headers=jiangbei)
        assert_problem(r, 403, "forbidden")
    assert_problem(client.get(f"/v1/uploads/{report['id']}"), 401, "unauthorized")


def test_full_list_closes_the_unions_missing_stations_only(client, store, districts, yuzhong):
    mine = store.create(make_station(districts, external_id="M1"), actor="t")
    theirs = store.create(make_station(districts, external_id="T1", owner="industry:x"), actor="t")
    report = upload(client, yuzhong, csv_bytes([row("M2")]), full_list=True).json()
    assert report["counts"]["close"] == 1
    closed = [r for r in report["rows"] if r["action"] == "close"]
    assert closed[0]["external_id"] == "M1"
    partial = upload(client, yuzhong, csv_bytes([row("M3")])).json()
    assert partial["counts"]["close"] == 0
    # Closing the union's only station is more than the 20 % a full list closes unasked.
    assert report["closures"]["needs_confirmation"] is True
    url = f"/v1/uploads/{report['id']}/commit"
    refused = client.post(url, headers=yuzhong)
    assert_problem(refused, 409, "closures_unconfirmed")
    assert refused.json()["would_close"] == 1
    assert store.get(mine.id).status.value == "active"
    assert client.post(url + "?confirm_closures=1", headers=yuzhong).status_code == 200
    assert store.get(mine.id).status.value == "closed"
    assert store.get(theirs.id).status.value == "active"


def test_upload_with_dry_run_false_commits_at_once(client, store, yuzhong):
    r = upload(client, yuzhong, csv_bytes([row("D1")], encoding="utf-8-sig"), dry_run=False)
    assert r.json()["status"] == "committed"
    assert store.count() == 1


def test_upload_needs_a_crs_and_a_known_file_type(client, store, yuzhong):
    r = client.post("/v1/uploads", headers=yuzhong, files={"file": ("s.csv", csv_bytes([]))})
    assert_problem(r, 422, "crs_required")
    for hint in ("高德", "腾讯", "gcj02", "百度", "bd09", "天地图", "wgs84", "crs="):
        assert hint in r.json()["detail"]
    assert upload_states(store) == {}
    assert_problem(upload(client, yuzhong, csv_bytes([]), crs="utm"), 422, "bad_crs")
    assert_problem(upload(client, yuzhong, b"x", name="s.pdf"), 415, "unsupported_file")
    assert_problem(upload(client, yuzhong, b"PK\x03\x04broken", name="s.xlsx"), 422, "bad_file")


def test_a_defect_while_planning_is_not_reported_as_a_bad_file(client, store, yuzhong, monkeypatch):
    # Only what the file readers raise is the file's fault (422 bad_file); a KeyError from
    # our own code is a defect: logged and answered 500, never blamed on the union's file.
    def broken(*args, **kwargs):
        raise KeyError("a defect")

    monkeypatch.setattr("stations.services.uploads.build_station", broken)
    monkeypatch.setattr("stations.services.uploads.plain_station", broken)  # the fast reading
    monkeypatch.setattr("stations.services.uploads.plain_records", broken)  # a chunk of plain rows
    with pytest.raises(KeyError, match="a defect"):
        upload(client, yuzhong, csv_bytes([row("K1")]))
    assert upload_states(store) == {}


def test_large_uploads_are_refused_before_parsing(store, districts, db_path):
    app = make_app(store, districts, db_path, max_upload_bytes=1000)
    headers, _ = token(store, "admin", name="city")
    with TestClient(app) as c:
        r = upload(c, headers, csv_bytes([row(f"B{i}") for i in range(100)]))
        assert_problem(r, 413, "payload_too_large")
    assert store.count() == 0


def test_an_absurd_declared_length_is_refused_not_a_crash():
    # 5,000 digits: Python's int() refuses strings of over 4,300 digits. HTTP servers
    # reject such a header before the app; the middleware must not rely on that.
    import asyncio

    from api.limits import BodySizeLimit

    async def app(scope, receive, send):  # never reached
        raise AssertionError

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/uploads",
        "headers": [(b"content-length", b"9" * 5000)],
    }
    asyncio.run(BodySizeLimit(app, max_bytes=1000)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert "over 10¹⁸ bytes" in sent[1]["body"].decode()


def test_template_downloads_and_its_example_row_passes(client, yuzhong):
    r = client.get("/v1/uploads/template.xlsx")
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["驿站", "填写说明"]
    assert book["驿站"]["A1"].value == "编号"
    report = upload(client, yuzhong, r.content, name="template.xlsx").json()
    assert report["counts"]["rejected"] == 0, report["rows"]
    assert report["counts"]["create"] == 2  # a fixed station and a bus (流动驿站)


def test_a_district_union_cannot_upload_rows_of_another_union(client, store, yuzhong):
    header = "编号,所属工会,名称,经度,纬度,开放时间\n"
    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    data = (header + f"X1,industry:transport,别人的驿站,{glon},{glat},全天\n").encode("gbk")
    report = upload(client, yuzhong, data).json()
    (bad,) = [r for r in report["rows"] if r["action"] == "rejected"]
    assert bad["problems"][0]["code"] == "not_your_station"
    assert bad["problems"][0]["column"] == "所属工会"
    assert store.count() == 0


# -- files refused as a whole leave no upload behind -----------------------------------------


def test_spreadsheet_bombs_are_refused_in_chinese_and_leave_no_upload(
    store, districts, db_path, yuzhong, tmp_path
):
    from tests.builders import xlsx_one_huge_cell, xlsx_wide

    app = make_app(store, districts, db_path, upload_max_unpacked_bytes=64 << 20)
    client = TestClient(app)
    huge = xlsx_one_huge_cell(tmp_path / "huge.xlsx", cell_bytes=100 * 10**6).read_bytes()
    r = upload(client, yuzhong, huge, name="huge.xlsx")
    assert_problem(r, 413, "spreadsheet_too_large")
    assert "解压后超过 64 MiB" in r.json()["detail"]
    cell = xlsx_one_huge_cell(tmp_path / "cell.xlsx", cell_bytes=1 << 20).read_bytes()
    assert_problem(upload(client, yuzhong, cell, name="cell.xlsx"), 422, "cell_too_long")
    wide = xlsx_wide(tmp_path / "wide.xlsx", rows=100, columns=16_384).read_bytes()
    r = upload(client, yuzhong, wide, name="wide.xlsx")
    assert_problem(r, 422, "too_many_columns")
    assert "列" in r.json()["detail"]
    assert upload_states(store) == {}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson"])
def test_a_file_of_too_many_rows_is_refused_before_planning_and_leaves_no_upload(
    store, districts, db_path, yuzhong, tmp_path, fmt
):
    """20 MB of CSV held 10 million rows of "x": planned at 0.25 ms and 600 bytes stored a
    row, one upload held a worker for 40 minutes and wrote 6 GB. Now refused unplanned."""
    import json
    import time

    from openpyxl import Workbook

    app = make_app(store, districts, db_path, upload_max_rows=1000)
    client = TestClient(app)
    if fmt == "csv":
        data = ("编号,名称,经度,纬度\n" + "x\n" * 50_000).encode()
    elif fmt == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet("驿站")
        sheet.append(["编号", "名称"])
        for i in range(1500):
            sheet.append([f"A{i}"])
        book.save(tmp_path / "rows.xlsx")
        data = (tmp_path / "rows.xlsx").read_bytes()
    else:
        feature = {"type": "Feature", "geometry": None, "properties": {}}
        data = json.dumps({"type": "FeatureCollection", "features": [feature] * 1001}).encode()
    start = time.perf_counter()
    r = upload(client, yuzhong, data, name=f"rows.{fmt}")
    assert time.perf_counter() - start < 2
    assert_problem(r, 413, "too_many_rows")
    assert "超过 1,000 行" in r.json()["detail"]
    assert upload_states(store) == {}
    # 1,000 rows are still planned (and rejected row by row).
    ok = ("编号,名称,经度,纬度\n" + "x\n" * 1000).encode()
    assert upload(client, yuzhong, ok, name="ok.csv").json()["counts"]["rejected"] == 1000


@pytest.mark.parametrize(
    ("name", "data", "status", "said"),
    [
        ("stations.xls", b"\xd0\xcf\x11\xe0", 415, "请上传 .csv、.xlsx 或 .geojson"),
        ("stations.geojson", b'{"type": "Feature"}', 422, "不是 GeoJSON 要素集"),
        ("stations.geojson", b"[1, 2]", 422, "不是 GeoJSON 要素集"),
    ],
)
def test_a_file_refused_as_a_whole_is_said_in_chinese(
    client, store, yuzhong, name, data, status, said
):
    """A clerk's upload of an .xls or of a GeoJSON that is not a FeatureCollection was
    answered in English ("unknown file type", "not a GeoJSON FeatureCollection")."""
    r = upload(client, yuzhong, data, name=name)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert said in r.json()["detail"]
    assert upload_states(store) == {}


MALFORMED_SHEETS = {
    # openpyxl pads the rows up to a row number: this 4 KB file held a worker without end.
    "row_999999999999": b'<row r="999999999999"><c r="A999999999999"><v>1</v></c></row>',
    "row_not_a_number": b'<row r="x"><c><v>1</v></c></row>',
    # A shared string that is not there: IndexError, a 500 from the upload.
    "shared_string_999": b'<row r="2"><c r="A2" t="s"><v>999</v></c></row>',
    "number_not_a_number": b'<row r="2"><c r="A2" t="n"><v>abc</v></c></row>',
}


@pytest.mark.parametrize("cells", MALFORMED_SHEETS.values(), ids=list(MALFORMED_SHEETS))
def test_a_malformed_sheet_is_a_quick_422_and_leaves_no_upload(
    client, store, yuzhong, tmp_path, cells
):
    import threading

    from tests.builders import xlsx_sheet

    data = xlsx_sheet(tmp_path / "bad.xlsx", cells).read_bytes()
    answer: list = []
    worker = threading.Thread(
        target=lambda: answer.append(upload(client, yuzhong, data, name="bad.xlsx")),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=10)
    assert answer, "the upload did not answer within 10 s"
    r = answer[0]
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "/problems/bad_file"
    assert "行" in r.json()["detail"]
    assert upload_states(store) == {}


def _feature(geometry, properties):
    return {"type": "Feature", "geometry": geometry, "properties": properties}


_PT = {"type": "Point", "coordinates": list(JIEFANGBEI)}
MALFORMED_GEOJSON = {
    "features_hold_numbers": [1, 2],
    "properties_a_list": [_feature(_PT, ["编号", "名称"])],
    "geometry_a_string": [_feature("POINT (106.5 29.5)", {"编号": "A"})],
    "coordinates_a_number": [_feature({"type": "Point", "coordinates": 106.5}, {"编号": "A"})],
}


@pytest.mark.parametrize("features", MALFORMED_GEOJSON.values(), ids=list(MALFORMED_GEOJSON.keys()))
def test_malformed_geojson_is_a_422_and_leaves_no_upload(client, store, yuzhong, features):
    import json

    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    r = upload(client, yuzhong, data, name="s.geojson")
    assert_problem(r, 422, "bad_file")
    assert "第 1 个要素" in r.json()["detail"]
    assert upload_states(store) == {}


def test_geojson_nested_100000_deep_is_a_422(client, store, yuzhong):
    data = b'{"type": "FeatureCollection", "features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = upload(client, yuzhong, data, name="deep.geojson")
    assert_problem(r, 422, "bad_file")
    assert "嵌套过深" in r.json()["detail"]
    assert upload_states(store) == {}


def test_a_csv_field_over_128_kib_is_a_422_and_leaves_no_upload(client, store, yuzhong):
    data = csv_bytes([row("C1"), row("C2", name="站" * 140_000)], encoding="utf-8")
    r = upload(client, yuzhong, data)
    assert_problem(r, 422, "cell_too_long")
    assert "第 3 行" in r.json()["detail"]
    assert upload_states(store) == {}


def test_geojson_needs_no_crs_it_is_wgs84(client, store, yuzhong):
    import json

    data = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [_feature(_PT, {"编号": "G1", "名称": "驿站", "开放时间": "全天"})],
        }
    ).encode()
    r = client.post("/v1/uploads", headers=yuzhong, files={"file": ("s.geojson", data)})
    assert r.status_code == 201, r.text
    assert r.json()["crs"] == "wgs84" and r.json()["counts"]["create"] == 1


# -- full lists that would close many stations -----------------------------------------------


def test_a_header_only_full_list_is_refused_unless_confirmed(client, store, districts, yuzhong):
    for i in range(5):
        store.create(make_station(districts, external_id=f"H{i}"), actor="t")
    r = upload(client, yuzhong, csv_bytes([]), full_list=True, dry_run=False)
    assert_problem(r, 409, "closures_unconfirmed")
    assert r.json()["would_close"] == 5 and r.json()["of_stations"] == 5
    assert "关闭本工会 5 个驿站" in r.json()["detail"]
    assert all(s.status.value == "active" for s in store.iter_all())
    report = client.get(r.headers["Location"], headers=yuzhong).json()
    assert report["status"] == "dry_run" and report["closures"]["would_close"] == 5
    confirmed = upload(
        client, yuzhong, csv_bytes([]), full_list=True, dry_run=False, confirm_closures=5
    )
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "committed"
    assert all(s.status.value == "closed" for s in store.iter_all())


def test_a_semicolon_separated_full_list_is_read_as_columns(client, store, districts, yuzhong):
    for i in range(5):
        store.create(make_station(districts, external_id=f"H{i}"), actor="t")
    out = io.StringIO()
    w = csv.writer(out, delimiter=";")
    w.writerow(HEADER)
    w.writerows([row(f"H{i}") for i in range(5)])
    report = upload(client, yuzhong, out.getvalue().encode("gbk"), full_list=True).json()
    assert report["counts"]["rejected"] == 0, report["rows"]
    assert report["counts"]["close"] == 0 and report["unknown_columns"] == []
    assert report["closures"]["needs_confirmation"] is False


# --- stations near a district border -----------------------------------------------------


def test_upload_row_just_across_the_border_is_the_union_s_own_with_a_warning(
    client, store, yuzhong, districts
):
    lon, lat = point_beyond_border(districts, YUZHONG, JIANGBEI, 150)  # in 江北, 150 m out
    glon, glat = from_wgs84(lon, lat, crs="gcj02")  # as the clerk copies it from Amap
    data = csv_bytes([row("B1", lon=glon, lat=glat)])
    report = upload(client, yuzhong, data).json()
    assert report["counts"]["rejected"] == 0 and report["counts"]["create"] == 1
    (only,) = report["rows"]
    (warning,) = [w for w in only["warnings"] if w["code"] == "near_district_border"]
    assert warning["message"].startswith("位置靠近区界")
    assert "江北区" in warning["message"] and "渝中区" in warning["message"]
    committed = upload(client, yuzhong, data, dry_run=False).json()
    assert committed["status"] == "committed"
    (stored,) = store.iter_all()
    assert stored.district_adcode == YUZHONG and str(stored.owner) == f"district:{YUZHONG}"


def test_upload_row_far_across_the_border_is_refused_naming_the_district(
    client, yuzhong, districts
):
    lon, lat = point_beyond_border(districts, YUZHONG, JIANGBEI, 900)
    glon, glat = from_wgs84(lon, lat, crs="gcj02")
    report = upload(client, yuzhong, csv_bytes([row("B2", lon=glon, lat=glat)])).json()
    (problem,) = problems_by_row(report)[2]
    assert problem["code"] == "outside_own_district"
    assert "江北区" in problem["message"]


def test_post_and_patch_near_the_border_are_accepted_with_a_warning(
    client, store, yuzhong, districts
):
    lon, lat = point_beyond_border(districts, YUZHONG, JIANGBEI, 150)
    r = client.post("/v1/stations", json=body(lon=lon, lat=lat), headers=yuzhong)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["district_adcode"] == YUZHONG
    assert [w["code"] for w in doc["warnings"]] == ["near_district_border"]
    assert doc["warnings"][0]["message"].startswith("位置靠近区界")
    sid = doc["id"]
    # A change that leaves the position alone warns of nothing.
    r = client.patch(f"/v1/stations/{sid}", json={"name": "新名", "version": 1}, headers=yuzhong)
    assert r.status_code == 200, r.text
    assert "warnings" not in r.json()
    # Moving it into its own district: no warning; back near the border: warned again.
    r = client.patch(
        f"/v1/stations/{sid}",
        json={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "version": 2},
        headers=yuzhong,
    )
    assert r.status_code == 200 and "warnings" not in r.json()
    r = client.patch(
        f"/v1/stations/{sid}", json={"lon": lon, "lat": lat, "version": 3}, headers=yuzhong
    )
    assert r.status_code == 200 and r.json()["warnings"][0]["code"] == "near_district_border"
    assert store.get(sid).district_adcode == YUZHONG


def test_border_tolerance_is_a_setting(store, districts, db_path):
    lon, lat = point_beyond_border(districts, YUZHONG, JIANGBEI, 150)
    with api_client(store, districts, db_path, border_tolerance_m=0) as strict:
        headers = token(store, "district", YUZHONG, "渝中区总工会")[0]
        r = strict.post("/v1/stations", json=body(lon=lon, lat=lat), headers=headers)
    assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["code"] == "outside_own_district"


def test_a_change_of_other_fields_keeps_a_position_accepted_before(store, districts, db_path):
    # Taken within the tolerance (or filed by an earlier boundary layer); the tolerance is
    # then narrowed. Renaming the station must not refuse a position nobody sent.
    lon, lat = point_beyond_border(districts, YUZHONG, JIANGBEI, 300)
    with api_client(store, districts, db_path, border_tolerance_m=400) as wide:
        headers = token(store, "district", YUZHONG, "渝中区总工会")[0]
        r = wide.post("/v1/stations", json=body(lon=lon, lat=lat), headers=headers)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
    with api_client(store, districts, db_path, border_tolerance_m=100) as narrow:
        r = narrow.patch(
            f"/v1/stations/{sid}", json={"name": "新名", "version": 1}, headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "新名" and r.json()["district_adcode"] == YUZHONG
        # Moving it there again is a new position: judged by today's tolerance.
        moved = point_beyond_border(districts, YUZHONG, JIANGBEI, 250)
        r = narrow.patch(
            f"/v1/stations/{sid}",
            json={"lon": moved[0], "lat": moved[1], "version": 2},
            headers=headers,
        )
    assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["code"] == "outside_own_district"
    assert store.get(sid).name == "新名"
