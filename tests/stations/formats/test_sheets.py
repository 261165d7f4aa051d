"""The reading rules for sheets as union offices keep them, format by format."""

from __future__ import annotations

import pytest

from geodata.crs import CoordinateSystem
from stations.domain.uploads import crs_notes, header_crs
from stations.formats.fields import ignored_header, map_headers
from stations.formats.io import read_rows
from stations.formats.positions import parse_degrees, split_pair
from stations.formats.sheet import find_header, row_list, summary_kind, two_row_header


@pytest.mark.parametrize(
    ("text", "lon", "lat", "order"),
    [
        ("106.57,29.55", 106.57, 29.55, "lonlat"),
        ("29.55，106.57", 106.57, 29.55, "latlon"),
        ("106.57 29.55", 106.57, 29.55, "lonlat"),
        ("106.57、29.55", 106.57, 29.55, "lonlat"),
        ("(106.57, 29.55)", 106.57, 29.55, "lonlat"),
        ("106°34′12″,29°33′0″", 106.57, 29.55, "lonlat"),
        ("106°34'12\" 29°33'0\"", 106.57, 29.55, "lonlat"),
        ("106度34分12秒,29度33分", 106.57, 29.55, "lonlat"),
        ("东经106°34′12″ 北纬29°33′0″", 106.57, 29.55, "lonlat"),
        ("29°33′0″N 106°34′12″E", 106.57, 29.55, "latlon"),
    ],
)
def test_a_position_in_one_cell_is_split_in_either_order(text, lon, lat, order):
    got = split_pair(text)
    assert not isinstance(got, str), got
    assert got[0] == pytest.approx(lon) and got[1] == pytest.approx(lat) and got[2] == order


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("40,50", "无法判断"),
        ("106.57", "两个数"),
        ("x,y", "不是度数"),
        ("106°75′0″,29", "不是度数"),
    ],
)
def test_a_position_that_cannot_be_told_is_a_reason_in_chinese(text, why):
    got = split_pair(text)
    assert isinstance(got, str) and why in got


def test_degrees_are_read_in_every_way_clerks_write_them():
    assert parse_degrees("106°34′12.5″") == pytest.approx(106 + 34 / 60 + 12.5 / 3600)
    assert parse_degrees("106度34分12.5秒") == pytest.approx(106 + 34 / 60 + 12.5 / 3600)
    assert parse_degrees("E106.5") == 106.5
    assert parse_degrees("北纬29.5") == 29.5
    assert parse_degrees(29.5) == 29.5
    assert parse_degrees("约106度") == parse_degrees("abc") is None


def test_the_system_a_header_names_is_proposed_and_the_uploaders_choice_stays_final():
    assert header_crs(["经纬度（高德）"]) == (CoordinateSystem.GCJ02, "高德坐标（GCJ-02）")
    assert header_crs(["经度(百度)", "纬度(百度)"])[0] is CoordinateSystem.BD09
    assert header_crs(["经度（GPS）"])[0] is CoordinateSystem.WGS84
    assert header_crs(["坐标 BD-09"])[0] is CoordinateSystem.BD09
    assert header_crs(["经度（天地图）"])[0] is CoordinateSystem.WGS84
    assert header_crs(["经度(高德)", "纬度(百度)"]) is None  # two systems: none proposed
    assert header_crs(["经度"]) is None
    columns = {"position": "经纬度（腾讯）"}
    assert crs_notes(None, columns) == (
        CoordinateSystem.GCJ02,
        ["表头注明腾讯坐标（GCJ-02），未选择坐标系，按 GCJ-02 读取"],
    )
    system, said = crs_notes(CoordinateSystem.WGS84, columns)
    assert system is CoordinateSystem.GCJ02
    assert said[0].startswith("注意：") and "已按所选的 WGS-84 读取" in said[0]


def test_the_header_is_the_first_row_naming_two_fields():
    rows = [
        ["渝中区工会驿站点位信息统计表", None, None],
        ["填报单位：渝中区总工会", None, "填报日期：2026-11-30"],
        [None, None, None],
        ["序号", "驿站名称", "经纬度"],
        [1, "甲", "106.5,29.5"],
    ]
    assert find_header(rows) == 3
    assert find_header([["名称"], ["x"]]) is None  # one field is not a header


def test_total_and_note_rows_are_told_by_their_first_cells():
    assert summary_kind(["合计", None, "43 个"]) == "合计"
    assert summary_kind([None, "小计：12"]) == "合计"
    assert summary_kind(["备注：坐标取自高德地图"]) == "说明"
    assert summary_kind(["注：本表每季度更新"]) == "说明"
    assert summary_kind(["说明"]) == "说明"
    assert summary_kind([1, "说明书驿站", "某路"]) is None  # a station's name, not a note
    assert row_list([48, 49]) == "第 48、49 行"
    assert row_list(list(range(1, 31))) == "第 1、2、3、4、5、6、7、8、9、10 等 30 行"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_gbk_csv_with_title_rows_finds_its_header(tmp_path, delimiter):
    d = delimiter
    text = (
        f"渝中区工会驿站点位信息统计表{d}{d}\n"
        f"填报单位：渝中区总工会{d}{d}填报日期：2026-11-30\n"
        f"序号{d}站点名称{d}坐标\n"
        f'1{d}甲驿站{d}"106.57,29.55"\n'
        f"备注：坐标取自高德地图{d}{d}\n"
        f"合计{d}1 个{d}\n"
    )
    path = tmp_path / "s.csv"
    path.write_bytes(text.encode("gbk"))
    source = read_rows(path)
    assert source.delimiter == delimiter
    assert source.columns == {"name": "站点名称", "position": "坐标"}
    rows = list(source.rows)
    assert [(n, r["name"], r["lon"], r["lat"]) for n, r in rows] == [(4, "甲驿站", 106.57, 29.55)]
    assert rows[0][1].source == {"序号": "1", "站点名称": "甲驿站", "坐标": "106.57,29.55"}
    assert source.unknown_columns == []
    notes = source.notes()
    assert "第 1–2 行是标题和填报说明，第 3 行是表头" in notes
    assert "第 5 行是说明行，已忽略" in notes
    assert "第 6 行是合计行，已忽略" in notes


def test_a_header_merged_over_two_rows_is_read_as_one(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["渝中区工会驿站点位信息统计表"])
    sheet.append(["序号", "驿站名称", "经纬度（高德）", None, "开放时间"])
    sheet.append([None, None, "经度", "纬度", None])
    sheet.merge_cells("C2:D2")
    sheet.merge_cells("A2:A3")
    sheet.append([1, "甲驿站", 106.57, 29.55, "每天 8:00-20:00"])
    book.save(tmp_path / "s.xlsx")
    source = read_rows(tmp_path / "s.xlsx")
    assert source.columns == {
        "name": "驿站名称",
        "lon": "经度（高德）",
        "lat": "纬度（高德）",
        "hours": "开放时间",
    }
    assert [(n, r["lon"], r["lat"]) for n, r in source.rows] == [(4, 106.57, 29.55)]
    assert "第 1 行是标题或填报说明，第 2–3 行是表头" in source.notes()
    # A first data row is not a second header row.
    assert two_row_header(["名称", "经纬度"], ["甲驿站", "106.5,29.5"]) is None
    assert two_row_header(["名称", "经度", "纬度"], ["1", "106.5", "29.5"]) is None


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("驿站名称", "name"),
        ("站点名称", "name"),
        ("名称", "name"),
        ("详细地址", "address"),
        ("地址", "address"),
        ("所在位置", "address"),
        ("服务设施", "amenities"),
        ("设施配置", "amenities"),
        ("配套设施", "amenities"),
        ("是否24小时", "self_service_24h"),
        ("联系电话", "contact_phone"),
        ("电话", "contact_phone"),
        ("联系方式", "contact_phone"),
        ("开放时间", "hours"),
        ("服务时间", "hours"),
        ("开放时段", "hours"),
        ("经纬度（高德）", "position"),
        ("坐标", "position"),
        ("位置坐标", "position"),
        ("所属区县", "district"),  # checked against the position (a warning), never kept
        ("区县", "district"),
    ],
)
def test_the_column_names_clerks_use_map_to_fields(header, field):
    assert map_headers([header])[0] == [field]


@pytest.mark.parametrize("header", ["序号", "编号序号", "联系人", "所属街道", "街道"])
def test_known_headers_naming_no_field_are_read_past_not_unknown(header):
    mapped, unknown = map_headers([header])
    assert mapped == [None] and unknown == []
    assert ignored_header(header)


def test_a_telephone_cell_naming_the_person_keeps_the_number(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "驿站名称,联系方式\n甲,张三 13800138000\n乙,李女士：023-63000000\n"
        "丙,023-63000001\n丁,随时\n",
        encoding="utf-8",
    )
    source = read_rows(path)
    phones = [r["contact_phone"] for _, r in source.rows]
    assert phones == ["13800138000", "023-63000000", "023-63000001", "随时"]  # 随时: refused later
    assert "“联系方式”一列有 2 行写了联系人姓名和电话，只登记电话" in source.notes()


def test_split_columns_with_hemispheres_or_dms_are_read(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "名称,经度,纬度\n甲,E106.57,N29.55\n乙,东经106°34′12″,北纬29°33′\n丙,106.57,29.55\n",
        encoding="utf-8",
    )
    got = [(r["lon"], r["lat"]) for _, r in read_rows(path).rows]
    assert got[0] == (106.57, 29.55)
    assert got[1] == (pytest.approx(106.57), pytest.approx(29.55))
    assert got[2] == ("106.57", "29.55")  # plain numbers are left to the validation
