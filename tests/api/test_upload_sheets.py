"""Sheets as union offices keep them, uploaded through the API: a title and a 填报单位 row
above the header, 序号 (not a code), the position in one 经纬度（高德） column, a 合计 row,
no codes of their own; the good rows committed, the bad ones given back as Excel to fix."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from stations.domain.model import Owner
from tests.api.clients import new_bearer

YUZHONG = "500103"
OWNER = Owner.parse(f"district:{YUZHONG}")
TITLE = "渝中区工会驿站点位信息统计表"
HEADER = [
    "序号",
    "驿站名称",
    "详细地址",
    "经纬度（高德）",
    "开放时间",
    "服务设施",
    "是否24小时",
    "联系人",
    "联系电话",
]


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def yuzhong(store):
    return new_bearer(store, "district", YUZHONG, "渝中区总工会")[0]


def position(i: int) -> tuple[float, float]:
    """GCJ-02 points 300 m apart, all in 渝中区."""
    return round(106.545 + (i % 10) * 0.003, 6), round(29.548 + (i // 10) * 0.003, 6)


def good_row(i: int) -> list[object]:
    lon, lat = position(i)
    return [
        i,
        f"解放碑第{i}工会驿站",
        f"渝中区民族路{i}号",
        f"{lon},{lat}",
        "周一至周五 9:00-18:00",
        "饮水、微波炉、充电、厕所" + ("、按摩椅" if i == 1 else ""),
        "否",
        "张三",
        "023-63000000",
    ]


BAD = {  # row index -> (column, bad value, fixed value)
    41: ("经纬度（高德）", "一百零六,二十九", None),
    42: ("开放时间", "看情况", "每天 8:00-20:00"),
    43: ("是否24小时", "也许", "否"),
}


def sheet_rows() -> list[list[object]]:
    """The 40 good rows and 3 bad ones, in file order, with their 序号."""
    rows = [good_row(i) for i in range(1, 44)]
    for i, (column, value, _) in BAD.items():
        rows[i - 1][HEADER.index(column)] = value
    return rows


def fixed(column: str, value: object, i: int) -> object:
    if column == "经纬度（高德）":
        lon, lat = position(i)
        return f"{lon},{lat}"
    return value


def union_xlsx(path, rows, *, title=TITLE, extra_sheet: list[list[object]] | None = None):
    book = Workbook()
    sheet = book.active
    sheet.title = "点位信息"
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    sheet.append(["填报单位：渝中区总工会", None, None, None, None, "填报日期：2026年11月30日"])
    sheet.append(HEADER)
    for r in rows:
        sheet.append(r)
    sheet.append(["合计", None, f"共 {len(rows)} 个", None, None, None, None, None, None])
    if extra_sheet is not None:
        other = book.create_sheet("第二批")
        for r in extra_sheet:
            other.append(r)
    book.create_sheet("说明").append(["本表由各街道填报"])
    book.save(path)
    return path.read_bytes()


def union_csv(rows, encoding="gbk") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([TITLE])
    w.writerow(["填报单位：渝中区总工会", "", "", "", "", "填报日期：2026年11月30日"])
    w.writerow(HEADER)
    w.writerows(rows)
    w.writerow(["合计", "", f"共 {len(rows)} 个"])
    return out.getvalue().encode(encoding)


def post(client, token, data, name, sheet=None, **form):
    """Upload as the console does: the file and form fields, ``sheet`` in the query."""
    return client.post(
        "/v1/uploads",
        headers=token,
        files={"file": (name, data)},
        data=form or None,
        params={"sheet": sheet} if sheet is not None else None,
    )


def rejected(report):
    return {r["row"]: r["problems"] for r in report["rows"] if r["action"] == "rejected"}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_union_sheet_is_read_its_good_rows_committed_and_its_bad_rows_fixed_in_excel(
    client, store, yuzhong, tmp_path, fmt
):
    rows = sheet_rows()
    data = union_xlsx(tmp_path / "union.xlsx", rows) if fmt == "xlsx" else union_csv(rows)
    r = post(client, yuzhong, data, f"渝中区驿站.{fmt}")  # no crs: the header says 高德
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["counts"] == {
        "create": 40,
        "update": 0,
        "close": 0,
        "unchanged": 0,
        "rejected": 3,
    }
    assert report["proposed_crs"] == "gcj02"
    assert report["crs"] == "gcj02"
    notes = report["notes"]
    assert "第 1–2 行是标题和填报说明，第 3 行是表头" in notes
    assert "第 47 行是合计行，已忽略" in notes  # 3 rows above, 43 stations
    assert "“经纬度（高德）”一列按“经度,纬度”读取" in notes
    assert any("表头注明高德坐标（GCJ-02）" in n for n in notes)
    assert "“序号”一列是表格的行序号，不作驿站编号，已忽略" in notes
    assert "“联系人”一列登记表暂无此项，未读取" in notes
    assert report["unknown_columns"] == []
    mapping = {c["header"]: c["label"] for c in report["columns"]}
    assert mapping["驿站名称"] == "名称"
    assert mapping["经纬度（高德）"] == "经纬度"
    assert mapping["服务设施"] == "设施"
    assert "序号" not in mapping
    # Each rejected row: the file's own header, the value as written, why in Chinese.
    bad = rejected(report)
    assert sorted(bad) == [44, 45, 46]
    assert bad[44][0]["column"] == "经纬度（高德）"
    assert bad[44][0]["value"] == "一百零六,二十九"
    assert "经纬度" in bad[44][0]["message"]
    assert (bad[45][0]["column"], bad[45][0]["value"]) == ("开放时间", "看情况")
    assert (bad[46][0]["column"], bad[46][0]["value"]) == ("是否24小时", "也许")
    # Free-text facilities: the known words read, an unknown one a warning only.
    first = next(r for r in report["rows"] if r["row"] == 4)
    assert first["action"] == "create"
    assert first["external_id"] == "500103-0001"
    assert any("按摩椅" in w["message"] for w in first["warnings"])
    upload_id = report["id"]

    # Committing with rejected rows is refused, unless only the accepted rows are meant.
    assert client.post(f"/v1/uploads/{upload_id}/commit", headers=yuzhong).status_code == 409
    assert store.count() == 0
    r = client.post(
        f"/v1/uploads/{upload_id}/commit", headers=yuzhong, params={"accepted_only": "true"}
    )
    assert r.status_code == 200, r.text
    assert store.count() == 40
    station = store.find_by_external_id(OWNER, "500103-0001")
    assert station is not None and station.amenities == (
        "drinking_water",
        "microwave",
        "phone_charging",
        "toilet",
    )
    after = client.get(f"/v1/uploads/{upload_id}", headers=yuzhong).json()
    assert after["status"] == "committed"
    assert "已提交无误的 40 行，未提交被退回的 3 行" in after["notes"]

    # The rejected rows as Excel: the file's headers and values, and 问题.
    r = client.get(f"/v1/uploads/{upload_id}/rejected.xlsx", headers=yuzhong)
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    got = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert got[0] == [*HEADER, "问题"]
    assert len(got) == 4
    assert [str(g[0]) for g in got[1:]] == ["41", "42", "43"]
    assert got[1][3] == "一百零六,二十九"
    assert got[2][4] == "看情况"
    assert got[2][-1].startswith("第 45 行：开放时间：")
    # Fixed in Excel and uploaded again: 3 new stations.
    for g, i in zip(got[1:], BAD, strict=True):
        column, _, value = BAD[i]
        g[HEADER.index(column)] = fixed(column, value, i)
    book = Workbook()
    for g in got:
        book.active.append(g)
    book.save(tmp_path / "fixed.xlsx")
    r = post(client, yuzhong, (tmp_path / "fixed.xlsx").read_bytes(), "fixed.xlsx", crs="gcj02")
    assert r.status_code == 201, r.text
    again = r.json()
    assert again["counts"]["create"] == 3, again["rows"]
    assert again["counts"]["rejected"] == 0
    assert "“问题”一列是退回的行的问题说明，已忽略" in again["notes"]
    assert client.post(f"/v1/uploads/{again['id']}/commit", headers=yuzhong).status_code == 200
    assert store.count() == 43

    # The whole sheet, fixed, uploaded again: every station matched, nothing new.
    rows = sheet_rows()
    for i, (column, _, value) in BAD.items():
        rows[i - 1][HEADER.index(column)] = fixed(column, value, i)
    data = union_xlsx(tmp_path / "all.xlsx", rows) if fmt == "xlsx" else union_csv(rows)
    r = post(client, yuzhong, data, f"全部.{fmt}")
    assert r.status_code == 201, r.text
    assert r.json()["counts"] == {
        "create": 0,
        "update": 0,
        "close": 0,
        "unchanged": 43,
        "rejected": 0,
    }


def one_column_csv(pairs, header="经纬度") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["驿站名称", header, "开放时间"])
    for i, pair in enumerate(pairs, start=1):
        w.writerow([f"驿站{i}", pair, "每天 8:00-20:00"])
    return out.getvalue().encode("gbk")


def test_a_position_written_lat_first_is_read_by_range_and_said(client, store, yuzhong):
    lon, lat = position(3)
    data = one_column_csv([f"{lat}，{lon}", f"{lat} {lon}", "40,50"])
    report = post(client, yuzhong, data, "s.csv", crs="gcj02").json()
    assert report["counts"]["create"] == 2
    assert "“经纬度”一列按“纬度,经度”读取" in report["notes"]
    bad = rejected(report)
    assert list(bad) == [4]
    assert bad[4][0]["code"] == "invalid_position"
    assert "无法判断哪个是经度" in bad[4][0]["message"]
    assert (bad[4][0]["column"], bad[4][0]["value"]) == ("经纬度", "40,50")
    assert report["proposed_crs"] is None
    client.post(f"/v1/uploads/{report['id']}/commit?accepted_only=true", headers=yuzhong)
    station = store.find_by_external_id(OWNER, "500103-0001")
    assert abs(station.source_lon - lon) < 1e-9
    assert abs(station.source_lat - lat) < 1e-9


def dms(value: float) -> str:
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return f"{d}°{m}′{s:.2f}″"


def test_degrees_minutes_seconds_are_read_in_one_column_and_in_two(client, store, yuzhong):
    lon, lat = position(5)
    data = one_column_csv([f"东经{dms(lon)} 北纬{dms(lat)}"], header="坐标（GPS）")
    report = post(client, yuzhong, data, "one.csv").json()
    assert report["counts"]["create"] == 1, report["rows"]
    assert report["proposed_crs"] == "wgs84"
    # The clerk's choice is final; a header saying otherwise is a warning in the notes.
    chosen = post(client, yuzhong, data, "one.csv", crs="bd09").json()
    assert chosen["crs"] == "bd09"
    assert chosen["proposed_crs"] == "wgs84"
    assert any(n.startswith("注意：表头注明GPS 坐标（WGS-84）") for n in chosen["notes"])
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["站点名称", "经度", "纬度", "服务时间"])
    w.writerow(
        [
            "两列度分秒",
            dms(lon).replace("°", "度").replace("′", "分").replace("″", "秒"),
            dms(lat).replace("′", "'").replace("″", '"'),
            "24小时",
        ]
    )
    report = post(client, yuzhong, out.getvalue().encode("utf-8"), "two.csv", crs="wgs84").json()
    assert report["counts"]["create"] == 1, report["rows"]
    assert "“经度”一列有 1 行按度分秒读取" in report["notes"]
    assert "“纬度”一列有 1 行按度分秒读取" in report["notes"]


def test_a_workbook_with_two_station_sheets_asks_which_and_reads_the_one_chosen(
    client, store, yuzhong, tmp_path
):
    second = [HEADER, good_row(1), good_row(2)]
    data = union_xlsx(tmp_path / "two.xlsx", sheet_rows()[:5], extra_sheet=second)
    r = post(client, yuzhong, data, "two.xlsx")
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "choose_sheet"
    assert problem["sheets"] == ["点位信息", "第二批"]
    assert "请选择" in problem["detail"]
    r = post(client, yuzhong, data, "two.xlsx", sheet="第二批")
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["counts"]["create"] == 2
    assert "读取工作表“第二批”" in report["notes"]
    assert post(client, yuzhong, data, "two.xlsx", sheet="没有").json()["code"] == "choose_sheet"
    # One sheet of stations among others (a 说明 sheet): taken without asking.
    one = union_xlsx(tmp_path / "one.xlsx", sheet_rows()[:5])
    assert post(client, yuzhong, one, "one.xlsx").json()["counts"]["create"] == 5


def test_a_sheet_without_codes_never_merges_a_likely_match_silently(client, store, yuzhong):
    base = one_column_csv([",".join(map(str, position(0))), ",".join(map(str, position(1)))])
    report = post(client, yuzhong, base, "a.csv", crs="gcj02").json()
    client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong)
    # 驿站1 moved 1 km (same name, far); 驿站2's place under a new name (near, other name).
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["驿站名称", "经纬度", "开放时间"])
    w.writerow(["驿站1", ",".join(map(str, position(21))), "每天 8:00-20:00"])
    w.writerow(["新名字驿站", ",".join(map(str, position(1))), "每天 8:00-20:00"])
    report = post(client, yuzhong, out.getvalue().encode("gbk"), "b.csv", crs="gcj02").json()
    rows = {r["row"]: r for r in report["rows"]}
    assert report["counts"]["create"] == 2
    assert rows[2]["external_id"] == "500103-0003"
    assert rows[3]["external_id"] == "500103-0004"
    codes = {w["code"] for r in rows.values() for w in r["warnings"]}
    assert {"likely_match_name", "likely_match_position"} <= codes
    said = " ".join(w["message"] for w in rows[2]["warnings"])
    assert "“驿站1”（编号 500103-0001）" in said


def test_a_full_list_does_not_close_the_stations_of_its_rejected_rows(client, store, yuzhong):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["驿站编号", "驿站名称", "经纬度", "开放时间"])
    for i in range(1, 6):
        w.writerow([f"Y{i}", f"驿站{i}", ",".join(map(str, position(i))), "每天 8:00-20:00"])
    report = post(client, yuzhong, out.getvalue().encode("gbk"), "all.csv", crs="gcj02").json()
    assert client.post(f"/v1/uploads/{report['id']}/commit", headers=yuzhong).status_code == 200
    # This year's full list: Y1 wrong (hours), Y2's row wrong and without its code, Y5 gone.
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["驿站编号", "驿站名称", "经纬度", "开放时间"])
    w.writerow(["Y1", "驿站1", ",".join(map(str, position(1))), "看情况"])
    w.writerow(["", "驿站2", "不知道", "每天 8:00-20:00"])
    for i in (3, 4):
        w.writerow([f"Y{i}", f"驿站{i}", ",".join(map(str, position(i))), "每天 8:00-20:00"])
    r = post(
        client, yuzhong, out.getvalue().encode("gbk"), "list.csv", crs="gcj02", full_list="true"
    )
    report = r.json()
    assert report["counts"]["rejected"] == 2
    assert report["counts"]["close"] == 1
    closed = [x["external_id"] for x in report["rows"] if x["action"] == "close"]
    assert closed == ["Y5"]
    assert any("完整名单不会关闭" in n for n in report["notes"])
    r = client.post(
        f"/v1/uploads/{report['id']}/commit", headers=yuzhong, params={"accepted_only": "true"}
    )
    assert r.status_code == 200, r.text
    status = {s.external_id: s.status.value for s in store.iter_all()}
    assert status == {
        "Y1": "active",
        "Y2": "active",
        "Y3": "active",
        "Y4": "active",
        "Y5": "closed",
    }


def test_the_rejected_rows_of_a_geojson_upload_come_back_as_excel(client, store, yuzhong):
    import json

    lon, lat = position(2)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"编号": "G1", "名称": '=HYPERLINK("x")', "开放时间": "看情况"},
        }
    ]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    report = post(client, yuzhong, data, "s.geojson").json()
    assert report["counts"]["rejected"] == 1
    r = client.get(f"/v1/uploads/{report['id']}/rejected.xlsx", headers=yuzhong)
    got = [list(x) for x in load_workbook(io.BytesIO(r.content)).worksheets[0].values]
    assert got[0] == ["编号", "名称", "开放时间", "经度", "纬度", "问题"]
    assert got[1][1] == '\'=HYPERLINK("x")'  # formula-neutralised, as exports are
    assert got[1][3:5] == [lon, lat]
    assert "开放时间" in got[1][5]
    # Another union may not have them.
    other = new_bearer(store, "district", "500105", "江北区总工会")[0]
    assert client.get(f"/v1/uploads/{report['id']}/rejected.xlsx", headers=other).status_code in (
        403,
        404,
    )
