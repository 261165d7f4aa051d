"""The file formats we read and write, in one table.

Each format is a module with a reader (path, FileLimits -> Table of numbered rows, the
format's own limits applied) and, where we export to it, a writer (stations, path -> count).
Station uploads (io.read_rows), demand layers (services.demand), exports
(io.export_stations) and the unsupported-file message all go through :data:`FORMATS`;
adding a format is its module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from stations.domain.model import Station
from stations.formats import csvfile, geojson, xlsx
from stations.formats.limits import FileLimits
from stations.formats.table import Table


class Reader(Protocol):
    """A format's reader: the file, its limits and, for a workbook, the sheet chosen."""

    def __call__(self, path: Path, limits: FileLimits, sheet: str | None = None) -> Table: ...


@dataclass(frozen=True, slots=True)
class Format:
    """One file format: its name, the suffixes that mean it (the first is the one offered),
    its media type, its reader, its export writer to a file (None: not exported) and, for
    a text format, its writer to an open text stream (standard output, an HTTP body)."""

    name: str
    suffixes: tuple[str, ...]
    media_type: str
    read: Reader
    export: Callable[[Iterable[Station], Path], int] | None = None
    stream: Callable[[Iterable[Station], IO[str]], int] | None = None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "csv",
            (".csv", ".txt"),
            "text/csv",
            csvfile.read_csv,
            csvfile.export_csv,
            csvfile.write_csv,
        ),
        Format(
            "xlsx",
            (".xlsx", ".xlsm"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx.read_xlsx,
            xlsx.export_xlsx,
        ),
        Format(
            "geojson",
            (".geojson", ".json"),
            "application/geo+json",
            geojson.read_geojson,
            geojson.export_geojson,
            geojson.write_geojson,
        ),
    )
}
_BY_SUFFIX = {suffix: f for f in FORMATS.values() for suffix in f.suffixes}


class UnsupportedFormatError(ValueError):
    """A file of a type we do not read, or a format name we do not know."""


def _offered() -> str:
    first = [f.suffixes[0] for f in FORMATS.values()]
    return "、".join(first[:-1]) + " 或 " + first[-1] if len(first) > 1 else first[0]


def format_for(path: Path) -> Format:
    """The format of a file, told from its name (UnsupportedFormatError if none)."""
    found = _BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        msg = (
            f"{path.name}: 不支持的文件类型（{path.suffix.lower() or '无扩展名'}）；"
            f"请上传 {_offered()} 文件（Excel 的 .xls 请另存为 .xlsx）"
        )
        raise UnsupportedFormatError(msg)
    return found


def format_named(name: str | None, path: Path) -> Format:
    """The format called ``name``, or if None the one of ``path``'s name."""
    if name is None:
        return format_for(path)
    found = FORMATS.get(name)
    if found is None:
        msg = f"unknown format {name!r}; use one of {', '.join(FORMATS)}"
        raise UnsupportedFormatError(msg)
    return found
