"""What every format's reader returns: a header and numbered rows of cells."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from stations.domain.validation import Problem


class _Missing:
    """A cell a row does not have at all (a GeoJSON feature without that property), as
    opposed to one it has empty."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Row(NamedTuple):
    """One row of a file: the number a clerk sees, the cells in the header's order
    (``MISSING`` where the row has none), a point the format gives outside the cells
    (a GeoJSON geometry), and what the reader found wrong with the row itself."""

    number: int
    values: Sequence[Any]
    point: tuple[Any, Any] | None = None
    problems: tuple[Problem, ...] = ()


@dataclass
class Table:
    """A file read by its format: the header, the rows (read once, lazily, each format's
    limits already applied), and what the format tells of the file."""

    format: str
    header: list[Any]
    rows: Iterator[Row]
    encoding: str | None = None
    delimiter: str | None = None  # a CSV's separator, as detected
    # The system the format itself fixes (GeoJSON: WGS-84, RFC 7946); None: the uploader says.
    default_crs: str | None = None
    # Whether text cells may carry our export's quote against formula injection.
    quoted: bool = False
    # The row the header was found in (title and note rows above it passed), 1-based.
    header_row: int = 1
    header_span: int = 1  # 2: the header's cells merged over two rows (经纬度 over 经度|纬度)
    # A workbook's sheet that was read (None: the format has no sheets).
    sheet: str | None = None


class Cells(dict[str, Any]):
    """A station row mapped to record fields, with the problems the reader found in the
    row itself (``problems``: e.g. a GeoJSON geometry that is not a point), the warnings it
    found (``warnings``: words of a free-text amenities cell it does not know) and the
    row's own cells under the file's headers (``source``: what the rejected-rows workbook
    gives back; made only when asked, from ``raw``: the headers, the values as uploaded
    and a point given apart).
    """

    __slots__ = ("_raw", "_source", "problems", "warnings")

    def __init__(
        self,
        cells: dict[str, Any],
        problems: tuple[Problem, ...] = (),
        *,
        source: dict[str, Any] | None = None,
        warnings: tuple[Problem, ...] = (),
        raw: tuple[Sequence[str], Sequence[Any], tuple[Any, Any] | None] | None = None,
    ) -> None:
        super().__init__(cells)
        self.problems = problems
        self.warnings = warnings
        self._source = source
        self._raw = raw

    @property
    def source(self) -> dict[str, Any]:
        if self._source is None:
            self._source = _source_cells(*self._raw) if self._raw is not None else {}
        return self._source


def plain_cell(value: Any) -> Any:
    """A cell as JSON keeps it: text, a number, a truth value or nothing."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _source_cells(
    names: Sequence[str], values: Sequence[Any], point: tuple[Any, Any] | None
) -> dict[str, Any]:
    source = {n: plain_cell(v) for n, v in zip(names, values, strict=False) if v is not MISSING}
    if point is not None:
        source.setdefault("经度", plain_cell(point[0]))
        source.setdefault("纬度", plain_cell(point[1]))
    return source
