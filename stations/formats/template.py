"""The Excel upload template: Chinese headers, an example row, the allowed values."""

from __future__ import annotations

import io
from functools import cache

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.datavalidation import DataValidation

from stations.domain.mobile_validation import MAX_STOPS, STOPS_FORM
from stations.domain.model import (
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    PROVIDER_LABELS,
    STATUS_LABELS,
)
from stations.formats.fields import TEMPLATE_FIELDS, Kind

HEADERS = [f.header for f in TEMPLATE_FIELDS]
# The example row, by record key (a field of the template not named here is left empty).
_EXAMPLE: dict[str, object] = {
    "external_id": "YZ-0001",
    "name": "解放碑工会驿站（示例）",
    "address": "重庆市渝中区民族路1号",
    "host": "渝中区总工会",
    "contact_phone": "023-63000000",
    "lon": 106.583628,
    "lat": 29.554722,
    "hours": "周一至周五 9:00-18:00，节假日休息",
    "self_service_24h": "否",
    "entry_methods": "有人值守",
    "registration_required": "否",
    "amenities": "热水、微波炉、手机充电、厕所",
    "status": "运营中",
    "signage_unified": "是",
    "brand": "渝工港湾",
    "amap_listed": "是",
    "amap_poi_id": "B0FFXXXXXX",
    "amap_lon": 106.583700,
    "amap_lat": 29.554650,
    "amap_keyword_linked": "是",
    "baidu_listed": "否",
    "tencent_listed": "否",
    "mobile": "否",
}
# A second example: a bus serving a timetable of three stops (流动驿站), based at its first.
_BUS: dict[str, object] = {
    "external_id": "YZ-0002",
    "name": "流动驿站一号车（示例）",
    "host": "渝中区总工会",
    "contact_phone": "023-63000000",
    "hours": "周一至周六 10:00-16:00",
    "entry_methods": "有人值守",
    "amenities": "热水、手机充电",
    "status": "运营中",
    "mobile": "是",
    "stops": "解放碑 | 106.577,29.557 | 周一、三、五 10:00-14:00\n"
    "大坪 | 106.520,29.540 | 周二、四 10:00-14:00\n"
    "较场口 | 106.570,29.550 | 周六 9:00-12:00",
}
EXAMPLE = [_EXAMPLE.get(f.key, "") for f in TEMPLATE_FIELDS]
EXAMPLE_BUS = [_BUS.get(f.key, "") for f in TEMPLATE_FIELDS]


@cache
def template_xlsx() -> bytes:
    """The template workbook as bytes (built once)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "驿站"
    sheet.append(HEADERS)
    sheet.append(EXAMPLE)
    sheet.append(EXAMPLE_BUS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    yes_no = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
    status = DataValidation(
        type="list", formula1='"' + ",".join(STATUS_LABELS.values()) + '"', allow_blank=True
    )
    sheet.add_data_validation(yes_no)
    sheet.add_data_validation(status)
    for number, f in enumerate(TEMPLATE_FIELDS, start=1):
        col = sheet.cell(row=1, column=number).column_letter
        if f.kind is Kind.STOPS:  # one stop per line: the lines shown, the column wide
            sheet.column_dimensions[col].width = 48
            sheet.cell(row=3, column=number).alignment = Alignment(wrap_text=True)
        if f.kind is Kind.BOOL:
            yes_no.add(f"{col}2:{col}10000")
        elif f.kind is Kind.STATUS:
            status.add(f"{col}2:{col}10000")

    notes = book.create_sheet("填写说明")
    notes.append(["项目", "可选值或写法"])
    notes.append(
        ["坐标系", "上传时选择：wgs84（GPS）、gcj02（高德、腾讯）、bd09（百度）、cgcs2000"]
    )
    notes.append(
        [
            "开放时间",
            "例：周一至周五 9:00-18:00；每天 8:00-20:00；24小时；工作日 9:00-17:00 "
            "周末 10:00-16:00；可加“节假日休息”",
        ]
    )
    notes.append(["24小时自助", "是/否；填“是”时开放时间须为 24小时，并填写进入方式"])
    notes.append(["设施", "、".join(AMENITY_LABELS.values()) + "（用顿号或逗号分隔）"])
    notes.append(["进入方式", "、".join(ENTRY_METHOD_LABELS.values())])
    notes.append(["状态", "、".join(STATUS_LABELS.values())])
    notes.append(["上图平台", "、".join(PROVIDER_LABELS.values()) + "：位置填该平台显示的坐标"])
    notes.append(["编号", "本工会自己的驿站编号，同一工会内不可重复"])
    notes.append(
        [
            "流动驿站",
            "是/否；流动驿站是按时间表在几个停靠点之间流动的车辆，须填写停靠点；"
            "经度、纬度填车辆的驻地（不填则取第一个停靠点）",
        ]
    )
    notes.append(
        [
            "停靠点",
            f"{STOPS_FORM}。一格内换行用 Alt+Enter；坐标与经纬度列用同一坐标系；"
            "停靠时间的写法同开放时间；过夜停靠写“22:00-次日06:00”；"
            f"各停靠点的时间不能重叠；最多 {MAX_STOPS} 个停靠点。固定驿站留空",
        ]
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
