"""CSV: UTF-8 (with or without BOM), GBK/GB18030 or UTF-16 "Unicode text"; comma, semicolon,
tab or bar separated. Read for uploads, written for exports."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from stations.domain.model import Station
from stations.formats.export import export_cells
from stations.formats.fields import EXPORT_COLUMNS
from stations.formats.limits import FileLimits, FileRefusedError, limited
from stations.formats.sheet import HEADER_SCAN_ROWS, find_header, header_score, two_row_header
from stations.formats.table import Row, Table


def detect_encoding(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Return utf-8-sig, utf-8, gb18030 (a superset of GBK) or, after its BOM, utf-16 for
    a CSV file.

    The whole file is checked in chunks with an incremental decoder, so memory stays bounded
    and a GBK character far down the file is not missed.
    """
    with path.open("rb") as fh:
        head = fh.read(3)
    bom = head == codecs.BOM_UTF8
    candidates: tuple[str, ...] = ("utf-8", "gb18030")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)  # Excel's "Unicode 文本 (*.txt)": tab separated
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(chunk_bytes):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return "utf-8-sig" if bom and encoding == "utf-8" else encoding
    msg = f"{path.name}: 文件编码无法识别（请另存为 UTF-8 或 GBK 编码的 CSV，或 Unicode 文本）"
    raise ValueError(msg)


# Delimiters a spreadsheet program may save a "CSV" with (semicolons where the decimal
# separator is a comma, tabs from "Unicode text").
_CSV_DELIMITERS = (",", ";", "\t", "|")


def _first_records(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    """The first records of the file under ``delimiter`` (at most 1 MiB of text read)."""
    with path.open(encoding=encoding, newline="") as fh:
        try:
            head = fh.read(1 << 20)
        except UnicodeDecodeError:
            head = ""
    lines = head.splitlines(keepends=True)[: HEADER_SCAN_ROWS * 4]
    if len(head) >= 1 << 20 and lines:
        lines = lines[:-1] or lines  # the last line may be cut
    records: list[list[str]] = []
    try:
        for record in csv.reader(lines, delimiter=delimiter):
            records.append(record)
            if len(records) >= HEADER_SCAN_ROWS:
                break
    except csv.Error:
        pass
    return records


def _csv_header(path: Path, encoding: str) -> tuple[str, list[str], int, int]:
    """The delimiter, the header and its index among the records: the first record (of the
    first 20) naming two known fields, under the delimiter whose header names the most;
    failing that, the first line under the delimiter that maps the most known headers.
    Last, how many records the header takes (2: merged over two rows)."""
    best: tuple[int, str, list[str], int, int] = (-1, ",", [], 0, 1)
    fallback: tuple[int, str, list[str]] = (-1, ",", [])
    for delimiter in _CSV_DELIMITERS:
        records = _first_records(path, encoding, delimiter)
        if not records:
            continue
        first_known = header_score(records[0])
        if first_known > fallback[0]:
            fallback = (first_known, delimiter, records[0])
        found = find_header(records)
        if found is not None:
            known = header_score(records[found])
            if known > best[0]:
                below = records[found + 1] if found + 1 < len(records) else []
                merged = two_row_header(records[found], below)
                if merged is not None:
                    best = (known, delimiter, merged, found, 2)
                else:
                    best = (known, delimiter, records[found], found, 1)
    if best[0] >= 0:
        return best[1], best[2], best[3], best[4]
    return fallback[1], fallback[2], 0, 1


def _csv_refusal(path: Path, line: int, exc: csv.Error) -> FileRefusedError:
    if "field larger than field limit" in str(exc):
        limit_kib = csv.field_size_limit() // 1024
        return FileRefusedError(
            "cell_too_long",
            f"{path.name}: 第 {line} 行附近有一格超过 {limit_kib} KiB，不是驿站登记的内容；"
            "请检查这一格（多为漏写引号或粘贴了整个文件）",
        )
    return FileRefusedError("bad_file", f"{path.name}: 第 {line} 行无法按 CSV 读取：{exc}")


def _csv_rows(path: Path, encoding: str, delimiter: str, skip: int = 0) -> Iterator[Row]:
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            for _ in range(skip + 1):
                next(reader, None)
            for number, values in enumerate(reader, start=skip + 2):
                if not "".join(values).strip():  # every cell blank (one join, not a scan)
                    continue
                yield Row(number, values)
        except csv.Error as exc:
            raise _csv_refusal(path, reader.line_num, exc) from None


def _most_records(path: Path, *, chunk_bytes: int = 1 << 20) -> int:
    """At most how many records the file holds: one more than its line feeds and carriage
    returns, a carriage return and line feed together counted once, and not one more when
    the file ends with a line break (in every encoding read here, a line break holds one of
    those bytes, and no other character does but UTF-16's, which only makes the bound
    larger; a UTF-16 line break's bytes are never the two of one such pair). So a file of
    CRLF lines (Excel's, the csv module's) within the limit is not read twice."""
    n = 1
    last = b""  # the file's last byte so far
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            n += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            if last == b"\r" and chunk[:1] == b"\n":
                n -= 1
            last = chunk[-1:]
    return n - 1 if last in (b"\n", b"\r") else n


def read_csv(path: Path, limits: FileLimits, sheet: str | None = None) -> Table:
    """The file's header (the first of its first 20 lines naming two known fields, under
    the delimiter that maps the most; title lines above it are passed) and rows; refused
    before any row is returned if it has too many. ``sheet``: a CSV has one, ignored."""
    del sheet
    encoding = detect_encoding(path)
    delimiter, header, at, span = _csv_header(path, encoding)
    skip = at + span - 1
    # Counted before any row is planned (fast: stops at the first row too many), unless
    # the file has too few line breaks to hold too many records.
    if _most_records(path) - skip - 1 > limits.max_rows:
        for _ in limited(_csv_rows(path, encoding, delimiter, skip), path.name, limits):
            pass
    rows = limited(_csv_rows(path, encoding, delimiter, skip), path.name, limits)
    return Table(
        "csv",
        header,
        rows,
        encoding,
        delimiter,
        quoted=True,
        header_row=at + 1,
        header_span=span,
    )


def write_csv(stations: Iterable[Station], out: IO[str]) -> int:
    """Write CSV with a UTF-8 BOM-friendly layout (the caller opens with utf-8-sig)."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for station in stations:
        writer.writerow(export_cells(station))
        n += 1
    return n


def export_csv(stations: Iterable[Station], path: Path) -> int:
    """Export to a CSV file that Excel opens as UTF-8 (with a BOM)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        return write_csv(stations, fh)
