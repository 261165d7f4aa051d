"""Sheets as union offices keep them: a title and a 填报单位/填报日期 line above the header,
a 合计 or 备注 line below the stations. The rules that find the header and pass such lines,
for CSV and XLSX alike."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from stations.formats.fields import map_headers

# The header is looked for in this many rows from the top.
HEADER_SCAN_ROWS = 20
# A row naming at least this many known fields is the header.
MIN_HEADER_FIELDS = 2


def header_score(values: Sequence[Any]) -> int:
    """How many cells of a row name a known field (the one-column position included)."""
    if not any(v is not None and str(v).strip() for v in values):
        return 0
    return sum(f is not None for f in map_headers(values)[0])


def find_header(rows: Sequence[Sequence[Any]]) -> int | None:
    """The index of the first row (of the first :data:`HEADER_SCAN_ROWS`) that names at
    least :data:`MIN_HEADER_FIELDS` known fields; None if none does."""
    for i, values in enumerate(rows[:HEADER_SCAN_ROWS]):
        if header_score(values) >= MIN_HEADER_FIELDS:
            return i
    return None


_BRACKETED = re.compile(r"[（(\[【].*?[)）\]】]")


def two_row_header(header: Sequence[Any], below: Sequence[Any]) -> list[Any] | None:
    """A header whose cells are merged over two rows ("经纬度（高德）" over "经度 | 纬度"):
    the one header made of both, or None if ``below`` is not its second row.

    ``below`` is one when it holds no number and its known names sit only under empty
    (merged) cells or under a one-column position; each takes the parent's bracketed note
    (the system it names), so "经度" under "经纬度（高德）" is "经度（高德）".
    """
    if not any(v is not None and str(v).strip() for v in below):
        return None
    if any(isinstance(v, int | float) and not isinstance(v, bool) for v in below):
        return None
    mapped_below = map_headers(below)[0]
    if not any(mapped_below):
        return None
    mapped_above = map_headers(header)[0]
    combined: list[Any] = list(header) + [None] * max(0, len(below) - len(header))
    parent = ""
    for i, key in enumerate(mapped_below):
        above = combined[i] if i < len(combined) else None
        if above is not None and str(above).strip():
            parent = str(above)
        if key is None:
            if below[i] is not None and str(below[i]).strip():
                return None  # a value, not a header
            continue
        parent_key = mapped_above[i] if i < len(mapped_above) else None
        if above is not None and str(above).strip() and parent_key != "position":
            return None
        note = _BRACKETED.search(parent)
        combined[i] = str(below[i]).strip() + (note.group(0) if note else "")
    return combined


_TOTAL = re.compile(r"^(合计|小计|总计|共计|总数|累计)")
_NOTE = re.compile(
    r"^(备注|说明|注|附注|填表说明|填报说明|制表|审核|填报人|填表人|负责人)[:：\s]|^(备注|说明|注)$"
)


def _normal(value: Any) -> str:
    return (
        re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))) if value is not None else ""
    )


def summary_kind(values: Sequence[Any], *, first_cells: int = 3) -> str | None:
    """ "合计" for a total line, "说明" for a note line, judged by the first non-empty cells
    of a row (which the caller has found to hold no position); None for any other row."""
    seen = 0
    for value in values:
        text = _normal(value)
        if not text:
            continue
        if _TOTAL.match(text):
            return "合计"
        if _NOTE.match(text):
            return "说明"
        seen += 1
        if seen >= first_cells:
            break
    return None


def row_list(numbers: Sequence[int], *, at_most: int = 10) -> str:
    """Row numbers as a report says them: "第 48、49 行", "第 3、5、…… 行等 40 行"."""
    shown = "、".join(str(n) for n in numbers[:at_most])
    if len(numbers) > at_most:
        return f"第 {shown} 等 {len(numbers)} 行"
    return f"第 {shown} 行"


def above_header_note(header_row: int, span: int = 1) -> str | None:
    """The report's line for rows above the header (1-based row numbers); ``span``: the
    rows the header takes (2: merged over two rows)."""
    rows = f"第 {header_row} 行" if span == 1 else f"第 {header_row}–{header_row + span - 1} 行"
    if header_row <= 1:
        return None if span == 1 else f"{rows}是表头（合并单元格）"
    if header_row == 2:
        return f"第 1 行是标题或填报说明，{rows}是表头"
    return f"第 1–{header_row - 1} 行是标题和填报说明，{rows}是表头"
