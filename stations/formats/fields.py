"""The one list of a station's public fields: the record key, the Chinese header, the header
aliases a file may use, the kind of value, and where the field appears.

The upload template's columns, the header mapping of uploads, the export columns and the
template's drop-down lists are all derived from :data:`FIELDS`; a field added here appears
in each of them (tests/stations/formats/test_fields.py checks it against the record).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stations.domain.model import LISTING_FLAT_ATTRS, PROVIDER_LABELS, Provider


class Kind(StrEnum):
    """What a field holds, as a file writes it."""

    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"  # 是/否, true/false
    LIST = "list"  # written joined with commas (顿号 on input too)
    STATUS = "status"  # one of STATUS_LABELS
    DATETIME = "datetime"  # ISO 8601
    INTEGER = "integer"
    LISTINGS = "listings"  # GeoJSON's nested list of 上图 listings
    STOPS = "stops"  # a mobile station's stops: one per line, 名称 | 经度,纬度 | 停靠时间


@dataclass(frozen=True, slots=True)
class Field:
    """One public field of a station.

    ``key`` is the row key build_station reads (and the export's column name); ``header`` the
    Chinese header of the upload template (None: not in the template); ``aliases`` the other
    headers an uploaded file may use (``key`` and ``header`` are always accepted);
    ``read``: whether an upload reads it (False for what the registry derives or keeps, such
    as ``id`` or ``version``); ``export``: whether CSV/XLSX exports have the column.
    """

    key: str
    header: str | None
    kind: Kind = Kind.TEXT
    aliases: tuple[str, ...] = ()
    read: bool = True
    export: bool = True

    @property
    def headers(self) -> tuple[str, ...]:
        """Every header that names this field in an uploaded file."""
        own = (self.key,) if self.header is None else (self.key, self.header)
        return own + tuple(a for a in self.aliases if a not in own)


# One 上图 listing per provider: suffix of the key, Chinese header after the provider's name
# (None: not in the template), aliases (each taken with the provider's key and name before it).
_LISTING: tuple[tuple[str, str | None, Kind, tuple[str, ...]], ...] = (
    ("listed", "已上图", Kind.BOOL, ("上图",)),
    ("poi_id", "POI", Kind.TEXT, ("poi", "poiid")),
    ("listed_name", None, Kind.TEXT, ("上图名称", "名称")),
    ("lon", "经度", Kind.NUMBER, ()),
    ("lat", "纬度", Kind.NUMBER, ()),
    ("keyword_linked", "关联关键词", Kind.BOOL, ("keyword", "关键词")),
    ("checked_at", None, Kind.DATETIME, ("核查时间",)),
)
LISTING_FIELDS = tuple(suffix for suffix, *_ in _LISTING)
# The listing record's key of each (records.listing_to_dict), where it differs.
LISTING_RECORD_KEYS = {s: LISTING_FLAT_ATTRS.get(s, s) for s in LISTING_FIELDS}


def _listing_fields() -> list[Field]:
    fields: list[Field] = []
    for provider in Provider:
        p, cn = provider.value, PROVIDER_LABELS[provider.value]
        for suffix, header, kind, aliases in _LISTING:
            names = (suffix, *([header] if header else []), *aliases)
            fields.append(
                Field(
                    f"{p}_{suffix}",
                    f"{cn}{header}" if header else None,
                    kind,
                    tuple(f"{p}_{a}" for a in names) + tuple(f"{cn}{a}" for a in names),
                )
            )
    return fields


FIELDS: tuple[Field, ...] = (
    Field("id", None, Kind.INTEGER, read=False),
    Field("external_id", "编号", aliases=("驿站编号", "本单位编号", "code", "站点编号")),
    Field("owner", None, aliases=("所属工会", "管理工会", "建设工会")),
    Field("name", "名称", aliases=("驿站名称", "站点名称", "驿站点位名称", "点位名称")),
    Field("address", "地址", aliases=("详细地址", "驿站地址", "所在位置", "具体地址")),
    Field("host", "依托单位", aliases=("承建单位", "所在单位", "建设单位")),
    Field(
        "contact_phone", "联系电话", aliases=("phone", "电话", "联系方式", "联系人电话", "联系手机")
    ),
    Field("district_adcode", None, read=False),
    # A sheet's own 区县 column: read to check the position against (a warning when the
    # position lies in another district), never stored: the position decides the district.
    Field(
        "district",
        None,
        aliases=("所属区县", "区县", "所在区县", "区（县）", "县（区）", "区县名称"),
        export=False,
    ),
    Field("lon", "经度", Kind.NUMBER, ("lng", "long", "longitude", "x")),
    Field("lat", "纬度", Kind.NUMBER, ("latitude", "y")),
    # The file says its own system, so importing an export back needs no --crs.
    Field("crs", None, aliases=("坐标系",)),
    Field("hours", "开放时间", aliases=("opening_hours", "服务时间", "营业时间", "开放时段")),
    Field("hours_text", None, aliases=("开放时间原文",)),
    Field(
        "self_service_24h",
        "24小时自助",
        Kind.BOOL,
        ("24小时", "是否24小时", "24小时自助驿站", "是否24小时开放", "24小时开放"),
    ),
    Field("entry_methods", "进入方式", Kind.LIST, ("开门方式",)),
    Field("registration_required", "需要登记", Kind.BOOL, ("需注册", "是否需要注册")),
    Field("amenities", "设施", Kind.LIST, ("服务设施", "配套设施", "设施配置", "服务功能")),
    Field("status", "状态", Kind.STATUS, ("运营状态",)),
    Field("signage_unified", "统一标识", Kind.BOOL, ("是否统一标识",)),
    Field("brand", "品牌"),
    # A mobile station (流动驿站) and its timetable (stations.domain.mobile_validation).
    Field("mobile", "流动驿站", Kind.BOOL, ("是否流动驿站", "流动站")),
    Field("stops", "停靠点", Kind.STOPS, ("停靠点位", "停靠站点", "停靠时间表", "停靠安排")),
    *_listing_fields(),
    Field("sample", None, Kind.BOOL, ("示例", "示例数据")),
    Field("version", None, Kind.INTEGER, read=False),
    Field("updated_at", None, Kind.DATETIME, read=False),
    # The public code on the station's poster (/s/{code}); given by the registry, so not
    # in the template and not read back (another registry gives its own).
    Field("code", None, read=False),
    # Our GeoJSON export nests the 上图 listings as a list (CSV/XLSX flatten them).
    Field("listings", None, Kind.LISTINGS, export=False),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
EXPORT_COLUMNS = tuple(f.key for f in FIELDS if f.export)
TEMPLATE_FIELDS = tuple(f for f in FIELDS if f.header is not None)

_NOTE = re.compile(r"[（(\[【].*?[)）\]】]")


def normal_header(text: str) -> str:
    """A header as compared: NFKC, lower case, no spaces, colons or bracketed notes."""
    text = unicodedata.normalize("NFKC", str(text)).strip().lower()
    text = _NOTE.sub("", text)  # "经度（GCJ-02）" -> "经度"
    return re.sub(r"[\s*：:]+", "", text)


_ALIAS_TO_FIELD = {normal_header(alias): f.key for f in FIELDS if f.read for alias in f.headers}

# The amenities column under a clerk's own name holds free text ("饮水、微波炉、充电、厕所"):
# its unknown words are warnings. The template's 设施 column offers a list: refused there.
FREE_TEXT_AMENITY_HEADERS = frozenset(
    normal_header(h) for h in ("服务设施", "配套设施", "设施配置", "服务功能")
)

# The position in one column ("106.57,29.55", either order, or in degrees-minutes-seconds):
# the pseudo-field ``position``, which the reader splits into lon and lat.
POSITION = "position"
POSITION_HEADERS = ("经纬度", "坐标", "位置坐标", "经纬度坐标", "坐标位置", "gps坐标", "定位")
_ALIAS_TO_FIELD.update({normal_header(h): POSITION for h in POSITION_HEADERS})

# Headers clerks use that name no field of the record: read past, each with the reason the
# report gives (not "unknown columns": the clerk did nothing wrong).
_NOT_A_CODE = "是表格的行序号，不作驿站编号，已忽略"
_NO_FIELD = "登记表暂无此项，未读取"
IGNORED_HEADERS: dict[str, str] = {
    "序号": _NOT_A_CODE,
    "编号序号": _NOT_A_CODE,
    "排序": _NOT_A_CODE,
    "问题": "是退回的行的问题说明，已忽略",
    **{
        h: _NO_FIELD
        for h in (
            "联系人",
            "负责人",
            "管理员",
            "所属街道",
            "街道",
            "街道（镇）",
            "所属镇街",
            "镇街",
            "备注",
            "面积",
            "建设时间",
            "建成时间",
        )
    },
}
_IGNORED = {normal_header(h): why for h, why in IGNORED_HEADERS.items()}


def ignored_header(text: Any) -> str | None:
    """Why a header naming no field is read past (序号, 联系人…), or None if it is not one."""
    if text is None or len(str(text)) > 200:
        return None
    return _IGNORED.get(normal_header(str(text)))


# The Chinese names of the fields the template has no column for (a change to one is
# still reported: a GeoJSON's nested 上图 listings, the 示例 mark).
_LABELS = {
    "id": "ID",
    "listings": "上图信息",
    "sample": "示例",
    "owner": "所属工会",
    "crs": "坐标系",
    "hours_text": "开放时间原文",
    "district_adcode": "区县代码",
    "code": "驿站码",
    "updated_at": "更新时间",
    "version": "版本",
}


def field_label(key: str) -> str:
    """The Chinese name of a field (or of the one-column position) for the report."""
    if key == POSITION:
        return "经纬度"
    if key in _LABELS:
        return _LABELS[key]
    found = FIELD_BY_KEY.get(key)
    if found is None:
        return key
    if found.header:
        return found.header
    # A listing's field without a template column: the provider's name and the field's.
    return next((a for a in found.aliases if not any(c.isascii() for c in a)), found.key)


# What of a file's unrecognised headers is kept for the report: a header is a name, not a
# document (an 800 MB "header" cell was once stored whole and sent back as 838 MB of JSON).
MAX_UNKNOWN_COLUMNS = 50
MAX_HEADER_CHARS = 64


def _short_header(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_HEADER_CHARS else text[: MAX_HEADER_CHARS - 1] + "…"


def map_headers(headers: Iterable[Any]) -> tuple[list[str | None], list[str]]:
    """Map a file's column headers to record fields; return the mapping and unknown headers.

    A position in one column maps to :data:`POSITION`; the headers of
    :data:`IGNORED_HEADERS` (序号, 联系人…) map to nothing and are not unknown either.

    The unknown headers are reported, not stored whole: at most ``MAX_UNKNOWN_COLUMNS`` of
    them, each cut to ``MAX_HEADER_CHARS`` characters, and a last entry saying how many more.
    """
    mapped: list[str | None] = []
    unknown: list[str] = []
    more = 0
    seen: set[str] = set()
    for header in headers:
        text = "" if header is None else str(header)
        name = _ALIAS_TO_FIELD.get(normal_header(text)) if len(text) <= 200 else None
        if header is None or name is None or name in seen:
            mapped.append(None)
            if text.strip() and (name is not None or ignored_header(text) is None):
                if len(unknown) < MAX_UNKNOWN_COLUMNS:
                    unknown.append(_short_header(text))
                else:
                    more += 1
        else:
            mapped.append(name)
            seen.add(name)
    if more:
        unknown.append(f"……另有 {more} 列")
    return mapped, unknown
