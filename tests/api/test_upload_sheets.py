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


def post(client, token, data, name, **params):
    return client.post(
        "/v1/uploads", headers=token, files={"file": (name, data)}, params=params or None
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
