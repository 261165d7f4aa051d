"""The records of an upload (the file, its planned rows) and the rules that need no store."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from geodata.crs import CoordinateSystem, from_wgs84, parse_crs
from stations.domain.errors import StoreError
from stations.domain.model import LISTING_FLAT_ATTRS, Listing, Provider, Station
from stations.domain.validation import SAME_POSITION_DEG

RowAction = Literal["create", "update", "close", "unchanged", "rejected"]
DUPLICATE_RADIUS_M = 30.0
CHUNK_ROWS = 1000
# A dry run not committed within this is removed (YIZHAN_DRY_RUN_RETENTION_HOURS): a week
# covers a clerk's review over a weekend or the National Day holiday.
DRY_RUN_RETENTION_H = 7 * 24.0
# A full list closing more than this share of the union's open stations is confirmed
# explicitly (YIZHAN_FULL_LIST_MAX_CLOSE_SHARE): a real yearly list closes a few percent.
MAX_CLOSE_SHARE = 0.2

CRS_HELP = (
    "请说明文件中经纬度的坐标系：从高德地图或腾讯地图复制的位置是 gcj02，从百度地图复制的是 "
    "bd09，GPS 设备、天地图或 OpenStreetMap 的是 wgs84（国家 2000 坐标 cgcs2000 亦可）。"
    "命令行写 --crs gcj02，网页或接口上传时填 crs=gcj02；也可以在文件中加一列“坐标系”逐行注明"
)


class UploadStatus(StrEnum):
    PLANNING = "planning"  # rows are being checked; not ready to commit
    DRY_RUN = "dry_run"  # checked; nothing changed yet
    COMMITTED = "committed"
    REVERTED = "reverted"


class UploadStateError(StoreError):
    """The upload cannot do that in its present state (commit twice, revert uncommitted…)."""

    code = "upload_state"


class CrsRequiredError(ValueError):
    """The upload does not say which coordinate system its positions are in."""

    code = "crs_required"


class ClosuresUnconfirmedError(StoreError):
    """A full list would close many of the union's stations and that was not confirmed."""

    code = "closures_unconfirmed"

    def __init__(self, check: ClosureCheck, upload_id: str | None = None) -> None:
        self.check = check
        self.upload_id = upload_id
        super().__init__(check.message())


class UploadNotFoundError(StoreError, LookupError):
    code = "upload_not_found"

    def __init__(self, upload_id: str) -> None:
        self.upload_id = upload_id
        super().__init__(f"no upload {upload_id!r}")


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file and what became of it."""

    id: str
    actor: str
    owner: str | None  # the uploading union; None for the city union
    filename: str
    crs: str
    full_list: bool
    created_at: datetime
    base_version: int  # the registry's version when the plan was made
    status: UploadStatus = UploadStatus.PLANNING
    counts: dict[str, int] = field(default_factory=dict)
    unknown_columns: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the file
    batch_id: int | None = None
    revert_batch_id: int | None = None

    # How the file was read, in Chinese (header row, rows passed, position order…), and
    # what became of it (committed without its rejected rows…): uploads.notes.
    notes: tuple[str, ...] = ()

    @property
    def proposed_crs(self) -> str | None:
        """The system the file's position headers name ("经纬度（高德）" -> gcj02), or None:
        derived from ``columns``, so it needs no column of its own. The uploader's explicit
        choice (``crs``) stays final; the notes say when the two differ."""
        found = header_crs(self.columns.values())
        return found[0].value if found is not None else None

    @property
    def accepted(self) -> int:
        """The rows the checks accepted: what they create, update or leave unchanged."""
        c = self.counts
        return c.get("create", 0) + c.get("update", 0) + c.get("unchanged", 0)


@dataclass(frozen=True, slots=True)
class UploadRow:
    """What the upload does with one row of the file (or one station it closes)."""

    seq: int
    row: int | None  # the row number the clerk sees; None for a station closed as absent
    action: RowAction
    external_id: str
    station_id: int | None = None
    expected_version: int | None = None
    station: Station | None = None
    changed: tuple[str, ...] = ()
    problems: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()
    # The row's own cells under the file's headers, as uploaded: kept for rejected rows
    # (upload_rows.cells), which the rejected-rows workbook gives back to be fixed.
    cells: dict[str, Any] = field(default_factory=dict)


class PlannedCreate(NamedTuple):
    """A plain row planned a chunk at a time: it creates the station ``record`` (in
    station_to_dict's form, made without a Station). Stored as, and read back as, the
    UploadRow of action "create" whose station is that record."""

    seq: int
    row: int
    external_id: str
    record: dict[str, Any]
    warnings: tuple[dict[str, Any], ...] = ()

    @property
    def action(self) -> RowAction:
        return "create"


_BOOKKEEPING = ("id", "version", "updated_at", "code")
# What was uploaded (raw coordinates and hours text) is provenance: the same station
# re-uploaded from another export or in another system is not a change.
_PROVENANCE = ("source_lon", "source_lat", "source_crs", "hours_text")


def _near(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= SAME_POSITION_DEG


def _same_listings(old: tuple[Listing, ...], new: tuple[Listing, ...]) -> bool:
    if len(old) != len(new):
        return False
    for a, b in zip(old, new, strict=True):
        if not (_near(a.listed_lon, b.listed_lon) and _near(a.listed_lat, b.listed_lat)):
            return False
        if replace(a, listed_lon=None, listed_lat=None) != replace(
            b, listed_lon=None, listed_lat=None
        ):
            return False
    return True


# A file's row that updates a stored station changes only what the file has columns for:
# each group of a station's attributes is kept as stored when the file has none of the
# fields that say it (a blank cell in a column the file has clears it). The position is
# not among them: every row gives one. The 上图 listings go a provider at a time.
_SAID_BY: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    *(
        ((key,), (key,))
        for key in (
            "name",
            "address",
            "host",
            "contact_phone",
            "brand",
            "self_service_24h",
            "entry_methods",
            "registration_required",
            "amenities",
            "status",
            "signage_unified",
            "sample",
        )
    ),
    (("hours", "hours_text"), ("hours", "hours_text")),
    (("mobile", "stops"), ("mobile", "stops")),
)


_PLACE = ("lon", "lat", "source_lon", "source_lat", "source_crs", "district_adcode")


# A cell's decimals are read from its number (the text is gone), which drops trailing
# zeros: "29.554000" reads as 3. Below 6 decimals (10 cm) the place is the same only to
# 6, so a position rounded to 106.58 is a move, not "the same place" within 500 m.
_FEWEST_DECIMALS = 6


def _decimals(value: float) -> int:
    """How many decimals ``value`` was written with (its shortest repr's), at least
    :data:`_FEWEST_DECIMALS`."""
    text = repr(value)
    if "e" in text or "E" in text:
        return 17
    return max(_FEWEST_DECIMALS, len(text.partition(".")[2]))


def same_place_as_written(stored: Station, row: Station) -> bool:
    """Whether the row's position is the stored one as the file writes it: the stored
    WGS-84 position in the row's system, rounded to the decimals its cells have, is the
    row's (a ledger copied from Amap to 6 decimals says the same place each time; a cell
    moved by its last decimal, or a full-precision position 1 cm off, is a move)."""
    x0 = row.source_lon if row.source_lon is not None else row.lon
    y0 = row.source_lat if row.source_lat is not None else row.lat
    x, y = from_wgs84(stored.lon, stored.lat, crs=row.source_crs)
    return all(
        abs(float(at) - written) <= 0.5 * 10.0 ** -_decimals(written) + 1e-12
        for at, written in ((x, x0), (y, y0))
    )


# A stop written to 7 decimals (or converted and read back) lands within this of itself.
_SAME_STOP_DEG = 1e-7


def _same_stops(stored: tuple[Any, ...], row: tuple[Any, ...]) -> bool:
    """Whether a row's stops are the stored ones, their positions as written."""
    return len(stored) == len(row) and all(
        (a.name, a.hours, a.hours_text) == (b.name, b.hours, b.hours_text)
        and abs(a.lon - b.lon) <= _SAME_STOP_DEG
        and abs(a.lat - b.lat) <= _SAME_STOP_DEG
        for a, b in zip(stored, row, strict=True)
    )


def said_by_file(stored: Station, row: Station, fields: Iterable[str]) -> Station:
    """The station a file's ``row`` makes of ``stored``: the row's values for what the
    file's ``fields`` (its columns' record fields) say, the stored ones for the rest, and
    the stored position when the row's is the same place as written. A
    file whose fields are not known (rows given as records, not read from a file): the
    row, whole."""
    said = set(fields)
    if not said:
        return row
    kept: dict[str, Any] = {}
    if row.owner == stored.owner and same_place_as_written(stored, row):
        kept |= {a: getattr(stored, a) for a in _PLACE}
    if row.stops and _same_stops(stored.stops, row.stops):
        kept["stops"] = stored.stops  # read back from its system: to the bit as stored
    for attrs, keys in _SAID_BY:
        if said.isdisjoint(keys):
            kept |= {a: getattr(stored, a) for a in attrs}
    if "listings" not in said:  # GeoJSON's nested listings say every provider's, whole
        flat = {
            p: {
                LISTING_FLAT_ATTRS.get(k[len(p.value) + 1 :], k[len(p.value) + 1 :])
                for k in said
                if k.startswith(f"{p.value}_")
            }
            & _LISTING_ATTRS
            for p in Provider
        }
        if not any(flat.values()):
            kept["listings"] = stored.listings
        elif any(keys != _LISTING_ATTRS for keys in flat.values()):
            merged = (
                _said_listing(stored.listing(p), row.listing(p), p, flat[p]) for p in Provider
            )
            kept["listings"] = tuple(li for li in merged if li is not None)
    return replace(row, **kept) if kept else row


_LISTING_ATTRS = frozenset(f.name for f in dataclass_fields(Listing)) - {"provider"}


def _said_listing(
    stored: Listing | None, row: Listing | None, provider: Provider, said: set[str]
) -> Listing | None:
    """A provider's 上图 listing of which a file says the fields ``said`` (the listing's
    attributes): those from the row, the others as stored (a 高德POI column alone changes
    the POI, not whether and where it is listed)."""
    if not said:
        return stored
    base = stored or Listing(provider)
    given = row or Listing(provider)
    out = replace(base, **{k: getattr(given, k) for k in said})
    return None if out == Listing(provider) else out


def changed_fields(old: Station, new: Station) -> tuple[str, ...]:
    """The record fields that differ between two versions of a station.

    Positions (the station's and its listings') within ``SAME_POSITION_DEG`` are the same:
    a file written and read back must plan no change.
    """
    skip = _BOOKKEEPING + _PROVENANCE
    names = [f for f in old.__dataclass_fields__ if f not in skip]
    out = []
    for n in names:
        a, b = getattr(old, n), getattr(new, n)
        if n in ("lon", "lat"):
            same = _near(a, b)
        elif n == "listings":
            same = _same_listings(a, b)
        else:
            same = a == b
        if not same:
            out.append(n)
    return tuple(out)


def file_crs(
    given: str | CoordinateSystem | None,
    *,
    format: str,
    geojson_crs: str | CoordinateSystem | None = CoordinateSystem.WGS84,
    help: str = CRS_HELP,
) -> CoordinateSystem:
    """The coordinate system a file's positions are in: as the uploader names it, else as
    the file does (GeoJSON is WGS-84 by RFC 7946 unless its old-style ``crs`` member says
    otherwise: ``geojson_crs``, None when that names a system we do not know).

    Nothing else is assumed: CrsRequiredError with ``help``, saying how to tell (an upload
    and a demand layer word it differently).
    """
    if given is not None and str(given).strip():
        return parse_crs(given)
    if format == "geojson" and geojson_crs:
        return parse_crs(geojson_crs)
    raise CrsRequiredError(help)


# Words of a position header that name its system: "经纬度（高德）", "经度(GCJ-02)".
_HEADER_SYSTEMS: tuple[tuple[tuple[str, ...], CoordinateSystem, str], ...] = (
    (("高德",), CoordinateSystem.GCJ02, "高德坐标（GCJ-02）"),
    (("腾讯",), CoordinateSystem.GCJ02, "腾讯坐标（GCJ-02）"),
    (("GCJ02", "GCJ-02", "火星"), CoordinateSystem.GCJ02, "GCJ-02 坐标"),
    (("百度",), CoordinateSystem.BD09, "百度坐标（BD-09）"),
    (("BD09", "BD-09"), CoordinateSystem.BD09, "BD-09 坐标"),
    (("天地图",), CoordinateSystem.WGS84, "天地图坐标（WGS-84）"),
    (("CGCS2000", "国家2000", "2000国家"), CoordinateSystem.CGCS2000, "CGCS2000 坐标"),
    (("WGS84", "WGS-84", "WGS 84", "GPS", "北斗"), CoordinateSystem.WGS84, "GPS 坐标（WGS-84）"),
)
_POSITION_FIELDS = ("lon", "lat", "position")


def header_crs(headers: Iterable[str]) -> tuple[CoordinateSystem, str] | None:
    """The system the headers of a file's position columns name, and how to say it; None
    if they name none, or name two different ones."""
    found: dict[CoordinateSystem, str] = {}
    for header in headers:
        text = unicodedata.normalize("NFKC", str(header)).upper()
        for words, system, said in _HEADER_SYSTEMS:
            if any(w.upper() in text for w in words):
                found.setdefault(system, said)
                break
    return next(iter(found.items())) if len(found) == 1 else None


def position_headers(columns: Mapping[str, str]) -> list[str]:
    """The file's headers of its position columns (lon, lat or both in one)."""
    return [columns[k] for k in _POSITION_FIELDS if k in columns]


_CRS_NAMES = {
    CoordinateSystem.WGS84: "WGS-84",
    CoordinateSystem.GCJ02: "GCJ-02",
    CoordinateSystem.BD09: "BD-09",
    CoordinateSystem.CGCS2000: "CGCS2000",
}


def crs_notes(
    given: CoordinateSystem | None, columns: Mapping[str, str]
) -> tuple[CoordinateSystem | None, list[str]]:
    """What the headers propose, and the report's lines on it: the uploader's explicit
    choice is final (a warning when it differs); with none, the header's system is taken."""
    named = header_crs(position_headers(columns))
    if named is None:
        return None, []
    system, said = named
    if given is None:
        return system, [f"表头注明{said}，未选择坐标系，按 {_CRS_NAMES[system]} 读取"]
    if given is system or {given, system} <= {CoordinateSystem.WGS84, CoordinateSystem.CGCS2000}:
        return system, [f"表头注明{said}"]
    return system, [
        f"注意：表头注明{said}，但上传时选择的是 {_CRS_NAMES[given]}；已按所选的 "
        f"{_CRS_NAMES[given]} 读取，如选错请重新上传"
    ]


def upload_crs(
    given: str | CoordinateSystem | None,
    *,
    format: str,
    columns: dict[str, str],
    default_crs: str | None = None,
) -> CoordinateSystem | None:
    """The coordinate system an upload's positions are in, or None when every row names its own.

    As :func:`file_crs` (``default_crs`` is what the file says: GeoJSON's), else the system
    the position headers name ("经纬度（高德）": :func:`header_crs`), or else a "坐标系"/crs
    column names it row by row. Otherwise CrsRequiredError, saying how to tell.
    """
    try:
        return file_crs(given, format=format, geojson_crs=default_crs)
    except CrsRequiredError:
        named = header_crs(position_headers(columns))
        if named is not None:
            return named[0]
        if "crs" in columns:
            return None
        raise


@dataclass(frozen=True, slots=True)
class ClosureCheck:
    """What a full list would close, and whether that must be confirmed first."""

    would_close: int
    of_stations: int  # the union's stations not closed
    accepted_rows: int
    max_share: float

    @property
    def share(self) -> float:
        return self.would_close / self.of_stations if self.of_stations else 0.0

    @property
    def needs_confirmation(self) -> bool:
        if not self.would_close:
            return False
        return self.accepted_rows == 0 or self.share > self.max_share

    def message(self) -> str:
        why = (
            "文件中没有一行有效的驿站"
            if self.accepted_rows == 0
            else f"超过 {self.max_share:.0%} 的上限"
        )
        return (
            f"这份完整名单将关闭本工会 {self.would_close} 个驿站"
            f"（共 {self.of_stations} 个开放中的，占 {self.share:.0%}），{why}。"
            "请先核对文件（是否选错了文件、分隔符或工作表）；"
            f"确认要关闭，请提交时注明 confirm_closures={self.would_close}"
            f"（命令行：--confirm-closures {self.would_close}）"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "would_close": self.would_close,
            "of_stations": self.of_stations,
            "share": round(self.share, 4),
            "max_share": self.max_share,
            "needs_confirmation": self.needs_confirmation,
            "message": self.message() if self.needs_confirmation else None,
        }


def new_upload_id() -> str:
    return secrets.token_hex(8)
