"""The clerk's stations in the console: the table, the form, live checks, conflicts, Excel."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from geodata.crs import from_wgs84
from stations.domain.model import Owner
from stations.domain.uploads import upload_crs
from stations.domain.validation import build_station
from stations.formats.io import read_rows
from stations.services.console_queries import blank_form, form_values
from stations.services.uploads import plan_upload
from tests.api.console.helpers import as_posted as _form
from tests.api.console.helpers import login, make_account, post
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station

XSS = "<img src=x onerror=alert(1)>"


def _yuzhong(store, districts, **kw):
    return store.create(make_station(districts, **kw), actor="test")


def _jiangbei(store, districts, **kw):
    station = make_station(
        districts,
        external_id="JB-1",
        owner="district:500105",
        name="观音桥工会驿站",
        lon=GUANYINQIAO[0],
        lat=GUANYINQIAO[1],
        **kw,
    )
    return store.create(station, actor="test")


def test_the_table_lists_only_the_unions_own_stations(console, store, districts):
    mine = _yuzhong(store, districts)
    theirs = _jiangbei(store, districts)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get("/console/stations")
    assert page.status_code == 200
    assert mine.name in page.text and f"/console/stations/{mine.id}" in page.text
    assert theirs.name not in page.text and f"/console/stations/{theirs.id}" not in page.text
    # Asking for the other union's stations by owner changes nothing for a district union.
    page = console.get("/console/stations?owner=district:500105")
    assert theirs.name not in page.text


def test_the_city_union_sees_every_union_and_filters_by_owner(console, store, districts):
    mine = _yuzhong(store, districts)
    theirs = _jiangbei(store, districts)
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    page = console.get("/console/stations")
    assert mine.name in page.text and theirs.name in page.text
    page = console.get("/console/stations?owner=district:500105")
    assert mine.name not in page.text and theirs.name in page.text


def test_search_filters_and_the_map_data(console, store, districts):
    a = _yuzhong(store, districts)
    b = _yuzhong(store, districts, external_id="YZ-2", name="较场口驿站", hours="24小时")
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get("/console/stations?q=较场口")
    assert b.name in page.text and f"/console/stations/{a.id}" not in page.text
    page = console.get("/console/stations?listing=none&status=active")
    assert a.name in page.text and b.name in page.text
    page = console.get("/console/stations?listing=amap_yes")
    assert "没有符合筛选的驿站" in page.text
    # The map's positions come drawn in the tiles' system, converted on the server.
    data = re.search(r'id="stations-data">(.*?)</script>', page.text, re.S)
    assert data is not None
    page = console.get("/console/stations")
    blob = re.search(r'id="stations-data">(.*?)</script>', page.text, re.S).group(1)
    gcj = from_wgs84(a.lon, a.lat, crs="gcj02")
    assert f"{round(float(gcj[0]), 7)}" in blob


def test_a_station_named_as_markup_shows_as_text(console, store, districts):
    station = _yuzhong(store, districts, name=XSS)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    for url in ("/console/stations", f"/console/stations/{station.id}"):
        text = console.get(url).text
        assert XSS not in text
        assert html.escape(XSS, quote=False) in text or "&lt;img" in text
    blob = re.search(r'id="stations-data">(.*?)</script>', console.get("/console/stations").text)
    assert blob is not None and "<img" not in blob.group(1)


def _new_station_form(**changes) -> dict:
    values = blank_form()
    values.update(
        name="两路口工会驿站",
        external_id="YZ-NEW",
        address="重庆市渝中区中山三路",
        hours="周一至周五 9:00-18:00",
        lon=str(round(float(from_wgs84(*JIEFANGBEI, crs="gcj02")[0]), 7)),
        lat=str(round(float(from_wgs84(*JIEFANGBEI, crs="gcj02")[1]), 7)),
        crs="gcj02",
        amenities=["hot_water", "toilet"],
        entry_methods=["staffed"],
        amap_listed=True,
        amap_poi_id="B0FFABC",
        amap_keyword_linked=True,
    )
    values.update(changes)
    return _form(values)


def test_create_via_the_form_stores_it_with_the_clerk_as_actor(console, store, districts):
    make_account(store, districts, code="500103", name="渝中区总工会")
    csrf = login(console, "yz500103")
    blank = console.get("/console/stations/new")
    assert blank.status_code == 200 and "新建驿站" in blank.text
    for label in ("WGS-84", "GCJ-02", "BD-09", "高德坐标（GCJ-02）", "饮用水", "扫码", "腾讯"):
        assert label in blank.text
    answer = post(
        console, "/console/stations", csrf, data=_new_station_form(), follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:2000]
    location = answer.headers["location"]
    assert location.endswith("?saved=1")
    station_id = int(location.split("/")[-1].split("?")[0])
    stored = store.get(station_id)
    assert stored.name == "两路口工会驿站" and str(stored.owner) == "district:500103"
    assert stored.amenities == ("hot_water", "toilet")
    assert stored.listing("amap").poi_id == "B0FFABC"
    assert abs(stored.lon - JIEFANGBEI[0]) < 1e-6 and abs(stored.lat - JIEFANGBEI[1]) < 1e-6
    (entry,) = store.audit(station_id=station_id)
    assert "(user yz500103)" in entry.actor
    page = console.get(location)
    assert "已保存" in page.text and "渝中区" in page.text


def test_form_problems_show_beside_the_fields_with_the_input_kept(console, store, districts):
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    form = _new_station_form(hours="不定时开放", contact_phone="12", name="保留的名字")
    answer = post(console, "/console/stations", csrf, data=form)
    assert answer.status_code == 422
    assert "保留的名字" in answer.text and "不定时开放" in answer.text
    assert "field-error" in answer.text and "开放时间" in answer.text
    assert store.count() == 0


def test_hours_endpoint_reads_working_days_and_refuses_vague_hours(console, store, districts):
    make_account(store, districts)
    login(console, "yz500103")
    good = console.get("/console/api/hours", params={"text": "周一至周五 9:00-18:00"}).json()
    assert good["ok"] and good["osm"].startswith("Mo-Fr 09:00-18:00")
    assert good["note"] and ("工作日" in good["note"] or "节假日" in good["note"])
    assert len(good["week"]) == 7 and any("09:00–18:00" in d["open"] for d in good["week"])
    assert "开放" in good["description"]
    bad = console.get("/console/api/hours", params={"text": "不定时开放"}).json()
    assert not bad["ok"] and "不定时开放" in bad["error"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in bad["error"])


def test_position_endpoint_round_trips_gcj02_within_a_micro_degree(console, store, districts):
    make_account(store, districts)
    login(console, "yz500103")
    gx, gy = (float(v) for v in from_wgs84(*JIEFANGBEI, crs="gcj02"))
    there = console.get("/console/api/position", params={"lon": gx, "lat": gy, "crs": "gcj02"})
    doc = there.json()
    assert doc["ok"] and doc["district"]["adcode"] == "500103"
    assert abs(doc["wgs84"]["lon"] - JIEFANGBEI[0]) < 1e-6
    assert abs(doc["wgs84"]["lat"] - JIEFANGBEI[1]) < 1e-6
    back = console.get(
        "/console/api/position",
        params={"lon": doc["wgs84"]["lon"], "lat": doc["wgs84"]["lat"], "crs": "wgs84"},
    ).json()
    assert abs(back["gcj02"]["lon"] - gx) < 1e-6 and abs(back["gcj02"]["lat"] - gy) < 1e-6
    outside = console.get("/console/api/position", params={"lon": 2.35, "lat": 48.85}).json()
    assert not outside["ok"] and "中国" in outside["error"]


def test_the_live_checks_need_a_session(console):
    answer = console.get("/console/api/hours?text=24小时", follow_redirects=False)
    assert answer.status_code == 303


def test_an_edit_conflict_is_refused_shown_and_then_applied_on_top(console, store, districts):
    station = _yuzhong(store, districts)
    make_account(store, districts, code="500103", username="clerk1")
    make_account(store, districts, code="500103", username="clerk2")
    csrf = login(console, "clerk1")
    page = console.get(f"/console/stations/{station.id}")
    assert 'name="base_version" value="1"' in page.text
    loaded = form_values(station)
    # Someone else, in another session, changes the address.
    other = TestClient(console.app)
    other_csrf = login(other, "clerk2")
    answer = post(
        other,
        f"/console/stations/{station.id}",
        other_csrf,
        data=_form(loaded, address="重庆市渝中区新华路 2 号", base_version="1"),
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:1500]
    # The first clerk saves the hours from the form loaded at version 1.
    mine = _form(loaded, hours="每天 8:00-20:00", base_version="1", expected_version="1")
    refused = post(console, f"/console/stations/{station.id}", csrf, data=mine)
    assert refused.status_code == 409
    text = refused.text
    assert "别人在你之后修改了这个驿站" in text
    assert "重庆市渝中区新华路 2 号" in text and "user clerk2" in text
    assert 'value="每天 8:00-20:00"' in text  # the clerk's input kept
    assert "你改动的项目：<b>开放时间</b>（每天 8:00-20:00）</p>" in text
    assert store.get(station.id).hours_text == "周一至周五 9:00-18:00"  # nothing overwritten
    # Applying the clerk's change on top of the current version keeps both changes.
    applied = post(
        console,
        f"/console/stations/{station.id}",
        csrf,
        data={**mine, "expected_version": "2"},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(station.id)
    assert now.hours_text == "每天 8:00-20:00" and now.address == "重庆市渝中区新华路 2 号"
    other.close()


def test_another_unions_station_is_403_to_view_and_to_post(console, store, districts):
    theirs = _jiangbei(store, districts)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    page = console.get(f"/console/stations/{theirs.id}")
    assert page.status_code == 403 and "无权操作" in page.text
    answer = post(
        console,
        f"/console/stations/{theirs.id}",
        csrf,
        data=_form(form_values(theirs), name="改名", base_version="1"),
    )
    assert answer.status_code == 403
    assert store.get(theirs.id).name == "观音桥工会驿站"


def test_post_without_csrf_is_refused(console, store, districts):
    station = _yuzhong(store, districts)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    answer = console.post(
        f"/console/stations/{station.id}", data=_form(form_values(station), name="x")
    )
    assert answer.status_code == 403
    assert store.get(station.id).name == station.name


@pytest.mark.parametrize(("filtered", "picked"), [(False, None), (True, None), (False, "gcj02")])
def test_export_xlsx_uploads_back_with_no_change(
    console, store, districts, tmp_path, filtered, picked
):
    """The clerks' workbook: Chinese headers and values a clerk reads (是/否, 热水, 运营中,
    their own hours), and it uploads back with no change, even when the clerk picks
    GCJ-02 (their usual 高德) for it: each row says its positions are WGS-84."""
    from tests.builders import bus_row

    _yuzhong(store, districts, amap_listed="是", amap_poi_id="B0F1", amap_keyword_linked="是")
    _yuzhong(store, districts, external_id="YZ-2", name="较场口驿站", hours="24小时")
    store.create(build_station(bus_row(), districts=districts), actor="test")
    _jiangbei(store, districts)
    account = make_account(store, districts, code="500103")
    login(console, "yz500103")
    answer = console.get("/console/stations/export.xlsx" + ("?q=较场口" if filtered else ""))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    path = tmp_path / "export.xlsx"
    path.write_bytes(answer.content)
    sheet = load_workbook(path)["驿站"]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["编号", "所属工会", "名称", "地址"] and "高德POI" in header
    assert not any(h.isascii() for h in header if h != "POI")  # no record keys
    rows_by_code = {r[0].value: [c.value for c in r] for r in sheet.iter_rows(min_row=2)}
    if not filtered:
        first = dict(zip(header, rows_by_code["YZ-001"], strict=True))
        assert first["设施"] == "热水、微波炉、手机充电" and first["状态"] == "运营中"
        assert first["开放时间"] == "周一至周五 9:00-18:00" and first["高德已上图"] == "是"
        assert first["坐标系"] == "wgs84"
    source = read_rows(path)
    rows = list(source.rows)
    assert len(rows) == (1 if filtered else 3)
    crs = picked or upload_crs(None, format=source.format, columns=source.columns, default_crs=None)
    upload = plan_upload(
        rows,
        store=store,
        districts=districts,
        by=account.principal(),
        filename="export.xlsx",
        crs=crs,
        columns=source.columns,
    )
    changed = [r.changed for r in store.iter_upload_rows(upload.id, actions=("update",))]
    assert upload.counts.get("create", 0) == 0 and upload.counts.get("update", 0) == 0, changed
    assert upload.counts.get("rejected", 0) == 0
    assert upload.counts["unchanged"] == len(rows)


def test_the_table_pages_by_fifty_and_sorts_by_last_change(console, store, districts):
    for i in range(55):
        _yuzhong(store, districts, external_id=f"P-{i:02d}", name=f"驿站{i:02d}")
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    first = console.get("/console/stations").text.split('id="stations-data"')[0]
    assert first.count('<tr data-id="') == 50 and "共 55 个" in first
    assert "驿站00" in first and "驿站54" not in first and "下一页" in first
    second = console.get("/console/stations?offset=50").text.split('id="stations-data"')[0]
    assert second.count('<tr data-id="') == 5 and "驿站54" in second and "上一页" in second
    newest = console.get("/console/stations?sort=updated").text.split('id="stations-data"')[0]
    assert newest.index("驿站54") < newest.index("驿站53")


def test_the_city_union_creates_a_station_for_the_district_it_lies_in(console, store, districts):
    make_account(store, districts, role="admin", code=None)
    csrf = login(console, "city")
    answer = post(
        console, "/console/stations", csrf, data=_new_station_form(), follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:2000]
    (station,) = store.iter_all()
    assert str(station.owner) == "district:500103"
    assert "(user city)" in store.audit(station_id=station.id)[0].actor


@pytest.mark.parametrize(("lon", "lat"), [(200, 29.5), ("nan", 29.5), (29.557, 106.5772)])
def test_position_endpoint_explains_what_is_not_a_position(console, store, districts, lon, lat):
    make_account(store, districts)
    login(console, "yz500103")
    answer = console.get("/console/api/position", params={"lon": lon, "lat": lat})
    assert answer.status_code == 200
    doc = answer.json()
    assert not doc["ok"] and ("中国" in doc["error"] or "填反" in doc["error"])


def test_a_code_the_union_uses_already_is_refused_beside_the_field(console, store, districts):
    _yuzhong(store, districts, external_id="YZ-NEW")
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    answer = post(console, "/console/stations", csrf, data=_new_station_form())
    assert answer.status_code == 422
    assert "本工会已有编号为“YZ-NEW”的驿站" in answer.text and "两路口工会驿站" in answer.text
    assert store.count() == 1


def test_a_station_filed_across_the_border_says_so_on_its_form(console, store, districts):
    near = make_station(districts, lon=GUANYINQIAO[0], lat=GUANYINQIAO[1], owner="district:500105")
    # As an upload near the border files it: under its union's district, though it lies in
    # the next one.
    station = store.create(
        replace(near, owner=Owner.parse("500103"), district_adcode="500103"), actor="t"
    )
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get(f"/console/stations/{station.id}").text
    assert "位置在江北区" in page and "归入渝中区" in page


def test_a_text_stored_with_line_breaks_is_kept_by_a_save_that_leaves_it(console, store, districts):
    """An ``<input>`` drops line breaks: the address a sheet gave on two lines is shown on
    one, and posted back untouched it stays as stored; retyped, it is the clerk's."""
    station = store.create(
        make_station(districts, address="重庆市渝中区\n解放碑步行街 8 号", host="渝中区\r\n总工会"),
        actor="test",
    )
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    values = form_values(station)
    assert values["address"] == "重庆市渝中区解放碑步行街 8 号"  # as the browser shows it
    page = console.get(f"/console/stations/{station.id}")
    assert 'value="重庆市渝中区解放碑步行街 8 号"' in page.text
    url = f"/console/stations/{station.id}"
    same = post(console, url, csrf, data=_form(values, base_version="1"))
    assert same.status_code == 200 and "没有改动" in same.text
    renamed = post(
        console,
        url,
        csrf,
        data=_form(values, name="解放碑驿站", base_version="1"),
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    now = store.get(station.id)
    assert now.name == "解放碑驿站"
    assert now.address == "重庆市渝中区\n解放碑步行街 8 号" and now.host == "渝中区\r\n总工会"
    moved = post(
        console,
        url,
        csrf,
        data=_form(form_values(now), address="解放碑 9 号", base_version="2"),
        follow_redirects=False,
    )
    assert moved.status_code == 303 and store.get(station.id).address == "解放碑 9 号"
