"""The planners' 报表: tables of figures as an Excel workbook (one sheet per table, a title
row with the date and scope, Chinese headers, numbers as numbers, rates as percentages),
and the same cells as text for a page, so the workbook and the page show one set of numbers.

What goes in the tables is the caller's (stations.services.dashboard); here is only how a
table is laid out and how each kind of cell is written and coloured.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# At the top, as in stations.formats.template: the app imports openpyxl at start-up anyway.
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from stations.formats.export import neutralise

Kind = Literal["text", "count", "rate", "number", "date"]

# How a rate is banded so laggards stand out (the page's classes, the workbook's fills):
# under 50 % is 落后 (red), under 80 % 一般 (amber), else 良好 (green).
BANDS: tuple[tuple[float, str, str], ...] = (
    (0.5, "low", "低于 50%"),
    (0.8, "mid", "50%–80%"),
    (float("inf"), "high", "80% 及以上"),
)
BAND_FILLS = {"low": "F8D7DA", "mid": "FFF3CD", "high": "D4EDDA"}
NO_VALUE = "—"  # a figure that is not there (no active station, or too much work to measure)


@dataclass(frozen=True, slots=True)
class Column:
    """One column: the row key it shows, its Chinese header, how its cells are written;
    ``banded`` rates are coloured by :data:`BANDS`; ``missing`` is the tooltip of a cell
    with no value; a cell holding ``alarm`` is coloured as a laggard."""

    key: str
    label: str
    kind: Kind = "count"
    banded: bool = False
    missing: str = ""
    alarm: str = ""  # a text shown as a laggard (``low``), e.g. 逾期


def cell_band(row: Mapping[str, Any], column: Column) -> str | None:
    """The band ``row``'s cell of ``column`` is coloured with (None: none): a banded rate's,
    or ``low`` for the column's alarm text."""
    value = row.get(column.key)
    if column.alarm and value == column.alarm:
        return "low"
    return band(value) if column.banded else None


@dataclass(frozen=True, slots=True)
class Table:
    """One sheet of the workbook (``name``, at most 31 characters) and one table of the page:
    ``rows`` (each a mapping of column keys to values), then ``totals`` (the city's row)."""

    name: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    totals: Mapping[str, Any] | None = None
    note: str = ""
    empty: str = "暂无数据。"  # what the page says of a table without rows


def kind_of(row: Mapping[str, Any], column: Column) -> Kind:
    """How ``row``'s cell of ``column`` is written: the column's kind unless the row's
    ``_kinds`` mapping says otherwise (a target's value is a rate or a count by its metric)."""
    kinds: Mapping[str, Kind] = row.get("_kinds") or {}
    return kinds.get(column.key, column.kind)


def band(value: Any) -> str | None:
    """The band of a rate (None for no number): ``low``, ``mid`` or ``high``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return next(name for upper, name, _ in BANDS if value < upper)


def cell_text(value: Any, kind: Kind) -> str:
    """A cell as the page writes it: rates as percentages to 0.1 %, counts with
    thousands separators, nothing as :data:`NO_VALUE`."""
    if value is None or value == "":
        return NO_VALUE
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "count" and isinstance(value, int):
        return f"{value:,}"
    if kind == "number" and isinstance(value, int | float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


NUMBER_FORMATS: dict[str, str] = {
    "rate": "0.0%",
    "count": "#,##0",
    "number": "#,##0.###",
    "text": "@",
    "date": "@",
}


def report_xlsx(tables: Sequence[Table], *, title: str) -> bytes:
    """The workbook: a sheet per table, its first row ``title`` (with the date and scope),
    its second the headers, then the rows and the totals row; values as numbers."""
    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for table in tables:
        sheet = book.create_sheet(table.name[:31])
        sheet.append([neutralise(f"{title}：{table.name}")])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
        sheet.append([c.label for c in table.columns])
        for cell in sheet[2]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        body = [*table.rows, *([table.totals] if table.totals is not None else [])]
        for row in body:
            sheet.append([_xlsx_value(row.get(c.key), kind_of(row, c)) for c in table.columns])
            cells = sheet[sheet.max_row]
            for cell, column in zip(cells, table.columns, strict=True):
                cell.number_format = NUMBER_FORMATS[kind_of(row, column)]
                found = cell_band(row, column)
                if found is not None:
                    colour = BAND_FILLS[found]
                    cell.fill = PatternFill("solid", start_color=colour, end_color=colour)
        if table.totals is not None:
            for cell in sheet[sheet.max_row]:
                cell.font = bold
        if table.note:
            sheet.append([])
            sheet.append([table.note])
        for i, column in enumerate(table.columns, start=1):
            width = 18 if column.kind == "text" else max(10, len(column.label) * 2 + 2)
            sheet.column_dimensions[get_column_letter(i)].width = width
        sheet.freeze_panes = "B3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any, kind: Kind) -> Any:
    if value is None or value == "":
        return NO_VALUE
    if kind in ("rate", "count", "number") and isinstance(value, int | float):
        return value
    # A text cell (a target's 说明, a name) starting with = + - @ would be a formula.
    return neutralise(str(value))
