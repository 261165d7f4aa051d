"""Turn raw field values (from a file row or a JSON body) into a validated Station.

Every problem is collected, not just the first, so that a clerk sees all that is wrong
with a row at once. Messages are in Chinese with a stable machine code beside them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geodata.crs import CoordinateSystem, parse_crs, to_wgs84
from geodata.districts import DEFAULT_BORDER_TOLERANCE_M, Districts
from geodata.hours import TZ, HoursError, hours, parse_hours
from stations.model import (
    AMENITIES,
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    ENTRY_METHODS,
    STATUS_LABELS,
    Listing,
    Owner,
    OwnerKind,
    Provider,
    Station,
    Status,
)

# China's extent including the South China Sea islands; a coarse test that catches typos and
# swapped axes. The district layer decides the precise question "which district is this in".
CHINA_LON = (73.4, 135.1)
CHINA_LAT = (3.8, 53.6)

MAX_TEXT = {"name": 200, "address": 500, "host": 200, "contact_phone": 50, "brand": 100}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: which field, a stable code, a message, the value."""

    field: str
    code: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        value = self.value if isinstance(self.value, str | int | float | bool) else None
        if value is None and self.value is not None:
            value = str(self.value)
        return {"field": self.field, "code": self.code, "message": self.message, "value": value}


class ValidationError(ValueError):
    """Raised when an input cannot become a Station; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def add(self, field_: str, code: str, message: str, value: Any = None) -> None:
        self.problems.append(Problem(field_, code, message, value))


def in_china_bounds(lon: float, lat: float) -> bool:
    """Return True if WGS-84 ``lon``/``lat`` (degrees) lie inside China's bounding box."""
    return CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    if _blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets turn codes such as 1001 into 1001.0
    return str(value).strip()


_TRUE = {"1", "true", "t", "yes", "y", "是", "有", "√", "✓", "对", "x"}
_FALSE = {"0", "false", "f", "no", "n", "否", "无", "没有", "×", "不", ""}


def parse_bool(value: Any) -> bool:
    """Read a yes/no cell the way unions write it (是/否, 有/无, 1/0, true/false)."""
    if isinstance(value, bool):
        return value
    if _blank(value):
        return False
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        msg = f"不是“是/否”：{value}"
        raise ValueError(msg)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"不是“是/否”：{value}"
    raise ValueError(msg)


_SPLIT = re.compile(r"[,，、;；/|\s]+")


def _vocabulary(
    value: Any, allowed: tuple[str, ...], labels: Mapping[str, str]
) -> tuple[tuple[str, ...], list[str]]:
    """Split a list cell into known codes (English or Chinese labels) and unknown words."""
    if _blank(value):
        return (), []
    items = (
        [str(v) for v in value]
        if isinstance(value, list | tuple | set | frozenset)
        else _SPLIT.split(str(value))
    )
    by_label = {label.lower(): code for code, label in labels.items()}
    by_label.update(_SYNONYMS)
    known: list[str] = []
    unknown: list[str] = []
    for raw in items:
        word = raw.strip()
        if not word:
            continue
        code = word.lower() if word.lower() in allowed else by_label.get(word.lower())
        if code is None or code not in allowed:
            unknown.append(word)
        elif code not in known:
            known.append(code)
    return tuple(sorted(known, key=allowed.index)), unknown


_SYNONYMS = {
    "饮水": "drinking_water",
    "饮水机": "drinking_water",
    "开水": "hot_water",
    "充电": "phone_charging",
    "手机充电": "phone_charging",
    "电瓶车充电": "ebike_charging",
    "电动车充电": "ebike_charging",
    "卫生间": "toilet",
    "洗手间": "toilet",
    "厕所": "toilet",
    "休息座椅": "seating",
    "桌椅": "seating",
    "医药箱": "first_aid",
    "药箱": "first_aid",
    "wi-fi": "wifi",
    "无线网": "wifi",
    "二维码": "qr",
    "扫码": "qr",
    "人脸": "face",
    "人脸识别": "face",
    "刷脸": "face",
    "指纹": "fingerprint",
    "刷身份证": "id_card",
    "人工": "staffed",
    "值守": "staffed",
}


def _number(col: _Collector, field_: str, value: Any) -> float | None:
    if _blank(value):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except ValueError:
        col.add(field_, "invalid_number", f"不是数字：{value}", value)
        return None
    if not math.isfinite(number):
        col.add(field_, "invalid_number", f"不是有效数字：{value}", value)
        return None
    return number


def _datetime(col: _Collector, field_: str, value: Any) -> datetime | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            col.add(
                field_, "invalid_datetime", f"日期时间格式不对（例：2025-06-30 10:00）：{value}"
            )
            return None
    return dt.replace(tzinfo=TZ) if dt.tzinfo is None else dt.astimezone(TZ)


def _listings(col: _Collector, raw: Mapping[str, Any]) -> tuple[Listing, ...]:
    """Listings come as ``listings: [{provider, ...}]`` or flat ``amap_listed``-style columns."""
    entries: list[Mapping[str, Any]] = []
    nested = raw.get("listings")
    if isinstance(nested, list):
        entries.extend(e for e in nested if isinstance(e, Mapping))
    for provider in Provider:
        prefix = f"{provider.value}_"
        flat = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
        if any(not _blank(v) for v in flat.values()):
            entries.append({"provider": provider.value, **flat})
    result: dict[Provider, Listing] = {}
    for entry in entries:
        try:
            provider = Provider(str(entry.get("provider", "")).strip().lower())
        except ValueError:
            col.add("listings", "unknown_provider", f"未知地图平台：{entry.get('provider')}")
            continue
        f = provider.value
        try:
            listed = parse_bool(entry.get("listed"))
            keyword = parse_bool(entry.get("keyword_linked", entry.get("keyword")))
        except ValueError as exc:
            col.add(f"{f}_listed", "invalid_boolean", str(exc))
            continue
        lon = _number(col, f"{f}_lon", entry.get("listed_lon", entry.get("lon")))
        lat = _number(col, f"{f}_lat", entry.get("listed_lat", entry.get("lat")))
        if (lon is None) != (lat is None):
            col.add(f"{f}_lon", "incomplete_position", f"{f} 上图位置需同时填写经度和纬度")
            lon = lat = None
        poi = _text(entry.get("poi_id"))
        result[provider] = Listing(
            provider=provider,
            listed=listed or bool(poi),
            poi_id=poi or None,
            listed_name=_text(entry.get("listed_name", entry.get("name"))) or None,
            listed_lon=lon,
            listed_lat=lat,
            keyword_linked=keyword,
            checked_at=_datetime(col, f"{f}_checked_at", entry.get("checked_at")),
        )
    return tuple(result[p] for p in Provider if p in result)


def _own_district_or_problem(
    col: _Collector,
    adcode: str,
    owner: Owner,
    lon: float,
    lat: float,
    value: str,
    *,
    districts: Districts,
    tolerance_m: float,
    allowed_district: Callable[[Owner, str], bool] | None,
    warnings: list[Problem] | None,
) -> str:
    """The district a district union's station at WGS-84 lon/lat is filed under, when the
    boundary layer puts it in ``adcode`` ("" for none), not in the union's own district.

    Within ``tolerance_m`` of its own district it is the union's own (boundary layers
    disagree by that much: see geodata.districts.DEFAULT_BORDER_TOLERANCE_M), with a
    warning; further out it is a problem naming where it lies.
    """
    if adcode and allowed_district is not None and allowed_district(owner, adcode):
        return adcode
    own = districts.find(owner.code)
    here = districts.find(adcode) if adcode else None
    where = here.name if here else "本系统的区县范围以外"
    gap_m = districts.distance_m(owner.code, lon, lat) if own else math.inf
    if own is not None and gap_m <= tolerance_m:
        if warnings is not None:
            warnings.append(
                Problem(
                    "lon",
                    "near_district_border",
                    f"位置靠近区界：按区县边界数据落在{where}，距{own.name}边界 {gap_m:.0f} 米"
                    f"（容差 {tolerance_m:.0f} 米以内），已按本工会所属的{own.name}登记；"
                    "请确认位置无误",
                    value,
                )
            )
        return owner.code
    if not adcode:
        col.add(
            "lon",
            "outside_districts",
            f"位置（{value}）不在本系统的区县范围内（{districts.source}）",
            value,
        )
    elif own is None:
        col.add(
            "lon", "outside_own_district", f"位置在{where}，不在本工会所属的{owner.code}", value
        )
    else:
        col.add(
            "lon",
            "outside_own_district",
            f"位置在{where}，距本工会所属的{own.name}边界 {gap_m:,.0f} 米，超出区界容差"
            f" {tolerance_m:.0f} 米；请核对经纬度及坐标系（高德、腾讯为 gcj02，百度为 bd09）",
            value,
        )
    return adcode


def build_station(
    raw: Mapping[str, Any],
    *,
    districts: Districts,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    owner: Owner | None = None,
    existing: Station | None = None,
    allowed_district: Callable[[Owner, str], bool] | None = None,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
    warnings: list[Problem] | None = None,
) -> Station:
    """Validate ``raw`` field values and return a Station, or raise ValidationError.

    ``raw`` uses the record's field names (``lon``/``lat`` in ``crs``, ``hours`` as written).
    ``owner`` applies when the row names none. ``existing`` keeps id and version of the
    stored station being changed. A district union's station must lie in its district,
    or within ``border_tolerance_m`` (metres, on the ellipsoid) outside it: then it is
    filed under the union's district and a warning is appended to ``warnings``.
    """
    col = _Collector()
    get = raw.get

    name = _text(get("name"))
    if not name:
        col.add("name", "missing_field", "缺少必填项：名称")
    external_id = _text(get("external_id"))
    if not external_id:
        col.add("external_id", "missing_field", "缺少必填项：编号（本单位的驿站编号）")
    for key, limit in MAX_TEXT.items():
        if len(_text(get(key))) > limit:
            col.add(key, "too_long", f"内容过长（最多 {limit} 个字）", _text(get(key))[:40])

    row_owner = owner
    if not _blank(get("owner")):
        try:
            row_owner = Owner.parse(_text(get("owner")))
        except ValueError as exc:
            col.add("owner", "invalid_owner", f"所属工会无法识别：{exc}", get("owner"))

    row_crs = parse_crs(crs)
    if not _blank(get("crs")):
        try:
            row_crs = parse_crs(_text(get("crs")))
        except ValueError:
            col.add("crs", "invalid_crs", "坐标系只能是 wgs84、gcj02、bd09 或 cgcs2000", get("crs"))

    lon = lat = math.nan
    adcode = ""
    src_lon = _number(col, "lon", get("lon"))
    src_lat = _number(col, "lat", get("lat"))
    if src_lon is None and not any(p.field == "lon" for p in col.problems):
        col.add("lon", "missing_field", "缺少必填项：经度")
    if src_lat is None and not any(p.field == "lat" for p in col.problems):
        col.add("lat", "missing_field", "缺少必填项：纬度")
    if src_lon is not None and src_lat is not None:
        if not in_china_bounds(src_lon, src_lat):
            if in_china_bounds(src_lat, src_lon):
                col.add(
                    "lon",
                    "latlon_swapped",
                    f"经纬度可能填反了：经度 {src_lon}、纬度 {src_lat}；中国境内经度约 73–135，"
                    "纬度约 4–54，请对调两列",
                    f"{src_lon},{src_lat}",
                )
            else:
                col.add(
                    "lon",
                    "outside_china",
                    f"位置不在中国境内：经度 {src_lon}、纬度 {src_lat}",
                    f"{src_lon},{src_lat}",
                )
        else:
            lon, lat = to_wgs84(src_lon, src_lat, crs=row_crs)
            adcode = str(districts.lookup(lon, lat))
            if (
                row_owner is not None
                and row_owner.kind is OwnerKind.DISTRICT
                and adcode != row_owner.code
            ):
                adcode = _own_district_or_problem(
                    col,
                    adcode,
                    row_owner,
                    lon,
                    lat,
                    f"{src_lon},{src_lat}",
                    districts=districts,
                    tolerance_m=border_tolerance_m,
                    allowed_district=allowed_district,
                    warnings=warnings,
                )
            elif not adcode:
                col.add(
                    "lon",
                    "outside_districts",
                    f"位置（{src_lon}, {src_lat}）不在本系统的区县范围内（{districts.source}）",
                    f"{src_lon},{src_lat}",
                )
    if row_owner is None and adcode:
        row_owner = Owner(OwnerKind.DISTRICT, adcode)
    # Without a usable position the owner cannot be derived: that problem is said already.
    if row_owner is None and not any(p.field in ("owner", "lon", "lat") for p in col.problems):
        col.add("owner", "missing_field", "缺少所属工会")

    hours_text = _text(get("hours_text")) or _text(get("hours"))
    osm = ""
    if not hours_text:
        col.add(
            "hours", "missing_field", "缺少必填项：开放时间（例：周一至周五 9:00-18:00、24小时）"
        )
    else:
        try:
            osm = parse_hours(hours_text)
        except HoursError as exc:
            col.add("hours", exc.code, exc.reason, hours_text)

    amenities, unknown = _vocabulary(get("amenities"), AMENITIES, AMENITY_LABELS)
    if unknown:
        allowed = "、".join(f"{AMENITY_LABELS[a]}({a})" for a in AMENITIES)
        col.add(
            "amenities",
            "unknown_amenity",
            f"未知的服务设施：{'、'.join(unknown)}；可选：{allowed}",
            "、".join(unknown),
        )
    entry, unknown = _vocabulary(get("entry_methods"), ENTRY_METHODS, ENTRY_METHOD_LABELS)
    if unknown:
        allowed = "、".join(f"{ENTRY_METHOD_LABELS[e]}({e})" for e in ENTRY_METHODS)
        col.add(
            "entry_methods",
            "unknown_entry_method",
            f"未知的进入方式：{'、'.join(unknown)}；可选：{allowed}",
            "、".join(unknown),
        )

    flags: dict[str, bool] = {}
    for key in ("self_service_24h", "registration_required", "signage_unified", "sample"):
        try:
            flags[key] = parse_bool(get(key))
        except ValueError as exc:
            col.add(key, "invalid_boolean", str(exc), get(key))
            flags[key] = False

    status = Status.ACTIVE
    if not _blank(get("status")):
        word = _text(get("status"))
        by_label = {v: k for k, v in STATUS_LABELS.items()}
        try:
            status = Status(by_label.get(word, word.lower()))
        except ValueError:
            options = "、".join(f"{STATUS_LABELS[s]}({s})" for s in Status)
            col.add("status", "invalid_status", f"未知状态：{word}；可选：{options}", word)

    if flags["self_service_24h"] and osm and not hours(osm).is_24_7:
        col.add(
            "self_service_24h",
            "self_service_not_24_7",
            f"标为24小时自助驿站，但开放时间是“{hours_text}”；请把开放时间改为“24小时”或取消24小时标记",
            hours_text,
        )
    if flags["self_service_24h"] and not entry:
        col.add(
            "entry_methods",
            "entry_methods_missing",
            "24小时自助驿站须填写进入方式（扫码、刷脸、指纹等）",
        )

    listings = _listings(col, raw)

    if col.problems:
        raise ValidationError(col.problems)
    assert row_owner is not None
    return Station(
        id=existing.id if existing else None,
        version=existing.version if existing else 0,
        updated_at=existing.updated_at if existing else None,
        external_id=external_id,
        owner=row_owner,
        name=name,
        address=_text(get("address")),
        host=_text(get("host")),
        contact_phone=_text(get("contact_phone")),
        lon=float(lon),
        lat=float(lat),
        source_lon=src_lon,
        source_lat=src_lat,
        source_crs=row_crs,
        district_adcode=adcode,
        hours=osm,
        hours_text=hours_text,
        self_service_24h=flags["self_service_24h"],
        entry_methods=entry,
        registration_required=flags["registration_required"],
        amenities=amenities,
        status=status,
        signage_unified=flags["signage_unified"],
        brand=_text(get("brand")),
        listings=listings,
        sample=flags["sample"],
    )
