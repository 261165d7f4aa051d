"""Turn raw field values (from a file row or a JSON body) into a validated Station.

Every problem is collected, not just the first, so that a clerk sees all that is wrong
with a row at once. Messages are in Chinese with a stable machine code beside them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Any, Final

import numpy as np

from geodata.crs import CoordinateSystem, parse_crs, to_wgs84
from geodata.districts import DEFAULT_BORDER_TOLERANCE_M, Districts
from geodata.hours import HoursError, hours, parse_hours, read_hours
from geodata.when import TimeError, parse_time
from stations.domain.mobile_validation import FIXED, StopChecks, Timetable, read_timetable
from stations.domain.model import (
    AMENITIES,
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    ENTRY_METHODS,
    PROVIDER_LABELS,
    STATUS_LABELS,
    Listing,
    Owner,
    OwnerKind,
    Provider,
    Station,
    Status,
    Stop,
)

# China's extent including the South China Sea islands; a coarse test that catches typos and
# swapped axes. The district layer decides the precise question "which district is this in".
CHINA_LON = (73.4, 135.1)
CHINA_LAT = (3.8, 53.6)
# Two positions this close are the same place: a spreadsheet keeps 15 significant digits
# (1e-12°), and 9e-9° is at most 1.0 mm (of latitude; less of longitude).
SAME_POSITION_DEG = 9e-9

MAX_TEXT = {
    "external_id": 64,
    "name": 200,
    "address": 500,
    "host": 200,
    "contact_phone": 50,
    "brand": 100,
    "poi_id": 64,
    "listed_name": 200,
}

# The fields a station input may hold (a JSON body, or a file row after its headers are
# read); a listing's, nested under ``listings`` or flat as ``amap_listed`` and the like.
STATION_FIELDS = frozenset(
    {
        "external_id",
        "name",
        "address",
        "host",
        "contact_phone",
        "brand",
        "owner",
        "crs",
        "lon",
        "lat",
        "hours",
        "hours_text",
        "amenities",
        "entry_methods",
        "self_service_24h",
        "registration_required",
        "signage_unified",
        "sample",
        "status",
        "listings",
        "mobile",
        "stops",
    }
)
LISTING_FIELDS = frozenset(
    {
        "provider",
        "listed",
        "poi_id",
        "listed_name",
        "listed_lon",
        "listed_lat",
        "lon",
        "lat",
        "keyword_linked",
        "keyword",
        "checked_at",
        "name",
    }
)
# What a GET answers beside the input fields: derived or bookkeeping, never written.
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "code",
        "page_url",
        "version",
        "updated_at",
        "district_adcode",
        "district_name",
        "source_lon",
        "source_lat",
        "source_crs",
        "mapped_state",
        "navigation",
        # a listing's, as GET answers it
        "crs",
        "offset_m",
        "precise",
    }
)


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
        if isinstance(value, str):
            value = visible(value)
        # Messages quote what was written: a refused NUL is reported written out, never
        # stored (PostgreSQL's text refuses it; SQLite would keep it).
        return {
            "field": visible(self.field),
            "code": self.code,
            "message": visible(self.message),
            "value": value,
        }


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


# C0 and C1 control characters (NUL among them: PostgreSQL's text type refuses it where
# SQLite stores it) and the bidirectional controls that make text display other than it
# reads ("Trojan Source"). Tab and line breaks are what a spreadsheet cell holds after
# Alt+Enter, so station text keeps them; names that are identifiers do not.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_BREAKS = re.compile("[\t\n\r\u2028\u2029]")


def text_problem(text: str, *, line_breaks: bool = True) -> str | None:
    """Why ``text`` may not be stored (in Chinese), or None if it may.

    The one rule for user text (station fields, upload file names, demand layer names):
    no control characters and no bidirectional overrides; line breaks only if
    ``line_breaks``.
    """
    bad = _FORBIDDEN.search(text) or (None if line_breaks else _BREAKS.search(text))
    if bad is None:
        return None
    return (
        f"含有不允许的控制字符 U+{ord(bad.group()):04X}（第 {bad.start() + 1} 个字符），"
        "常见于从网页或其他系统复制的文字；请删除后重新填写"
    )


def visible(text: str) -> str:
    """``text`` with each forbidden character written as ``\\uXXXX``: safe to store and show."""
    return _FORBIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_text(field_: str, value: str, *, line_breaks: bool = False) -> str:
    """Return ``value`` stripped, or raise ValidationError naming ``field_``."""
    reason = text_problem(value, line_breaks=line_breaks)
    if reason is not None:
        raise ValidationError([Problem(field_, "control_character", reason, visible(value))])
    return value.strip()


# A Chinese telephone number as clerks write it: mobile 13800138000 (+86 optional),
# landline 023-63888888 or (023)6388 8888, 400/800 numbers, short service numbers such as
# the unions' 12351, each with an optional extension (转123, 分机123, ext 123, #123, or
# 023-63888888-8001). Several are separated by 、，,;/ or 或; full-width digits are read.
_PHONE_SPLIT = re.compile(r"\s*(?:[、,;/\n]|或)\s*")
_PHONE = re.compile(
    r"(?:\+?86[\s-]?)?(?P<number>[\d\s()\-—–]+?)"
    r"\s*(?:(?:转|分机|ext\.?|x|#)\s*(?P<ext>\d{1,6}))?",
    re.IGNORECASE,
)
# What clerks write in the column when a station has no telephone: kept as none.
NO_PHONE = frozenset({"无", "暂无", "没有", "-", "/", "—"})


def _phone_digits_ok(digits: str) -> bool:
    if digits.startswith("1") and len(digits) > 6:
        return len(digits) == 11 and digits[1] in "3456789"  # a mobile number
    return len(digits) in (5, 6, 7, 8, 10, 11, 12)


def phone_problem(text: str) -> str | None:
    """Why ``text`` is not a telephone number (or several) as written in China, or None."""
    # An upload's rows repeat their unions' numbers: those are read once; a long cell
    # (a hostile file's, up to 128 KiB) is not kept.
    return _phone_problem(text) if len(text) <= _CACHED_PHONE_CHARS else _read_phone(text)


_CACHED_PHONE_CHARS = 64
# Cells read once per distinct text (list cells, unions) when no longer than this: a
# hostile file's long cells (up to 128 KiB each) are read each time, never kept.
_CACHED_CELL_CHARS = 256


@lru_cache(maxsize=4096)
def _phone_problem(text: str) -> str | None:
    return _read_phone(text)


def _read_phone(text: str) -> str | None:
    for part in _PHONE_SPLIT.split(unicodedata.normalize("NFKC", text).strip()):
        match = _PHONE.fullmatch(part)
        number = match.group("number").strip(" -—–") if match else ""
        ok = _phone_digits_ok(re.sub(r"\D", "", number))
        if match and not ok and not match.group("ext"):
            # 023-63888888-8001: the last group after a dash is an extension.
            head, _, ext = number.rpartition("-")
            ok = len(ext) <= 6 and ext.isdigit() and head.lstrip().startswith(("0", "(0"))
            ok = ok and _phone_digits_ok(re.sub(r"\D", "", head))
        if not ok:
            return (
                f"电话号码无法识别：{part or text}；请写手机号（13800138000）、"
                "带区号的座机（023-63888888，分机写“转123”）或 400/12351 等服务号码，"
                "多个号码用“、”分开；没有电话可留空"
            )
    return None


def in_china_bounds(lon: float, lat: float) -> bool:
    """Return True if WGS-84 ``lon``/``lat`` (degrees) lie inside China's bounding box."""
    return CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]


def on_earth(lon: float, lat: float) -> bool:
    """Return True if ``lon`` is -180..180 and ``lat`` -90..90 (degrees): a position at all."""
    return -180 <= lon <= 180 and -90 <= lat <= 90


class PositionVerdict(StrEnum):
    """What a given lon/lat is, for a registry of stations in China (each caller words it)."""

    IN_CHINA = "in_china"
    SWAPPED = "swapped"  # outside China as given, inside with lon and lat exchanged
    OUTSIDE_CHINA = "outside_china"  # a position, but not in China
    NOT_A_POSITION = "not_a_position"  # lon outside -180..180 or lat outside -90..90


def position_verdict(lon: float, lat: float) -> PositionVerdict:
    """The one rule for positions yizhan takes: inside China's box, and a position that is
    inside it read the other way round has its axes swapped (a common spreadsheet slip)."""
    if in_china_bounds(lon, lat):
        return PositionVerdict.IN_CHINA
    if in_china_bounds(lat, lon):
        return PositionVerdict.SWAPPED
    if on_earth(lon, lat):
        return PositionVerdict.OUTSIDE_CHINA
    return PositionVerdict.NOT_A_POSITION


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


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "对象 object"
    if isinstance(value, list | tuple | set | frozenset):
        return "列表 list"
    return type(value).__name__


def _is_text_like(value: Any) -> bool:
    # Spreadsheets give numbers (codes, phone numbers) and dates where text was meant.
    return not isinstance(value, bool | Mapping | list | tuple | set | frozenset | bytes)


def _string(
    col: _Collector, field_: str, value: Any, *, limit: int | None = None, line_breaks: bool = True
) -> str:
    """A text field: refused if it is not text, holds control characters or is too long."""
    if type(value) is str:  # most cells: what _blank and _text say of text, said directly
        text = value.strip()
        if not text:
            return ""
    else:
        if _blank(value):
            return ""
        if not _is_text_like(value):
            col.add(field_, "not_text", f"应为文字，而不是{_type_name(value)}：{value!r}"[:200])
            return ""
        text = _text(value)
    reason = text_problem(text, line_breaks=line_breaks)
    if reason is not None:
        col.add(field_, "control_character", reason, visible(text)[:40])
        return ""
    if limit is not None and len(text) > limit:
        col.add(
            field_, "too_long", f"内容过长（最多 {limit} 个字，这里有 {len(text)} 个）", text[:40]
        )
        return ""
    return text


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
    by_label = _word_table(labels)
    rank = _ranks(allowed)
    known: list[str] = []
    unknown: list[str] = []
    for raw in items:
        word = raw.strip()
        if not word:
            continue
        code = _word_code(word, rank, by_label)
        if code is None:
            unknown.append(word)
        elif code not in known:
            known.append(code)
    return tuple(sorted(known, key=rank.__getitem__)), unknown


def _word_code(word: str, rank: Mapping[str, int], by_label: Mapping[str, str]) -> str | None:
    """The code a list cell's word (stripped, not blank) names: its own or its label's;
    None: no allowed code."""
    low = word.lower()
    code = low if low in rank else by_label.get(low)
    return code if code is not None and code in rank else None


_WORDS_KEPT = 4096  # distinct words kept per list field (the labels and a few misspellings)
_WORD_CODES: dict[str, dict[str, str | None]] = {}


def _amenity_list(value: str | None) -> tuple[str, ...] | None:
    return _plain_list("amenities", value)


def _entry_list(value: str | None) -> tuple[str, ...] | None:
    return _plain_list("entry_methods", value)


def _plain_list(key: str, value: str | None) -> tuple[str, ...] | None:
    """What _list_cells reads of a text cell (None: an unknown word, a problem), read word
    by word with each word's code kept: a file's list cells are thousands of different
    combinations (more than _read_once keeps), of a few dozen words."""
    if _blank(value):
        return ()
    assert value is not None
    allowed, labels = _LIST_CELLS[key][:2]
    rank = _ranks(allowed)
    by_label = _word_table(labels)
    kept = _WORD_CODES.setdefault(key, {})
    known: list[str] = []
    for raw in _SPLIT.split(value):
        word = raw.strip()
        if not word:
            continue
        code = kept.get(word, _UNREAD)
        if code is _UNREAD:
            code = _word_code(word, rank, by_label)
            if len(word) <= _CACHED_CELL_CHARS:  # a hostile file's long words: not kept
                if len(kept) >= _WORDS_KEPT:
                    kept.clear()
                kept[word] = code
        if code is None:
            return None
        if code not in known:
            known.append(code)
    return tuple(sorted(known, key=rank.__getitem__))


_RANKS: dict[tuple[str, ...], dict[str, int]] = {}


def _ranks(allowed: tuple[str, ...]) -> dict[str, int]:
    """Each allowed code's place in ``allowed`` (the order codes are kept in)."""
    found = _RANKS.get(allowed)
    if found is None:
        found = {}
        for i, code in enumerate(allowed):
            found.setdefault(code, i)  # allowed.index: the first place
        if len(_RANKS) < 64:
            _RANKS[allowed] = found
    return found


def _word_table(labels: Mapping[str, str]) -> Mapping[str, str]:
    """Lower-cased labels and synonyms to codes: built once for the model's two tables."""
    table = _WORD_TABLES.get(id(labels))
    if table is not None and table[0] is labels:
        return table[1]
    by_label = {label.lower(): code for code, label in labels.items()}
    by_label.update(_SYNONYMS)
    return by_label


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
    "免费wifi": "wifi",
    "微波": "microwave",
    "热水器": "hot_water",
    "饮用热水": "hot_water",
    "直饮水": "drinking_water",
    "应急药箱": "first_aid",
    "书报": "books",
    "书籍": "books",
    "爱心雨伞": "umbrella",
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


_WORD_TABLES: dict[int, tuple[Mapping[str, str], Mapping[str, str]]] = {}
for _labels in (AMENITY_LABELS, ENTRY_METHOD_LABELS):
    _WORD_TABLES[id(_labels)] = (_labels, _word_table(_labels))


def amenity_words(value: Any) -> tuple[tuple[str, ...], list[str]]:
    """A clerk's amenities text ("饮水、微波炉、充电、厕所") as known codes and unknown words
    (the one word table: labels and :data:`_SYNONYMS`)."""
    return _vocabulary(value, AMENITIES, AMENITY_LABELS)


def _number(col: _Collector, field_: str, value: Any) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool) or not _is_text_like(value):
        col.add(field_, "invalid_number", f"不是数字：{value!r}"[:200])
        return None
    try:
        # NFKC: a Chinese input method's full-width １０６．５８ (float takes the digits, not ．).
        # (ASCII text is its own NFKC form: most cells skip the normalisation.)
        text = (
            value.strip()
            if type(value) is str and value.isascii()
            else unicodedata.normalize("NFKC", str(value)).strip()
        )
        number = float(text) if not isinstance(value, int | float) else float(value)
    except ValueError:
        col.add(field_, "invalid_number", f"不是数字：{value}", value)
        return None
    if not math.isfinite(number):
        col.add(field_, "invalid_number", f"不是有效数字：{value}", value)
        return None
    return number


def _plain_number(col: _Collector, value: Any) -> float | None:
    """What _number reads of a cell, where it has no problem with it (None otherwise);
    ASCII text without its Unicode normalisation, which leaves ASCII as it is."""
    if type(value) is str and value.isascii():
        try:
            number = float(value)  # float, as _number, ignores surrounding whitespace
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return _number(col, "lon", value)


def _datetime(col: _Collector, field_: str, value: Any) -> datetime | None:
    if _blank(value):
        return None
    try:
        return parse_time(value if isinstance(value, datetime) else str(value))
    except TimeError as exc:
        code = "time_out_of_range" if exc.code == "time_out_of_range" else "invalid_datetime"
        col.add(field_, code, exc.zh, str(value))
        return None


def _position_problem(col: _Collector, field_: str, lon: float, lat: float) -> bool:
    """Add the problem with a position outside China (or with swapped axes); True if any."""
    verdict = position_verdict(lon, lat)
    if verdict is PositionVerdict.IN_CHINA:
        return False
    if verdict is PositionVerdict.SWAPPED:
        col.add(
            field_,
            "latlon_swapped",
            f"经纬度可能填反了：经度 {lon}、纬度 {lat}；中国境内经度约 73–135，"
            "纬度约 4–54，请对调两列",
            f"{lon},{lat}",
        )
    else:
        col.add(
            field_, "outside_china", f"位置不在中国境内：经度 {lon}、纬度 {lat}", f"{lon},{lat}"
        )
    return True


def _unknown_fields(col: _Collector, keys: Iterable[Any], known: frozenset[str], at: str) -> None:
    for key in keys:
        if key in known:
            continue
        if key in READ_ONLY_FIELDS:
            col.add(f"{at}{key}", "read_only_field", f"“{key}”由系统生成，不能填写；请去掉这一项")
        else:
            col.add(
                f"{at}{key}",
                "unknown_field",
                f"未知字段“{key}”（拼写错误？）；可填：{'、'.join(sorted(known))}",
                str(key),
            )


_LISTING_PREFIXES = tuple(f"{p.value}_" for p in Provider)


def _listings(col: _Collector, raw: Mapping[str, Any], *, strict: bool) -> tuple[Listing, ...]:
    """Listings come as ``listings: [{provider, ...}]`` or flat ``amap_listed``-style columns."""
    entries: list[tuple[str, Mapping[str, Any]]] = []
    nested = raw.get("listings")
    if isinstance(nested, list | tuple):
        for i, e in enumerate(nested):
            if isinstance(e, Mapping):
                entries.append((f"listings[{i}].", e))
                if strict:
                    _unknown_fields(col, e, LISTING_FIELDS, f"listings[{i}].")
            else:
                col.add(
                    f"listings[{i}]",
                    "not_an_object",
                    f"每个上图记录应为对象（provider、listed…），而不是{_type_name(e)}",
                )
    elif not _blank(nested):
        col.add(
            "listings",
            "not_a_list",
            f'listings 应为列表（[{{"provider": "amap", …}}]），而不是{_type_name(nested)}',
        )
    flat_keys = [k for k in raw if isinstance(k, str) and k.startswith(_LISTING_PREFIXES)]
    if flat_keys and all(_blank(raw[k]) for k in flat_keys):
        flat_keys = []  # no provider has a cell: none gives an entry
    if not flat_keys and not entries:
        return ()  # most rows: no listing at all (and no pass over the providers)
    for provider, prefix in zip(Provider, _LISTING_PREFIXES, strict=True):
        if not flat_keys:
            break
        flat = {k[len(prefix) :]: raw[k] for k in flat_keys if k.startswith(prefix)}
        if any(not _blank(v) for v in flat.values()):
            entries.append((prefix, {"provider": provider.value, **flat}))
    result: dict[Provider, Listing] = {}
    for _, entry in entries:
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
            col.add(
                f"{f}_lon",
                "incomplete_position",
                f"{PROVIDER_LABELS[f]}上图位置需同时填写经度和纬度",
            )
            lon = lat = None
        if lon is not None and lat is not None and _position_problem(col, f"{f}_lon", lon, lat):
            lon = lat = None
        poi = _string(
            col, f"{f}_poi_id", entry.get("poi_id"), limit=MAX_TEXT["poi_id"], line_breaks=False
        )
        listed_name = _string(
            col,
            f"{f}_listed_name",
            entry.get("listed_name", entry.get("name")),
            limit=MAX_TEXT["listed_name"],
        )
        result[provider] = Listing(
            provider=provider,
            listed=listed or bool(poi),
            poi_id=poi or None,
            listed_name=listed_name or None,
            listed_lon=lon,
            listed_lat=lat,
            keyword_linked=keyword,
            checked_at=_datetime(col, f"{f}_checked_at", entry.get("checked_at")),
        )
    return tuple(result[p] for p in Provider if p in result)


def hours_warnings(station: Station) -> list[dict[str, Any]]:
    """The row report's word on how a station's hours (and its stops') were read, where the
    union's text said nothing of holidays: which reading was taken and how to say otherwise
    (Chinese)."""
    said = [("hours", "开放时间", station.hours_text, station.hours)]
    said += [
        (f"stops[{i}].hours", f"第 {i + 1} 个停靠点“{s.name}”的停靠时间", s.hours_text, s.hours)
        for i, s in enumerate(station.stops)
    ]
    out = []
    for field_, what, text, osm in said:
        found = _hours_warning(field_, what, text, osm)
        if found is not None:
            out.append(found)
    return out


def plain_hours_warnings(hours_text: str, osm: str) -> list[dict[str, Any]]:
    """hours_warnings of a fixed station whose hours are ``hours_text`` read as ``osm``."""
    found = _hours_warning("hours", "开放时间", hours_text, osm)
    return [] if found is None else [found]


def _hours_warning(field_: str, what: str, text: str, osm: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        note = read_hours(text).note
    except HoursError:  # a stored station from before a parser change: nothing to report
        return None
    if note is None:
        return None
    message = f"{what}“{text}”{note}（记为 {osm}）"
    return {"code": "hours_holiday_reading", "field": field_, "message": message}


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
    warnings: list[Problem] | None,
) -> str:
    """The district a district union's station at WGS-84 lon/lat is filed under, when the
    boundary layer puts it in ``adcode`` ("" for none), not in the union's own district.

    Within ``tolerance_m`` of its own district it is the union's own (boundary layers
    disagree by that much: see geodata.districts.DEFAULT_BORDER_TOLERANCE_M), with a
    warning; further out it is a problem naming where it lies.
    """
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
        far = (
            f"，距本工会所属的{own.name}边界 {gap_m:,.0f} 米，超出区界容差 {tolerance_m:.0f} 米；"
            "请核对经纬度及坐标系（高德、腾讯为 gcj02，百度为 bd09）"
            if own is not None
            else ""
        )
        col.add(
            "lon",
            "outside_districts",
            f"位置（{value}）不在本系统的区县范围内（{districts.source}）{far}",
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


def _text_fields(col: _Collector, get: Callable[[str], Any]) -> dict[str, str]:
    """The record's text: each checked, the name and code required, the telephone read."""
    text = {
        key: _string(col, key, get(key), limit=MAX_TEXT[key], line_breaks=key != "external_id")
        for key in ("external_id", "name", "address", "host", "contact_phone", "brand")
    }
    if not text["name"] and not any(p.field == "name" for p in col.problems):
        col.add("name", "missing_field", "缺少必填项：名称")
    if not text["external_id"] and not any(p.field == "external_id" for p in col.problems):
        col.add("external_id", "missing_field", "缺少必填项：编号（本单位的驿站编号）")
    if text["contact_phone"] in NO_PHONE:
        text["contact_phone"] = ""
    if text["contact_phone"]:
        reason = phone_problem(text["contact_phone"])
        if reason is not None:
            col.add("contact_phone", "invalid_phone", reason, text["contact_phone"])
    return text


def _owner_and_crs(
    col: _Collector,
    get: Callable[[str], Any],
    owner: Owner | None,
    crs: CoordinateSystem | str,
) -> tuple[Owner | None, CoordinateSystem]:
    """The union the row names (else ``owner``), and the system its positions are in."""
    row_owner = owner
    owner_text = _string(col, "owner", get("owner"), line_breaks=False)
    if owner_text:
        parsed = (
            _owner_of(owner_text)
            if len(owner_text) <= _CACHED_CELL_CHARS
            else _owner_of.__wrapped__(owner_text)
        )
        if isinstance(parsed, Owner):
            row_owner = parsed
        else:
            col.add("owner", "invalid_owner", f"所属工会无法识别：{parsed}", get("owner"))
    row_crs = parse_crs(crs)
    crs_text = _string(col, "crs", get("crs"), line_breaks=False)
    if crs_text:
        try:
            row_crs = parse_crs(crs_text)
        except ValueError:
            col.add("crs", "invalid_crs", "坐标系只能是 wgs84、gcj02、bd09 或 cgcs2000", get("crs"))
    return row_owner, row_crs


@lru_cache(maxsize=4096)  # a sheet names a handful of unions, row after row
def _owner_of(text: str) -> Owner | str:
    """The union ``text`` names, or why it names none."""
    try:
        return Owner.parse(text)
    except ValueError as exc:
        return str(exc)


# A row's position as converted ahead, for a chunk of rows at once (convert_positions):
# (lon, lat, system as written) -> (WGS-84 lon, lat, the district holding it, "" for none).
Converted = Mapping[tuple[float, float, CoordinateSystem], tuple[float, float, str]]


def convert_positions(
    rows: Sequence[Mapping[str, Any]], *, crs: CoordinateSystem | str, districts: Districts
) -> dict[tuple[float, float, CoordinateSystem], tuple[float, float, str]]:
    """The WGS-84 position and district of every row's lon/lat inside China, converted in
    one vectorised pass per coordinate system and one district lookup (``crs``: a row's
    system unless it names its own): what :func:`build_station` would find one row at a
    time, to the bit (the array conversions give each point the floats it gets alone).

    A cell that is not a plain position (blank, not a number, outside China, an unknown
    system) is left out: build_station then takes its own path and words its problem.
    """
    default = parse_crs(crs)
    by_system: dict[CoordinateSystem, dict[tuple[float, float], None]] = {}
    scratch = _Collector()
    for raw in rows:
        get = raw.get
        system = default
        named = get("crs")
        if not _blank(named):
            if not isinstance(named, str):
                continue
            try:
                system = parse_crs(named)
            except ValueError:
                continue
        src_lon = _plain_number(scratch, get("lon"))
        src_lat = _plain_number(scratch, get("lat"))
        if src_lon is None or src_lat is None or not in_china_bounds(src_lon, src_lat):
            continue
        by_system.setdefault(system, {})[(src_lon, src_lat)] = None
    keys: list[tuple[float, float, CoordinateSystem]] = []
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    for system, points in by_system.items():
        src = np.array(list(points), dtype=np.float64).reshape(-1, 2)
        x, y = to_wgs84(src[:, 0], src[:, 1], crs=system)
        keys.extend((px, py, system) for px, py in points)
        lons.append(np.asarray(x, np.float64))
        lats.append(np.asarray(y, np.float64))
    if not keys:
        return {}
    lon, lat = np.concatenate(lons), np.concatenate(lats)
    adcodes = districts.lookup(lon, lat).tolist()
    return dict(zip(keys, zip(lon.tolist(), lat.tolist(), adcodes, strict=True), strict=True))


@dataclass(frozen=True, slots=True)
class _Position:
    lon: float  # WGS-84; NaN when there is no usable position
    lat: float
    source_lon: float | None  # as written, in the row's system
    source_lat: float | None
    adcode: str  # the district it is filed under; "" for none


def _position(
    col: _Collector,
    get: Callable[[str], Any],
    row_crs: CoordinateSystem,
    row_owner: Owner | None,
    *,
    districts: Districts,
    existing: Station | None,
    border_tolerance_m: float,
    warnings: list[Problem] | None,
    converted: Converted | None = None,
) -> _Position:
    """The position in WGS-84 and the district it is filed under (see build_station)."""
    lon = lat = math.nan
    adcode = ""
    src_lon = _number(col, "lon", get("lon"))
    src_lat = _number(col, "lat", get("lat"))
    if src_lon is None and not any(p.field == "lon" for p in col.problems):
        col.add("lon", "missing_field", "缺少必填项：经度")
    if src_lat is None and not any(p.field == "lat" for p in col.problems):
        col.add("lat", "missing_field", "缺少必填项：纬度")
    if src_lon is None or src_lat is None or _position_problem(col, "lon", src_lon, src_lat):
        return _Position(lon, lat, src_lon, src_lat, adcode)
    ahead = converted.get((src_lon, src_lat, row_crs)) if converted else None
    if ahead is not None:
        lon, lat, looked_up = ahead
    else:
        lon, lat = to_wgs84(src_lon, src_lat, crs=row_crs)
    if (
        existing is not None
        and existing.district_adcode
        and row_owner == existing.owner
        and abs(lon - existing.lon) <= SAME_POSITION_DEG
        and abs(lat - existing.lat) <= SAME_POSITION_DEG
    ):
        # A position accepted before is not judged again when other fields change:
        # the border tolerance or the boundary layer may have changed since.
        adcode = existing.district_adcode
    else:
        adcode = looked_up if ahead is not None else str(districts.lookup(lon, lat))
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
                warnings=warnings,
            )
        elif not adcode:
            _outside_districts(col, src_lon, src_lat, districts)
    return _Position(lon, lat, src_lon, src_lat, adcode)


def _outside_districts(col: _Collector, lon: float, lat: float, districts: Districts) -> None:
    col.add(
        "lon",
        "outside_districts",
        f"位置（{lon}, {lat}）不在本系统的区县范围内（{districts.source}）",
        f"{lon},{lat}",
    )


_AXES = {"lon": "经度", "lat": "纬度"}


@dataclass(frozen=True, slots=True)
class _StopPlace:
    """The station's position rules, applied to the stops of a mobile station (see
    stations.domain.mobile_validation): the same reading of numbers, China's box, the exact
    conversion from the request's system, the districts and a district union's own
    district within the border tolerance. A stop where the stored station already had one
    (within SAME_POSITION_DEG, same owner) is not judged again, as the station's own."""

    col: _Collector
    row_crs: CoordinateSystem
    row_owner: Owner | None
    districts: Districts
    existing: Station | None
    border_tolerance_m: float
    warnings: list[Problem] | None

    def __call__(
        self, field_: str, label: str, lon_value: Any, lat_value: Any
    ) -> tuple[float, float] | None:
        sub = _Collector()
        said: list[Problem] = []
        lon, lat = _number(sub, "lon", lon_value), _number(sub, "lat", lat_value)
        where = None
        if lon is None or lat is None:
            if not sub.problems:
                sub.add("lon", "missing_field", "缺少经纬度（经度,纬度）")
        elif not _position_problem(sub, "lon", lon, lat):
            x, y = to_wgs84(lon, lat, crs=self.row_crs)
            where = (float(x), float(y))
            if not self._known(*where):
                self._district(sub, lon, lat, where, said)
        for p in sub.problems:
            # "经度不是数字：abc": which of the pair, where the number is what is wrong.
            axis = _AXES.get(p.field, "") if p.code == "invalid_number" else ""
            self.col.add(field_, p.code, f"{label}：{axis}{p.message}", p.value)
        if self.warnings is not None:
            self.warnings.extend(
                Problem(field_, w.code, f"{label}：{w.message}", w.value) for w in said
            )
        return None if sub.problems else where

    def _known(self, lon: float, lat: float) -> bool:
        old = self.existing
        return (
            old is not None
            and self.row_owner == old.owner
            and any(
                abs(lon - s.lon) <= SAME_POSITION_DEG and abs(lat - s.lat) <= SAME_POSITION_DEG
                for s in old.stops
            )
        )

    def _district(
        self,
        sub: _Collector,
        lon: float,
        lat: float,
        where: tuple[float, float],
        said: list[Problem],
    ) -> None:
        adcode = str(self.districts.lookup(*where))
        owner = self.row_owner
        if owner is not None and owner.kind is OwnerKind.DISTRICT and adcode != owner.code:
            _own_district_or_problem(
                sub,
                adcode,
                owner,
                *where,
                f"{lon},{lat}",
                districts=self.districts,
                tolerance_m=self.border_tolerance_m,
                warnings=said,
            )
        elif not adcode:
            _outside_districts(sub, lon, lat, self.districts)


def _timetable(
    col: _Collector,
    get: Callable[[str], Any],
    place: _StopPlace,
    *,
    strict: bool,
) -> tuple[bool, Timetable]:
    """Whether the station is mobile (流动驿站), and its stops, checked."""
    mobile_value, stops_value = get("mobile"), get("stops")
    if mobile_value is None and stops_value is None:
        return False, FIXED  # most rows: no such column, no such field
    said = len(col.problems)
    mobile = _flag(col, "mobile", mobile_value)
    if len(col.problems) > said:  # neither yes nor no: the stops are not judged by it
        return False, FIXED
    return mobile, read_timetable(
        stops_value, mobile=mobile, checks=_stop_checks(col, place), strict=strict
    )


def _stop_checks(col: _Collector, place: _StopPlace) -> StopChecks:
    return StopChecks(
        add=col.add,
        text=lambda field_, value: _string(col, field_, value, line_breaks=False),
        position=place,
    )


@dataclass(frozen=True, slots=True)
class StopsRead:
    """A timetable checked alone: its stops (none unless every stop is right), the
    problems and the warnings (a stop near the district's border)."""

    stops: tuple[Stop, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]


def check_stops(
    value: Any,
    *,
    crs: CoordinateSystem,
    owner: Owner | None,
    districts: Districts,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
    now: datetime | None = None,
) -> StopsRead:
    """A mobile station's stops (a sheet cell's text or a list, positions in ``crs``) by
    the rules build_station applies to them, for ``owner``'s station (a district union's
    stops in its own district), with no station around them: the console form's live
    check. ``now`` starts the overlap horizon (today)."""
    col = _Collector()
    warnings: list[Problem] = []
    place = _StopPlace(col, crs, owner, districts, None, border_tolerance_m, warnings)
    read = read_timetable(value, mobile=True, checks=_stop_checks(col, place), now=now)
    return StopsRead(read.stops, tuple(col.problems), tuple(warnings))


def _derived_owner(col: _Collector, row_owner: Owner | None, adcode: str) -> Owner | None:
    """A row naming no union belongs to the district union where it lies."""
    if row_owner is None and adcode:
        row_owner = Owner(OwnerKind.DISTRICT, adcode)
    # Without a usable position the owner cannot be derived: that problem is said already.
    if row_owner is None and not any(p.field in ("owner", "lon", "lat") for p in col.problems):
        col.add("owner", "missing_field", "缺少所属工会")
    return row_owner


def _opening_hours(col: _Collector, get: Callable[[str], Any]) -> tuple[str, str]:
    """The hours as written, and read (OSM opening_hours); required."""
    hours_text = _string(col, "hours_text", get("hours_text")) or _string(
        col, "hours", get("hours")
    )
    osm = ""
    if not hours_text and not any(p.field in ("hours", "hours_text") for p in col.problems):
        col.add(
            "hours", "missing_field", "缺少必填项：开放时间（例：周一至周五 9:00-18:00、24小时）"
        )
    else:
        try:
            osm = parse_hours(hours_text)
        except HoursError as exc:
            col.add("hours", exc.code, exc.reason, hours_text)
    return hours_text, osm


def _known_words(
    col: _Collector,
    key: str,
    value: Any,
    allowed: tuple[str, ...],
    labels: Mapping[str, str],
    code: str,
    what: str,
) -> tuple[str, ...]:
    """The known codes of a list cell; the unknown words are one problem naming the choices."""
    known, unknown = _vocabulary(value, allowed, labels)
    if unknown:
        choices = "、".join(f"{labels[a]}({a})" for a in allowed)
        col.add(
            key,
            code,
            f"未知的{what}：{'、'.join(unknown)}；可选：{choices}",
            "、".join(unknown),
        )
    return known


def _amenities_and_entry(
    col: _Collector, get: Callable[[str], Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The amenities and entry methods, each a list or text of known words."""
    lists: dict[str, Any] = {}
    for key in ("amenities", "entry_methods"):
        lists[key] = get(key)
        if isinstance(lists[key], Mapping | bool):
            col.add(
                key,
                "not_a_list",
                f'应为列表（["hot_water", …]）或用“、”分开的文字，而不是{_type_name(lists[key])}',
            )
            lists[key] = None
    return _list_cell(col, "amenities", lists["amenities"]), _list_cell(
        col, "entry_methods", lists["entry_methods"]
    )


_LIST_CELLS: dict[str, tuple[tuple[str, ...], Mapping[str, str], str, str]] = {
    "amenities": (AMENITIES, AMENITY_LABELS, "unknown_amenity", "服务设施"),
    "entry_methods": (ENTRY_METHODS, ENTRY_METHOD_LABELS, "unknown_entry_method", "进入方式"),
}


def _list_cell(col: _Collector, key: str, value: Any) -> tuple[str, ...]:
    """A list cell's known codes; text is read once per distinct cell (an upload's rows
    repeat the same few), anything else each time."""
    if isinstance(value, str):
        read = _list_text if len(value) <= _CACHED_CELL_CHARS else _list_text.__wrapped__
        known, problems = read(key, value)
        col.problems.extend(problems)
        return known
    return _known_words(col, key, value, *_LIST_CELLS[key])


@lru_cache(maxsize=4096)
def _list_text(key: str, text: str) -> tuple[tuple[str, ...], tuple[Problem, ...]]:
    col = _Collector()
    return _known_words(col, key, text, *_LIST_CELLS[key]), tuple(col.problems)


def _flags(col: _Collector, get: Callable[[str], Any]) -> dict[str, bool]:
    return {
        key: _flag(col, key, get(key))
        for key in ("self_service_24h", "registration_required", "signage_unified", "sample")
    }


def _flag(col: _Collector, key: str, value: Any) -> bool:
    """A yes/no field (是/否 and the rest, see parse_bool); a problem if it is neither."""
    if value is None:
        return False  # what parse_bool says of a blank
    read = _BOOL_TEXT.get(value) if type(value) is str else None
    if read is None:
        try:
            read = parse_bool(value)
        except ValueError as exc:
            read = str(exc)
        if type(value) is str and len(value) <= 64 and len(_BOOL_TEXT) < 4096:
            _BOOL_TEXT[value] = read
    if isinstance(read, str):
        col.add(key, "invalid_boolean", read, value)
        return False
    return read


# A yes/no cell's text -> what parse_bool reads (or the reason it reads nothing): unions
# write the same few words row after row; short cells only, and a bounded number of them.
_BOOL_TEXT: dict[str, bool | str] = {}


_STATUS_BY_LABEL = {v: k for k, v in STATUS_LABELS.items()}


def _status(col: _Collector, get: Callable[[str], Any]) -> Status:
    status = Status.ACTIVE
    word = _string(col, "status", get("status"), line_breaks=False)
    if word:
        try:
            status = Status(_STATUS_BY_LABEL.get(word, word.lower()))
        except ValueError:
            options = "、".join(f"{STATUS_LABELS[s]}({s})" for s in Status)
            col.add("status", "invalid_status", f"未知状态：{word}；可选：{options}", word)
    return status


def _self_service_rules(
    col: _Collector, *, self_service: bool, osm: str, hours_text: str, entry: tuple[str, ...]
) -> None:
    """A 24-hour self-service station is open 24/7 and says how one gets in."""
    if self_service and osm and not hours(osm).is_24_7:
        col.add(
            "self_service_24h",
            "self_service_not_24_7",
            f"标为24小时自助驿站，但开放时间是“{hours_text}”；请把开放时间改为“24小时”或取消24小时标记",
            hours_text,
        )
    if self_service and not entry:
        col.add(
            "entry_methods",
            "entry_methods_missing",
            "24小时自助驿站须填写进入方式（扫码、刷脸、指纹等）",
        )


@lru_cache(maxsize=8)
def _district_names(districts: Districts) -> dict[str, frozenset[str]]:
    """Each way a sheet may name a district (重庆市沙坪坝区, 沙坪坝区, 沙坪坝, 500106) ->
    the adcodes it may mean (a county name recurs across the country)."""
    names: dict[str, set[str]] = {}
    for d in districts:
        short = d.name.removesuffix(d.kind) if d.kind and d.name != d.kind else d.name
        for text in {d.name, short, d.adcode, f"{d.province}{d.name}"}:
            if text:
                names.setdefault(text, set()).add(d.adcode)
    return {k: frozenset(v) for k, v in names.items()}


def district_named(districts: Districts, text: str) -> frozenset[str]:
    """The adcodes a sheet's 区县 cell may name (empty: none that this layer knows)."""
    return _district_names(districts).get("".join(str(text).split()), frozenset())


def district_problem(districts: Districts, text: Any, adcode: str) -> Problem | None:
    """The warning for a sheet's 区县 cell naming a district other than the one its
    position lies in (None: blank, not a district's name, or the same district)."""
    said = district_named(districts, str(text or ""))
    if not said or not adcode or adcode in said:
        return None
    there = districts.find(adcode)
    return Problem(
        "district",
        "district_mismatch",
        f"所属区县写的是“{str(text).strip()[:20]}”，位置却在{there.name if there else adcode}："
        "已按位置登记；请核对经纬度及坐标系（高德、腾讯为 gcj02，百度为 bd09）",
        str(text).strip()[:20],
    )


def self_service_problems(station: Station) -> list[Problem]:
    """What the 24-hour self-service rules say of a station as it stands (a file's row
    that changes its hours and keeps its stored 24小时 mark, say)."""
    col = _Collector()
    _self_service_rules(
        col,
        self_service=station.self_service_24h,
        osm=station.hours,
        hours_text=station.hours_text or station.hours,
        entry=station.entry_methods,
    )
    return list(col.problems)


def build_station(
    raw: Mapping[str, Any],
    *,
    districts: Districts,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    owner: Owner | None = None,
    existing: Station | None = None,
    strict: bool = False,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
    warnings: list[Problem] | None = None,
    converted: Converted | None = None,
) -> Station:
    """Validate ``raw`` field values and return a Station, or raise ValidationError.

    ``raw`` uses the record's field names (``lon``/``lat`` in ``crs``, ``hours`` as written).
    ``owner`` applies when the row names none. ``existing`` keeps id and version of the
    stored station being changed, and its district while its owner and position stay
    (within SAME_POSITION_DEG): a position accepted once is not judged again. A district
    union's station must lie in its district, or within ``border_tolerance_m`` (metres,
    on the ellipsoid) outside it: then it is filed under the union's district and a
    warning is appended to ``warnings``.
    ``strict`` (a JSON body) also refuses fields it does not know, where a file's unknown
    columns are reported beside the rows instead. ``converted``: positions converted ahead
    for a chunk of rows (:func:`convert_positions`); a position it lacks is converted here.

    The steps run in this order, and problems are reported in it.
    """
    col = _Collector()
    get = raw.get
    if strict:
        flat = {f"{p.value}_{k}" for p in Provider for k in LISTING_FIELDS - {"provider"}}
        _unknown_fields(col, raw, STATION_FIELDS | flat, "")
    text = _text_fields(col, get)
    row_owner, row_crs = _owner_and_crs(col, get, owner, crs)
    place = _StopPlace(col, row_crs, row_owner, districts, existing, border_tolerance_m, warnings)
    mobile, timetable = _timetable(col, get, place, strict=strict)
    if mobile and timetable.first_position and _blank(get("lon")) and _blank(get("lat")):
        # A mobile station that gives no base is based at its first stop.
        get = {**raw, "lon": timetable.first_position[0], "lat": timetable.first_position[1]}.get
    where = _position(
        col,
        get,
        row_crs,
        row_owner,
        districts=districts,
        existing=existing,
        border_tolerance_m=border_tolerance_m,
        warnings=warnings,
        converted=converted,
    )
    row_owner = _derived_owner(col, row_owner, where.adcode)
    if warnings is not None and not _blank(get("district")):
        mismatch = district_problem(districts, get("district"), where.adcode)
        if mismatch is not None:
            warnings.append(mismatch)
    hours_text, osm = _opening_hours(col, get)
    amenities, entry = _amenities_and_entry(col, get)
    flags = _flags(col, get)
    status = _status(col, get)
    _self_service_rules(
        col, self_service=flags["self_service_24h"], osm=osm, hours_text=hours_text, entry=entry
    )
    listings = _listings(col, raw, strict=strict)

    if col.problems:
        raise ValidationError(col.problems)
    assert row_owner is not None
    return Station(
        id=existing.id if existing else None,
        version=existing.version if existing else 0,
        updated_at=existing.updated_at if existing else None,
        external_id=text["external_id"],
        owner=row_owner,
        name=text["name"],
        address=text["address"],
        host=text["host"],
        contact_phone=text["contact_phone"],
        lon=float(where.lon),
        lat=float(where.lat),
        source_lon=where.source_lon,
        source_lat=where.source_lat,
        source_crs=row_crs,
        district_adcode=where.adcode,
        hours=osm,
        hours_text=hours_text,
        self_service_24h=flags["self_service_24h"],
        entry_methods=entry,
        registration_required=flags["registration_required"],
        amenities=amenities,
        status=status,
        signage_unified=flags["signage_unified"],
        brand=text["brand"],
        listings=listings,
        sample=flags["sample"],
        mobile=mobile,
        stops=timetable.stops,
    )


# The fields a plain row may hold for plain_station: a station's own fields, without a
# listing or a timetable (a mobile station's, read by build_station alone).
_MOBILE_FIELDS = frozenset({"mobile", "stops"})
_PLAIN_FIELDS = STATION_FIELDS - {"listings"} - _MOBILE_FIELDS


def _says_fixed(raw: Mapping[str, Any]) -> bool:
    """Whether a row's mobile cells say a fixed station: no stops, and mobile blank or no
    (as build_station reads them: the template gives every sheet those two columns)."""
    stops, mobile = raw.get("stops"), raw.get("mobile")
    if stops is not None and (type(stops) is not str or stops.strip()):
        return False
    if mobile is None:
        return True
    if type(mobile) is not str:
        return False
    col = _Collector()
    return _flag(col, "mobile", mobile) is False and not col.problems


_TEXT_FIELDS = ("external_id", "name", "address", "host", "contact_phone", "brand")


def plain_station(
    raw: Mapping[str, Any],
    *,
    districts: Districts,
    crs: CoordinateSystem | str,
    owner: Owner | None,
    converted: Converted,
) -> Station | None:
    """The Station build_station makes of ``raw``, for a plain valid row of a file: only text
    cells of :data:`_PLAIN_FIELDS`, its position converted ahead (``converted``) and inside
    its union's district, nothing wrong; None for any other row, which build_station then
    reads (and words its problems and warnings). No ``existing``, not ``strict``.

    The same rules, read once per distinct shared cells (an upload's rows repeat their
    union, hours, lists and flags) and without a problem list per row; proven equal to
    build_station by the golden upload tests and a hypothesis test on random rows.
    """
    for key, value in raw.items():
        if type(value) is not str or key not in _PLAIN_FIELDS:
            if key in _MOBILE_FIELDS and _says_fixed(raw):
                continue  # the template's 流动驿站/停靠点 columns, left blank or 否
            return None
    get = raw.get
    # Each group of cells an upload's rows repeat, read once per distinct cells.
    union = _read_once(
        "owner", (crs, owner, get("owner"), get("crs")), _owner_crs, (get, owner, crs)
    )
    hours_read = _read_once("hours", (get("hours_text"), get("hours")), _hours_cells, get)
    amenities = _read_once("amenities", get("amenities"), _list_cells, ("amenities", get))
    entry = _read_once("entry_methods", get("entry_methods"), _list_cells, ("entry_methods", get))
    flags = _read_once("flags", tuple(get(k) for k in _FLAGS), _flag_cells, get)
    status = _read_once("status", get("status"), _status_cell, get)
    if (
        union is None
        or hours_read is None
        or amenities is None
        or entry is None
        or flags is None
        or status is None
    ):
        return None
    row_owner, row_crs = union
    hours_text, osm = hours_read
    if flags["self_service_24h"]:
        col = _Collector()
        _self_service_rules(col, self_service=True, osm=osm, hours_text=hours_text, entry=entry)
        if col.problems:
            return None
    text: dict[str, str] = {}
    for k in _TEXT_FIELDS:
        value = get(k)
        value = value.strip() if value is not None else ""
        if value and (
            len(value) > MAX_TEXT[k]
            or text_problem(value, line_breaks=k != "external_id") is not None
        ):
            return None
        text[k] = value
    if not text["name"] or not text["external_id"]:
        return None
    phone = text["contact_phone"]
    if phone in NO_PHONE:
        text["contact_phone"] = ""
    elif phone and phone_problem(phone) is not None:
        return None
    try:  # what _number reads of an ASCII cell; other cells build_station reads
        lon_text, lat_text = get("lon"), get("lat")
        if not (lon_text and lat_text and lon_text.isascii() and lat_text.isascii()):
            return None
        src_lon, src_lat = float(lon_text.strip()), float(lat_text.strip())
    except ValueError:
        return None
    if not in_china_bounds(src_lon, src_lat):
        return None  # also not finite
    ahead = converted.get((src_lon, src_lat, row_crs))
    if ahead is None:
        return None
    lon, lat, adcode = ahead
    if not adcode or (
        row_owner is not None and row_owner.kind is OwnerKind.DISTRICT and adcode != row_owner.code
    ):
        return None  # outside the districts, or the union's own: build_station words it
    if row_owner is None:
        row_owner = _district_owner(adcode)
    return Station(
        external_id=text["external_id"],
        owner=row_owner,
        name=text["name"],
        address=text["address"],
        host=text["host"],
        contact_phone=text["contact_phone"],
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
        brand=text["brand"],
        sample=flags["sample"],
    )


class _Unread(Enum):
    """The mark of a cell not read yet (a cache's miss): an enum member, so that ``is``
    tells it from every value a cache holds (None included) and the type checker knows."""

    UNREAD = 0


_UNREAD: Final = _Unread.UNREAD
_FLAGS = ("self_service_24h", "registration_required", "signage_unified", "sample")
_READ_KEPT = 4096  # distinct cells kept per group (a sheet has a few hundred at most)
_READ: dict[str, dict[Any, Any]] = {}


def _read_once(group: str, key: Any, read: Callable[[Any], Any], arg: Any) -> Any:
    """``read(arg)``, kept under ``key`` in ``group`` when its cells are short (a hostile
    file's long cells are read each time, never kept); None: build_station finds a problem."""
    kept = _READ.setdefault(group, {})
    found = kept.get(key, _UNREAD)
    if found is not _UNREAD:
        return found
    found = read(arg)
    cells = key if isinstance(key, tuple) else (key,)
    if all(not isinstance(c, str) or len(c) <= _CACHED_CELL_CHARS for c in cells):
        if len(kept) >= _READ_KEPT:
            kept.clear()
        kept[key] = found
    return found


def _owner_crs(
    arg: tuple[Callable[[str], Any], Owner | None, CoordinateSystem | str],
) -> tuple[Owner | None, CoordinateSystem] | None:
    col = _Collector()
    read = _owner_and_crs(col, *arg)
    return None if col.problems else read


def _hours_cells(get: Callable[[str], Any]) -> tuple[str, str] | None:
    col = _Collector()
    read = _opening_hours(col, get)
    return None if col.problems else read


def _list_cells(arg: tuple[str, Callable[[str], Any]]) -> tuple[str, ...] | None:
    key, get = arg
    col = _Collector()
    read = _list_cell(col, key, get(key))
    return None if col.problems else read


def _flag_cells(get: Callable[[str], Any]) -> dict[str, bool] | None:
    col = _Collector()
    read = _flags(col, get)
    return None if col.problems else read


def _status_cell(get: Callable[[str], Any]) -> Status | None:
    col = _Collector()
    read = _status(col, get)
    return None if col.problems else read


@lru_cache(maxsize=4096)
def _district_owner(adcode: str) -> Owner:
    return Owner(OwnerKind.DISTRICT, adcode)


# -- a chunk of plain rows at once ----------------------------------------------------------

# A plain number as written (what _number reads of an ASCII cell, and not
# degrees-minutes-seconds text): one per line of a column joined with line feeds.
_PLAIN_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_PLAIN_NUMBERS = re.compile(f"(?:{_PLAIN_NUMBER}\n)*{_PLAIN_NUMBER}", re.ASCII)
_PLAIN_NUMBER_RE = re.compile(_PLAIN_NUMBER, re.ASCII)


def _numbers(cells: Sequence[str]) -> list[float | None]:
    """Each plain number cell as a float; None for any other cell."""
    if _PLAIN_NUMBERS.fullmatch("\n".join(cells)):
        return list(map(float, cells))
    match = _PLAIN_NUMBER_RE.fullmatch
    return [float(c) if match(c) else None for c in cells]


def _texts(key: str, cells: Sequence[str]) -> list[str | None]:
    """A text column's cells stripped; None where plain_station would refuse the cell."""
    out: list[str | None] = [c.strip() for c in cells]
    limit = MAX_TEXT[key]
    joined = " ".join(cells)  # a space: neither forbidden nor a line break
    clean = _FORBIDDEN.search(joined) is None and (
        key != "external_id" or _BREAKS.search(joined) is None
    )
    if clean and max(map(len, cells), default=0) <= limit:
        return out
    line_breaks = key != "external_id"
    return [
        v
        if not v or (len(v) <= limit and text_problem(v, line_breaks=line_breaks) is None)
        else None
        for v in out
    ]


def _nones(column: Sequence[Any]) -> list[int]:
    """Where ``column`` holds None."""
    return [i for i, v in enumerate(column) if v is None]


def _column(cells: Mapping[str, Sequence[str]], key: str, n: int) -> Sequence[str | None]:
    found = cells.get(key)
    return found if found is not None else [None] * n


def _distinct(read: Callable[[Any], Any], keys: Iterable[Any]) -> list[Any]:
    """``read(key)`` of each key, read once per distinct key (in the order first seen)."""
    keys = keys if isinstance(keys, list) else list(keys)
    seen = dict.fromkeys(keys)
    for k in seen:
        seen[k] = read(k)
    return [seen[k] for k in keys]


def _made(column: Sequence[Any], make: Callable[[Any], Any]) -> list[Any]:
    """``make(value)`` of each value of a column of read values (None: none made), made
    once per value: keyed by its identity (one object per distinct cell, kept alive by the
    column), so the value is not hashed again."""
    made = {id(v): v for v in column if v is not None}
    for i, v in made.items():
        made[i] = make(v)
    return [None if v is None else made[id(v)] for v in column]


_RECORD_LISTS: dict[tuple[str, ...], list[str]] = {}


def plain_records(
    cells: Mapping[str, Sequence[str]],
    n: int,
    *,
    districts: Districts,
    crs: CoordinateSystem | str,
    owner: Owner | None,
) -> list[dict[str, Any] | None]:
    """For a chunk of ``n`` rows given as columns of text (``cells``: field -> each row's
    cell, every row having every field of the file), the stored record
    (station_to_dict) of the Station :func:`plain_station` makes of each row, or None where
    it makes none or the row is not read here (then plain_station and build_station read
    it, one row at a time).

    The same rules a column at a time: shared cells (union, system, hours, lists, flags,
    status) read once per distinct text; text checked a column at a time; the positions
    converted and looked up in one pass. Proven equal to plain_station by a hypothesis test.
    """
    if n == 0:
        return []
    if any(k not in _PLAIN_FIELDS and k not in _MOBILE_FIELDS and k != "district" for k in cells):
        return [None] * n
    ok = [True] * n
    if "stops" in cells or "mobile" in cells:
        fixed = _distinct(
            lambda sm: _says_fixed({"stops": sm[0], "mobile": sm[1]}),
            zip(_column(cells, "stops", n), _column(cells, "mobile", n), strict=True),
        )
        ok = [a and b for a, b in zip(ok, fixed, strict=True)]

    def get_of(keys: tuple[str, ...], values: tuple[Any, ...]) -> Callable[[str], Any]:
        return dict(zip(keys, values, strict=True)).get

    unions = _distinct(
        lambda oc: _read_once(
            "owner",
            (crs, owner, oc[0], oc[1]),
            _owner_crs,
            (get_of(("owner", "crs"), oc), owner, crs),
        ),
        zip(_column(cells, "owner", n), _column(cells, "crs", n), strict=True),
    )
    hours_read = _distinct(
        lambda h: _read_once("hours", h, _hours_cells, get_of(("hours_text", "hours"), h)),
        zip(_column(cells, "hours_text", n), _column(cells, "hours", n), strict=True),
    )
    amenities = _distinct(
        lambda v: _read_once("amenities", v, _amenity_list, v), _column(cells, "amenities", n)
    )
    entry = _distinct(
        lambda v: _read_once("entry_methods", v, _entry_list, v),
        _column(cells, "entry_methods", n),
    )
    flags = _distinct(
        lambda f: _read_once("flags", f, _flag_cells, get_of(_FLAGS, f)),
        zip(*(_column(cells, k, n) for k in _FLAGS), strict=True),
    )
    status = _distinct(
        lambda v: _read_once("status", v, _status_cell, {"status": v}.get),
        _column(cells, "status", n),
    )

    def self_service_ok(key: tuple[Any, ...]) -> bool:
        read_flags, read_hours, read_entry = key
        if read_flags is None or read_hours is None or read_entry is None:
            return False
        if not read_flags["self_service_24h"]:
            return True
        c = _Collector()
        _self_service_rules(
            c, self_service=True, osm=read_hours[1], hours_text=read_hours[0], entry=read_entry
        )
        return not c.problems

    # Keyed by identity of the read values: each is one object per distinct cell.
    rules: dict[tuple[int, int, int], bool] = {}
    texts = {k: _texts(k, cells[k]) if k in cells else [""] * n for k in _TEXT_FIELDS}
    # The rows with a text cell plain_station refuses (few: found a column at a time).
    refused = {i for column in texts.values() if None in column for i in _nones(column)}
    phones: dict[str, str | None] = {}
    for i in range(n):
        if not ok[i]:
            continue
        u, h, a, e, f, s = unions[i], hours_read[i], amenities[i], entry[i], flags[i], status[i]
        if u is None or h is None or a is None or e is None or f is None or s is None:
            ok[i] = False
            continue
        key = (id(f), id(h), id(e))
        rule = rules.get(key)
        if rule is None:
            rule = rules[key] = self_service_ok((f, h, e))
        if not rule or not texts["name"][i] or not texts["external_id"][i]:
            ok[i] = False
            continue
        if i in refused:
            ok[i] = False
            continue
        phone = texts["contact_phone"][i]
        if phone:
            read = phones.get(phone, _UNREAD)
            if read is _UNREAD:
                read = (
                    "" if phone in NO_PHONE else (phone if phone_problem(phone) is None else None)
                )
                phones[phone] = read
            if read is None:
                ok[i] = False
                continue
    if "lon" not in cells or "lat" not in cells:
        return [None] * n
    src_lon, src_lat = _numbers(cells["lon"]), _numbers(cells["lat"])
    # The rows left, by the system their positions are in.
    by_system: dict[CoordinateSystem, list[int]] = {}
    for i in range(n):
        if not ok[i]:
            continue
        x, y = src_lon[i], src_lat[i]
        if x is None or y is None or not in_china_bounds(x, y):
            ok[i] = False
            continue
        by_system.setdefault(unions[i][1], []).append(i)
    out: list[dict[str, Any] | None] = [None] * n
    # What a record holds of a read value (a list cell's codes, a status, a union's text);
    # a district's union, by adcode.
    amenity_codes = _made(amenities, _record_list)
    entry_codes = _made(entry, _record_list)
    status_text = _made(status, _status_value)
    owner_texts = _made([u[0] if u is not None else None for u in unions], _owner_text)
    district_text: dict[str, str] = {}

    name, address, host = texts["name"], texts["address"], texts["host"]
    phone_text, brand, ext = texts["contact_phone"], texts["brand"], texts["external_id"]
    # A 区县 column: a row naming another district than its position's is read row by row
    # (build_station warns of it); its cell is text, never kept.
    said = (
        _distinct(lambda t: district_named(districts, t), cells["district"])
        if "district" in cells
        else None
    )
    for system, rows in by_system.items():
        xs = np.array([src_lon[i] for i in rows], np.float64)
        ys = np.array([src_lat[i] for i in rows], np.float64)
        lon, lat = to_wgs84(xs, ys, crs=system)
        lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
        adcodes = districts.lookup(lon, lat).tolist()
        crs_value = system.value
        for i, wx, wy, adcode in zip(rows, lon.tolist(), lat.tolist(), adcodes, strict=True):
            row_owner = unions[i][0]
            if not adcode or (
                row_owner is not None
                and row_owner.kind is OwnerKind.DISTRICT
                and adcode != row_owner.code
            ):
                continue
            if said is not None and said[i] and adcode not in said[i]:
                continue
            owner_text = owner_texts[i]
            if owner_text is None:
                owner_text = district_text.get(adcode)
                if owner_text is None:
                    owner_text = district_text[adcode] = _owner_text(_district_owner(adcode))
            hours_text, osm = hours_read[i]
            f = flags[i]
            p = phone_text[i]
            # station_to_dict's record, its keys in sorted order (as stored).
            out[i] = {
                "address": address[i],
                "amenities": amenity_codes[i],
                "brand": brand[i],
                "code": None,
                "contact_phone": phones[p] if p else p,
                "district_adcode": adcode,
                "entry_methods": entry_codes[i],
                "external_id": ext[i],
                "host": host[i],
                "hours": osm,
                "hours_text": hours_text,
                "id": None,
                "lat": wy,
                "listings": [],
                "lon": wx,
                "name": name[i],
                "owner": owner_text,
                "registration_required": f["registration_required"],
                "sample": f["sample"],
                "self_service_24h": f["self_service_24h"],
                "signage_unified": f["signage_unified"],
                "source_crs": crs_value,
                "source_lat": src_lat[i],
                "source_lon": src_lon[i],
                "status": status_text[i],
                "updated_at": None,
                "version": 0,
            }
    return out


def _record_list(codes: tuple[str, ...]) -> list[str]:
    """A list cell's codes as a record holds them (one list per distinct value: records
    are only serialised, never changed)."""
    found = _RECORD_LISTS.get(codes)
    if found is None:
        if len(_RECORD_LISTS) >= _READ_KEPT:
            _RECORD_LISTS.clear()
        found = _RECORD_LISTS[codes] = list(codes)
    return found


def _status_value(status: Status) -> str:
    return status.value


@lru_cache(maxsize=4096)
def _owner_text(owner: Owner) -> str:
    return str(owner)
