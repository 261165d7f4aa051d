"""Read station rows from any format of the registry, and export stations to one.

The formats themselves are in csvfile, xlsx and geojson, listed in registry; the public
fields in fields. This module keeps the names the rest of the code imports.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stations.domain.model import AMENITY_LABELS, Station
from stations.domain.validation import Problem, amenity_words, phone_problem, visible
from stations.formats.csvfile import detect_encoding, write_csv
from stations.formats.export import export_row, neutralise, restore
from stations.formats.fields import (
    EXPORT_COLUMNS,
    FREE_TEXT_AMENITY_HEADERS,
    MAX_HEADER_CHARS,
    MAX_UNKNOWN_COLUMNS,
    POSITION,
    ignored_header,
    map_headers,
    normal_header,
)
from stations.formats.geojson import write_geojson
from stations.formats.limits import (
    DEFAULT_LIMITS,
    FileLimits,
    FileRefusedError,
    SheetChoiceError,
)
from stations.formats.positions import (
    ORDER_WORDS,
    Order,
    is_degrees_text,
    parse_degrees,
    split_pair,
)
from stations.formats.registry import (
    FORMATS,
    UnsupportedFormatError,
    format_for,
    format_named,
)
from stations.formats.sheet import above_header_note, row_list, summary_kind
from stations.formats.table import MISSING, Cells, Row, plain_cell
from stations.formats.xlsx import check_xlsx, export_xlsx, rejected_workbook

__all__ = [
    "EXPORT_COLUMNS",
    "FORMATS",
    "MAX_HEADER_CHARS",
    "MAX_UNKNOWN_COLUMNS",
    "Cells",
    "FileLimits",
    "FileRefusedError",
    "RowSource",
    "SheetChoiceError",
    "SheetReading",
    "StationRows",
    "UnsupportedFormatError",
    "check_xlsx",
    "detect_encoding",
    "detect_format",
    "export_row",
    "export_stations",
    "map_headers",
    "neutralise",
    "read_rows",
    "rejected_workbook",
    "stdout_text",
    "write_csv",
    "write_geojson",
    "write_xlsx",
]

write_xlsx = export_xlsx


def _columns(headers: Iterable[Any], mapping: list[str | None]) -> dict[str, str]:
    return {f: str(h).strip() for h, f in zip(headers, mapping, strict=False) if f is not None}


def _source_headers(headers: Sequence[Any]) -> list[str]:
    """The file's headers as the keys of a row's own cells: blank ones named by their
    column, a repeated one numbered."""
    out: list[str] = []
    seen: set[str] = set()
    for i, h in enumerate(headers, start=1):
        text = str(h).strip() if h is not None else ""
        name = text[:MAX_HEADER_CHARS] or f"第{i}列"
        n = 2
        while name in seen:
            name = f"{text or f'第{i}列'}_{n}"
            n += 1
        seen.add(name)
        out.append(name)
    return out


@dataclass
class SheetReading:
    """How a file was read, gathered while its rows are: what the report's notes say."""

    header_row: int = 1
    header_span: int = 1
    sheet: str | None = None
    position_header: str | None = None
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (header, why)
    orders: dict[Order, int] = field(default_factory=dict)  # "lonlat"/"latlon" -> rows
    degrees: dict[str, int] = field(default_factory=dict)  # header -> rows read as DMS
    named_phones: int = 0  # rows whose telephone cell also names the person ("张三 138…")
    phone_header: str | None = None
    skipped: dict[str, list[int]] = field(default_factory=dict)  # "合计"/"说明" -> rows

    def notes(self) -> list[str]:
        """The report's lines, in Chinese, each bounded."""
        out: list[str] = []
        if self.sheet is not None:
            out.append(f"读取工作表“{visible(self.sheet[:40])}”")
        above = above_header_note(self.header_row, self.header_span)
        if above:
            out.append(above)
        for header, why in self.ignored:
            out.append(f"“{visible(header[:MAX_HEADER_CHARS])}”一列{why}")
        if self.position_header is not None and self.orders:
            name = visible(self.position_header[:MAX_HEADER_CHARS])
            ways = sorted(self.orders.items(), key=lambda kv: -kv[1])
            if len(ways) == 1:
                out.append(f"“{name}”一列按{ORDER_WORDS[ways[0][0]]}读取")
            else:
                said = "，".join(f"{n} 行按{ORDER_WORDS[o]}读取" for o, n in ways)
                out.append(f"“{name}”一列{said}（按数值范围判断）")
        for header, n in self.degrees.items():
            out.append(f"“{visible(header[:MAX_HEADER_CHARS])}”一列有 {n} 行按度分秒读取")
        if self.named_phones:
            name = visible((self.phone_header or "联系电话")[:MAX_HEADER_CHARS])
            out.append(f"“{name}”一列有 {self.named_phones} 行写了联系人姓名和电话，只登记电话")
        for kind, numbers in self.skipped.items():
            out.append(f"{row_list(numbers)}是{kind}行，已忽略")
        return out


@dataclass
class RowSource:
    """Rows of a file, mapped to record fields, with the row numbers a clerk sees."""

    format: str
    encoding: str | None = None
    unknown_columns: list[str] = field(default_factory=list)
    rows: Iterator[tuple[int, dict[str, Any]]] = field(default_factory=lambda: iter(()))
    columns: dict[str, str] = field(default_factory=dict)  # record field -> header in the file
    delimiter: str | None = None  # a CSV's separator, as detected
    # The system the format itself fixes (GeoJSON: WGS-84, RFC 7946); None: the uploader says.
    default_crs: str | None = None
    reading: SheetReading = field(default_factory=lambda: SheetReading())

    def notes(self) -> list[str]:
        """How the file was read (header row, rows passed, position order…), in Chinese;
        complete once the rows have been read."""
        return self.reading.notes()


def detect_format(path: Path) -> str:
    """Tell the file's format from its name: csv, xlsx or geojson (ValueError if none)."""
    return format_for(path).name


_NO_POSITION = ("lon", "lat", POSITION)


def _read_positions(
    cells: dict[str, Any], headers: dict[str, str], reading: SheetReading
) -> list[Problem]:
    """Split a one-column position into lon/lat and read degrees-minutes-seconds text."""
    problems: list[Problem] = []
    if POSITION in cells:
        value = cells.pop(POSITION)
        if not (value is None or str(value).strip()) or value is MISSING:
            return problems
        if not (str(cells.get("lon") or "").strip() or str(cells.get("lat") or "").strip()):
            pair = split_pair(value)
            if isinstance(pair, str):
                problems.append(Problem("lon", "invalid_position", pair, plain_cell(value)))
            else:
                cells["lon"], cells["lat"], order = pair
                reading.orders[order] = reading.orders.get(order, 0) + 1
    for key in ("lon", "lat"):
        value = cells.get(key)
        if is_degrees_text(value):
            number = parse_degrees(value)
            if number is not None:
                cells[key] = number
                header = headers.get(key, key)
                reading.degrees[header] = reading.degrees.get(header, 0) + 1
    return problems


# "张三 13800138000", "李女士：023-63000000": a person's name before the number.
_NAMED_PHONE = re.compile(r"^\s*([\u4e00-\u9fff·]{1,6})\s*[:：,，/\s]\s*([\d(（+].*)$")


def _phone_without_name(cells: dict[str, Any]) -> bool:
    """Keep only the number of a telephone cell that also names the person; True if so."""
    value = cells.get("contact_phone")
    if not isinstance(value, str) or phone_problem(value) is None:
        return False
    found = _NAMED_PHONE.match(value)
    if found is None or phone_problem(found.group(2)) is not None:
        return False
    cells["contact_phone"] = found.group(2).strip()
    return True


def _free_amenities(cells: dict[str, Any]) -> list[Problem]:
    """A clerk's free-text amenities cell ("饮水、微波炉、充电、厕所"): the words known
    kept, each unknown one a warning, not a rejection."""
    value = cells.get("amenities")
    if value is None or value is MISSING:
        return []
    known, unknown = amenity_words(value)
    cells["amenities"] = list(known)
    return [
        Problem(
            "amenities",
            "unknown_amenity_word",
            f"“{visible(word[:40])}”不是登记表的服务设施项目，未登记"
            f"（可登记：{'、'.join(AMENITY_LABELS.values())}）",
            word[:40],
        )
        for word in unknown
    ]


class StationRows:
    """Rows as record fields: a cell the row lacks is left out, our export's formula quote
    undone where the format may carry it, a point the format gives apart written as
    lon/lat, a one-column or degrees-minutes-seconds position read, a total or note row
    (合计, 备注…, with no position) passed, and each row given as :class:`Cells` with its
    own cells under the file's headers.

    Iterated: ``(number, Cells)`` a row at a time. A planner that reads plain rows a chunk
    at a time takes :meth:`raw_chunks` instead (the rows as the format read them, with
    ``mapping`` naming each column's field) and asks :meth:`cells` for each row it does
    not read itself: the same Cells, the same notes on how the file was read.
    """

    def __init__(
        self,
        rows: Iterator[Row],
        mapping: Sequence[str | None],
        quoted: bool,
        *,
        headers: Sequence[Any] = (),
        columns: dict[str, str] | None = None,
        reading: SheetReading | None = None,
    ) -> None:
        self._rows = rows
        self.mapping = list(mapping)
        self.quoted = quoted
        self._keep = restore if quoted else None
        self.reading = reading if reading is not None else SheetReading()
        self.columns = columns or {}
        self._names = _source_headers(headers)
        self._positioned = [i for i, k in enumerate(mapping) if k in _NO_POSITION]
        self.free_text = (
            self.columns.get("amenities") is not None
            and normal_header(self.columns["amenities"]) in FREE_TEXT_AMENITY_HEADERS
        )
        self._iter: Generator[tuple[int, dict[str, Any]], None, None] | None = None
        # Whether every cell is text (a CSV's): what a planner reading columns of text needs.
        self.text_cells = False

    def cells(self, row: Row) -> tuple[int, Cells] | None:
        """One row as record fields (None: a total or note row, passed and noted)."""
        number, values, point, problems = row
        reading = self.reading
        if point is None and not any(
            i < len(values) and values[i] is not None and str(values[i]).strip()
            for i in self._positioned
        ):
            kind = summary_kind(values)
            if kind is not None:
                reading.skipped.setdefault(kind, []).append(number)
                return None
        mapping, keep = self.mapping, self._keep
        # As uploaded (our export's formula quote undone: the workbook of rejected rows
        # quotes again what needs it).
        if keep is not None:
            values = [keep(v) for v in values]
            cells = {k: v for k, v in zip(mapping, values, strict=False) if k is not None}
        else:
            cells = {
                k: v
                for k, v in zip(mapping, values, strict=False)
                if k is not None and v is not MISSING
            }
        if point is not None:
            cells["lon"], cells["lat"] = point
        found = (*problems, *_read_positions(cells, self.columns, reading))
        warnings = tuple(_free_amenities(cells)) if self.free_text else ()
        if _phone_without_name(cells):
            reading.named_phones += 1
        return number, Cells(cells, found, warnings=warnings, raw=(self._names, values, point))

    def raw_chunks(self, size: int) -> Iterator[list[Row]]:
        """The rows as the format read them, ``size`` at a time (each row the planner does
        not read itself goes through :meth:`cells`); closed at the end."""
        chunk: list[Row] = []
        try:
            for row in self._rows:
                chunk.append(row)
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
        finally:
            self._close_rows()

    def _each(self) -> Generator[tuple[int, dict[str, Any]], None, None]:
        try:
            for row in self._rows:
                read = self.cells(row)
                if read is not None:
                    yield read
        finally:
            self._close_rows()

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return self

    def __next__(self) -> tuple[int, dict[str, Any]]:
        if self._iter is None:
            self._iter = self._each()
        return next(self._iter)

    def _close_rows(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        """Close the reader's file (when planning stopped part-way)."""
        if self._iter is not None:
            self._iter.close()
        self._close_rows()


def read_rows(
    path: str | Path,
    *,
    format: str | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
    sheet: str | None = None,
) -> RowSource:
    """Open a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, semicolon or tab separated),
    XLSX or GeoJSON file of stations.

    The header is found below title and note rows; in a workbook, in the one sheet that
    has it (``sheet`` chooses; several and none chosen: SheetChoiceError). A file that
    cannot be read, or breaks ``limits``, raises ValueError (FileRefusedError names the
    problem) before any row is returned. A row the reader found wrong in itself (a GeoJSON
    geometry that is not a point, a position it cannot split) is a :class:`Cells` with
    ``problems``. ``notes()`` of the result says how the file was read, once its rows are.
    """
    path = Path(path)
    table = format_named(format or None, path).read(path, limits, sheet)
    mapping, unknown = map_headers(table.header)
    columns = _columns(table.header, mapping)
    reading = SheetReading(
        header_row=table.header_row, header_span=table.header_span, sheet=table.sheet
    )
    reading.position_header = columns.get(POSITION)
    reading.phone_header = columns.get("contact_phone")
    reading.ignored = [
        (str(h).strip(), why)
        for h, m in zip(table.header, mapping, strict=False)
        if m is None and (why := ignored_header(h)) is not None
    ]
    rows = StationRows(
        table.rows, mapping, table.quoted, headers=table.header, columns=columns, reading=reading
    )
    rows.text_cells = table.format == "csv"
    return RowSource(
        table.format,
        table.encoding,
        unknown,
        rows,
        columns,
        delimiter=table.delimiter,
        default_crs=table.default_crs,
        reading=reading,
    )


def export_stations(
    stations: Iterable[Station], path: str | Path, *, format: str | None = None
) -> int:
    """Export stations to ``path`` as csv, xlsx or geojson; return how many were written."""
    path = Path(path)
    fmt = format_named(format or None, path)
    if fmt.export is None:
        msg = f"{fmt.name} files are read, not exported"
        raise UnsupportedFormatError(msg)
    return fmt.export(stations, path)


@contextmanager
def stdout_text() -> Iterator[IO[str]]:
    """Standard output as UTF-8 text whatever the locale; left open for the caller after."""
    wrapper = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()  # closing the wrapper would close the process's stdout
