"""What an uploaded file may hold, and the refusal of a file as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class FileRefusedError(ValueError):
    """A file refused as a whole before its rows are read; ``code`` names the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SheetChoiceError(FileRefusedError):
    """A workbook with several sheets of stations, none chosen (or one chosen it lacks):
    ``sheets`` are the names to choose among."""

    def __init__(self, message: str, sheets: list[str]) -> None:
        super().__init__("choose_sheet", message)
        self.sheets = sheets


@dataclass(frozen=True, slots=True)
class FileLimits:
    """What an uploaded file may hold, checked before a spreadsheet library reads it.

    A spreadsheet is a zip of XML: 817 KB on disk once unpacked to one 800 MB cell, and
    982 KB to 2,000 rows of 16,384 columns. Real files are smaller: our export of 20,000
    stations (44 columns) is 5.4 MB and unpacks to 50 MB (bench/upload_bombs.py), so a
    file within the 20 MB upload limit unpacks to about 200 MB.
    """

    max_unpacked_bytes: int = 512 * 1024 * 1024
    # Any part but a sheet (styles, shared strings, the workbook…) openpyxl reads whole, even
    # read-only: 420 MB of styles took 177 s and 7.3 GB. Excel's own maximum of 64,000 cell
    # formats is about 10 MB of styles; our 20,000-station export has no part over 11 KB
    # but its sheet.
    max_part_bytes: int = 16 * 1024 * 1024
    # Rows of stations (after the header): five times the city's 20,000; each row planned
    # costs about 0.25 ms and 600 bytes stored, and a 20 MB CSV holds 10 million rows of "x".
    max_rows: int = 100_000
    max_columns: int = 256  # our template has 30 columns, exports 44; Excel 2003 stopped at 256
    max_cell_chars: int = 32_767  # Excel's own limit for one cell


DEFAULT_LIMITS = FileLimits()


def too_many_rows(name: str, limits: FileLimits, part: str = "") -> FileRefusedError:
    where = f"（{part}）" if part else ""
    return FileRefusedError(
        "too_many_rows",
        f"{name}: 超过 {limits.max_rows:,} 行{where}，远多于全市的驿站；"
        "请检查是否有大量空白或无关的行，或分成几个文件上传",
    )


def limited(rows: Iterator[T], name: str, limits: FileLimits) -> Iterator[T]:
    """The rows, refusing the file at the first row past ``limits.max_rows``; closed, it
    closes ``rows`` (a reader's open file is not left to the garbage collector)."""
    try:
        for count, row in enumerate(rows, start=1):
            if count > limits.max_rows:
                raise too_many_rows(name, limits)
            yield row
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
