"""Read station rows from any format of the registry, and export stations to one.

The formats themselves are in csvfile, xlsx and geojson, listed in registry; the public
fields in fields. This module keeps the names the rest of the code imports.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stations.domain.model import Station
from stations.formats.csvfile import detect_encoding, write_csv
from stations.formats.export import export_row, neutralise, restore
from stations.formats.fields import (
    EXPORT_COLUMNS,
    MAX_HEADER_CHARS,
    MAX_UNKNOWN_COLUMNS,
    map_headers,
)
from stations.formats.geojson import write_geojson
from stations.formats.limits import DEFAULT_LIMITS, FileLimits, FileRefusedError
from stations.formats.registry import (
    FORMATS,
    UnsupportedFormatError,
    format_for,
    format_named,
)
from stations.formats.table import MISSING, Cells, Row
from stations.formats.xlsx import check_xlsx, export_xlsx

__all__ = [
    "EXPORT_COLUMNS",
    "FORMATS",
    "MAX_HEADER_CHARS",
    "MAX_UNKNOWN_COLUMNS",
    "Cells",
    "FileLimits",
    "FileRefusedError",
    "RowSource",
    "UnsupportedFormatError",
    "check_xlsx",
    "detect_encoding",
    "detect_format",
    "export_row",
    "export_stations",
    "map_headers",
    "neutralise",
    "read_rows",
    "stdout_text",
    "write_csv",
    "write_geojson",
    "write_xlsx",
]

write_xlsx = export_xlsx


def _columns(headers: Iterable[Any], mapping: list[str | None]) -> dict[str, str]:
    return {f: str(h).strip() for h, f in zip(headers, mapping, strict=False) if f is not None}


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


def detect_format(path: Path) -> str:
    """Tell the file's format from its name: csv, xlsx or geojson (ValueError if none)."""
    return format_for(path).name


def _station_rows(
    rows: Iterator[Row], mapping: Sequence[str | None], quoted: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows as record fields: a cell the row lacks is left out, our export's formula quote
    undone where the format may carry it, a point the format gives apart written as
    lon/lat, and a row with problems of its own given as :class:`Cells`."""
    keep = restore if quoted else None
    for number, values, point, problems in rows:
        if keep is not None:
            cells = {k: keep(v) for k, v in zip(mapping, values, strict=False) if k is not None}
        else:
            cells = {
                k: v
                for k, v in zip(mapping, values, strict=False)
                if k is not None and v is not MISSING
            }
        if point is not None:
            cells["lon"], cells["lat"] = point
        yield number, (Cells(cells, problems) if problems else cells)


def read_rows(
    path: str | Path, *, format: str | None = None, limits: FileLimits = DEFAULT_LIMITS
) -> RowSource:
    """Open a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, semicolon or tab separated),
    XLSX or GeoJSON file of stations.

    A file that cannot be read, or breaks ``limits``, raises ValueError (FileRefusedError
    names the problem) before any row is returned. A row the reader found wrong in itself
    (a GeoJSON geometry that is not a point) is a :class:`Cells` with ``problems``.
    """
    path = Path(path)
    table = format_named(format or None, path).read(path, limits)
    mapping, unknown = map_headers(table.header)
    return RowSource(
        table.format,
        table.encoding,
        unknown,
        _station_rows(table.rows, mapping, table.quoted),
        _columns(table.header, mapping),
        delimiter=table.delimiter,
        default_crs=table.default_crs,
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
