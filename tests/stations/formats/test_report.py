"""The 报表 workbook: a sheet per table, a title row, Chinese headers, numbers as numbers."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from stations.formats.report import NO_VALUE, Column, Table, band, cell_text, report_xlsx

COLUMNS = (
    Column("name", "区县", "text"),
    Column("active", "运营中"),
    Column("rate", "三家均上图率", "rate", banded=True),
    Column("target", "目标值", "number"),
    Column("state", "状态", "text", alarm="逾期"),
)


def workbook(tables, title="工会驿站规划报表（全市，2026-12-01）"):
    return load_workbook(io.BytesIO(report_xlsx(tables, title=title)))


def test_one_sheet_per_table_with_title_headers_and_numbers():
    rows = [
        {"name": "渝中区", "active": 1234, "rate": 0.456, "target": 10, "state": "逾期"},
        {
            "name": "<img src=x onerror=alert(1)>",
            "active": 0,
            "rate": None,
            "target": 0.9,
            "_kinds": {"target": "rate"},
        },
    ]
    totals = {"name": "全市", "active": 1234, "rate": 0.9, "target": None}
    book = workbook(
        [Table("各区县指标", COLUMNS, rows, totals, note="说明"), Table("空", COLUMNS, [])]
    )
    assert book.sheetnames == ["各区县指标", "空"]
    sheet = book["各区县指标"]
    assert sheet["A1"].value == "工会驿站规划报表（全市，2026-12-01）：各区县指标"
    assert [c.value for c in sheet[2]] == ["区县", "运营中", "三家均上图率", "目标值", "状态"]
    assert [c.value for c in sheet[3]] == ["渝中区", 1234, 0.456, 10, "逾期"]
    assert sheet["E3"].fill.start_color.rgb.endswith("F8D7DA")  # the alarm text: red
    assert sheet["C3"].number_format == "0.0%" and sheet["B3"].number_format == "#,##0"
    assert sheet["C3"].fill.start_color.rgb.endswith("F8D7DA")  # under 50 %: red
    assert sheet["C5"].fill.start_color.rgb.endswith("D4EDDA")  # 80 % and more: green
    assert sheet["D4"].value == 0.9 and sheet["D4"].number_format == "0.0%"
    assert sheet["C4"].value == NO_VALUE and sheet["A4"].value.startswith("<img")
    assert sheet["A5"].value == "全市" and sheet["A5"].font.bold
    assert sheet["A7"].value == "说明"
    assert book["空"].max_row == 2


def test_cells_as_the_page_writes_them_and_the_bands():
    assert cell_text(0.4567, "rate") == "45.7%"
    assert cell_text(12345, "count") == "12,345"
    assert cell_text(None, "rate") == NO_VALUE
    assert cell_text(2.5, "number") == "2.5"
    assert [band(v) for v in (0.0, 0.4999, 0.5, 0.79, 0.8, 1.0, None, True)] == [
        "low",
        "low",
        "mid",
        "mid",
        "high",
        "high",
        None,
        None,
    ]
