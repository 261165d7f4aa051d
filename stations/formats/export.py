"""Export rows: a station as the flat row of CSV/XLSX, made safe to open in a spreadsheet."""

from __future__ import annotations

from typing import Any

from stations.domain.mobile_validation import stops_text
from stations.domain.model import AMENITY_LABELS, ENTRY_METHOD_LABELS, STATUS_LABELS, Station
from stations.domain.records import station_to_dict
from stations.formats.fields import (
    EXPORT_COLUMNS,
    FIELD_BY_KEY,
    FIELDS,
    LISTING_RECORD_KEYS,
    Kind,
    field_label,
)

_LIST_FIELDS = tuple(f.key for f in FIELDS if f.export and f.kind is Kind.LIST)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defused(text: str) -> bool:
    """Whether :func:`neutralise` puts a quote before ``text``: a formula sign, after any
    quotes (so that "'=1", quoted again, reads back as it was written)."""
    return text.lstrip("'").startswith(_FORMULA_START)


def neutralise(value: Any) -> Any:
    """Defuse spreadsheet formula injection: text starting with = + - @ (after any
    apostrophes) gets a leading '."""
    if isinstance(value, str) and _defused(value):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """Undo :func:`neutralise` on a cell read back from one of our exports."""
    if isinstance(value, str) and value[:1] == "'" and _defused(value[1:]):
        return value[1:]
    return value


def export_row(station: Station) -> dict[str, Any]:
    """A flat row for CSV/XLSX: lists joined with commas, listings as provider columns."""
    doc = station_to_dict(station)
    row: dict[str, Any] = {k: doc.get(k) for k in EXPORT_COLUMNS if k in doc}
    for key in _LIST_FIELDS:
        row[key] = ",".join(doc[key])
    row["crs"] = "wgs84"
    row["mobile"] = station.mobile
    row["stops"] = stops_text(station.stops)
    for listing in doc["listings"]:
        p = listing["provider"]
        for suffix, key in LISTING_RECORD_KEYS.items():
            row[f"{p}_{suffix}"] = listing[key]
    return row


def export_cell(value: Any) -> Any:
    """A value as a CSV/XLSX cell: true/false, empty for None, formulas defused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else neutralise(value)


def export_cells(station: Station) -> list[Any]:
    """The cells of a station's export row, in :data:`EXPORT_COLUMNS` order."""
    row = export_row(station)
    return [export_cell(row.get(c)) for c in EXPORT_COLUMNS]


# -- the clerks' workbook (the console's 下载 Excel) ------------------------------------------

# What a union keeps of a station, as its clerks read and write it: every field an upload
# reads back (not the registry's own id, version, time or code), under Chinese headers,
# with Chinese values (是/否, 热水、微波炉, 运营中) and the hours as the union wrote them. The
# 坐标系 column says each row's positions are WGS-84, whatever system a clerk picks when
# uploading it again (a row's own system wins), so it uploads back with no change.
CLERK_COLUMNS = tuple(f.key for f in FIELDS if f.export and f.read and f.key != "hours_text")
CLERK_HEADERS = tuple(FIELD_BY_KEY[k].header or field_label(k) for k in CLERK_COLUMNS)
_LABELS = {"amenities": AMENITY_LABELS, "entry_methods": ENTRY_METHOD_LABELS}


def clerk_cells(station: Station) -> list[Any]:
    """The cells of a station's row of the clerks' workbook, in :data:`CLERK_COLUMNS`."""
    row = export_row(station)
    row["hours"] = station.hours_text or station.hours
    row["status"] = STATUS_LABELS[station.status.value]
    for key, labels in _LABELS.items():
        row[key] = "、".join(labels.get(code, code) for code in getattr(station, key))
    out = []
    for key in CLERK_COLUMNS:
        value = row.get(key)  # None: no such listing (blank, as none is read back)
        out.append(export_cell(("是" if value else "否") if isinstance(value, bool) else value))
    return out
