"""XLSX: the spreadsheet checked against FileLimits before openpyxl reads it, and the
streamed export workbook."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat
from zipfile import BadZipFile, ZipFile

from stations.domain.model import AMENITY_LABELS, ENTRY_METHOD_LABELS, Station
from stations.domain.validation import visible
from stations.formats.export import CLERK_HEADERS, clerk_cells, export_cells, neutralise
from stations.formats.fields import EXPORT_COLUMNS
from stations.formats.limits import (
    DEFAULT_LIMITS,
    FileLimits,
    FileRefusedError,
    SheetChoiceError,
    limited,
    too_many_rows,
)
from stations.formats.sheet import HEADER_SCAN_ROWS, find_header, two_row_header
from stations.formats.table import Row, Table


def _column_number(ref: str) -> int:
    """1 for A1, 16,384 for XFD7: the column of a cell reference."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n


def _scan_xlsx_xml(
    name: str,
    stream: IO[bytes],
    limits: FileLimits,
    budget: list[int],
    *,
    part: str = "",
    first: bytes = b"",
    may_be_large: bool = False,
    overrides: dict[str, str] | None = None,
    chunk: int = 1 << 16,
) -> None:
    """Stream one XML part through expat: count columns, cell lengths and its size.

    Nothing is kept but counters, so a bomb is refused at its first oversized cell or
    column, in bounded memory, before openpyxl (which loads all shared strings at once).
    Unless ``may_be_large`` (a sheet, which openpyxl streams), the part is refused past
    ``limits.max_part_bytes``. ``overrides`` collects [Content_Types].xml's part types.
    """

    parser = expat.ParserCreate()
    parser.buffer_text = False
    text = 0  # characters since the cell (c) or shared string (si) began, runs included
    inside = False  # within a cell or a shared string: only their text is counted
    column = 0
    size = 0
    rows = 0  # rows with a value (a header counts)
    valued = False

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal text, column, inside, rows, valued
        local = tag.rpartition(":")[2]
        if local in ("si", "c"):
            text = 0
            inside = True
        if local == "c":
            ref = attrs.get("r")
            column = _column_number(ref) if ref else column + 1
            if ref:
                _check_row_number(name, ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ$"), ref)
            if column > limits.max_columns:
                where = f"（单元格 {ref}）" if ref else ""
                msg = (
                    f"{name}: 工作表的一行有 {column:,} 列以上{where}，超过上限 "
                    f"{limits.max_columns} 列；请只保留驿站登记表的列（上传模板有 30 列）"
                )
                raise FileRefusedError("too_many_columns", msg)
        elif local == "row":
            column = 0
            valued = False
            if "r" in attrs:
                _check_row_number(name, attrs["r"], attrs["r"])
        elif local in ("v", "is") and not valued:
            valued = True
            rows += 1
            if rows > limits.max_rows + 1:
                raise too_many_rows(name, limits, part)
        elif local == "Override" and overrides is not None:
            overrides[attrs.get("PartName", "").lstrip("/").lower()] = attrs.get("ContentType", "")

    def end(tag: str) -> None:
        nonlocal inside
        if tag.rpartition(":")[2] in ("si", "c"):
            inside = False

    def chars(data: str) -> None:
        nonlocal text
        if not inside:
            return
        text += len(data)
        if text > limits.max_cell_chars:
            msg = (
                f"{name}: 有一格超过 {limits.max_cell_chars:,} 个字符（Excel 单元格的上限），"
                "不是驿站登记的内容；请检查文件"
            )
            raise FileRefusedError("cell_too_long", msg)

    def doctype(*_: Any) -> None:  # xlsx never has one; entity tricks need one
        raise FileRefusedError("bad_file", f"{name}: 文件含有 DTD，不是 Excel 保存的 .xlsx")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    try:
        while data := first or stream.read(chunk):
            first = b""
            budget[0] -= len(data)
            size += len(data)
            if budget[0] < 0:
                raise _unpacked_too_large(name, limits)
            if size > limits.max_part_bytes and not may_be_large:
                raise _part_too_large(name, part, limits)
            parser.Parse(data, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        msg = f"{name}: 不是可读取的 Excel 文件（.xlsx）：XML 有误（{exc}）"
        raise FileRefusedError("bad_file", msg) from None


EXCEL_MAX_ROW = 1_048_576


def _check_row_number(name: str, digits: str, ref: str) -> None:
    """Refuse a row number Excel cannot have: openpyxl pads the rows up to it, so a 4 KB
    file with a row 999999999999 kept a worker busy without end."""
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= EXCEL_MAX_ROW:
        msg = (
            f"{name}: 行号 {visible(ref[:40])} 不是 Excel 能有的行"
            f"（1 至 {EXCEL_MAX_ROW:,}），不是 Excel 保存的 .xlsx"
        )
        raise FileRefusedError("bad_file", msg)


def _unpacked_too_large(name: str, limits: FileLimits) -> FileRefusedError:
    mib = limits.max_unpacked_bytes / (1 << 20)
    return FileRefusedError(
        "spreadsheet_too_large",
        f"{name}: 解压后超过 {mib:,.0f} MiB，远大于任何驿站登记表；"
        "请删去无关的工作表、图片和空白行列后再上传，或另存为 CSV",
    )


_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
# Parts openpyxl reads whole by their name, whatever [Content_Types].xml calls them.
_READ_WHOLE = frozenset(
    n.lower()
    for n in (
        "[Content_Types].xml",
        "xl/workbook.xml",
        "xl/styles.xml",
        "xl/sharedStrings.xml",
        "xl/theme/theme1.xml",
        "docProps/core.xml",
        "docProps/app.xml",
        "docProps/custom.xml",
    )
)


def _part_too_large(name: str, part: str, limits: FileLimits) -> FileRefusedError:
    mib = limits.max_part_bytes / (1 << 20)
    return FileRefusedError(
        "spreadsheet_too_large",
        f"{name}: 其中的 {part} 解压后超过 {mib:,.0f} MiB（工作表以外的部分，如样式、共享文字），"
        "远大于任何驿站登记表；请把表格内容复制到新建的工作簿后再上传，或另存为 CSV",
    )


def _looks_like_xml(head: bytes, whole: bool) -> bool:
    """Whether a part's first bytes start XML (after a BOM and blanks): only those are parsed.

    ``whole``: ``head`` is the whole part. A part of blanks alone is nothing; one that goes
    on past its first chunk of blanks is checked as XML (a sheet may follow them).
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    text = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    return text[:1] == b"<" or (not text and not whole)


# The first bytes of an OLE2 compound file: an Excel 97–2003 workbook (.xls), often renamed
# .xlsx by a clerk who was told to send an .xlsx.
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _not_a_workbook(path: Path) -> str:
    """Why a file named .xlsx is not one, in words a clerk can act on."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_OLE2))
    except OSError:
        head = b""
    if head == _OLE2:
        return (
            f"{path.name}：这是旧版 Excel 文件（.xls，Excel 97–2003），只是扩展名改成了 .xlsx。"
            "请在 Excel 或 WPS 中打开，选“另存为”→“Excel 工作簿（*.xlsx）”后再上传。"
        )
    return (
        f"{path.name}：不是可读取的 Excel 文件（.xlsx）：文件已损坏，或并不是 Excel 工作簿。"
        "请在 Excel 或 WPS 中打开它，另存为 .xlsx 后再上传。"
    )


def check_xlsx(path: Path, limits: FileLimits = DEFAULT_LIMITS) -> None:
    """Refuse a spreadsheet too large unpacked, too wide or with an oversized cell.

    The members' declared sizes are checked first (zipfile never inflates a member past
    its declared size), then every XML part is streamed and counted.
    """

    try:
        book = ZipFile(path)
    except (BadZipFile, OSError):
        raise FileRefusedError("bad_file", _not_a_workbook(path)) from None
    with book:
        members = book.infolist()
        if sum(m.file_size for m in members) > limits.max_unpacked_bytes:
            raise _unpacked_too_large(path.name, limits)
        budget = [limits.max_unpacked_bytes]
        # Every XML part, whatever its name: openpyxl finds the sheets and shared strings
        # by the workbook's relationships and content types, which may name any part. Only
        # a part typed as a sheet, other than those openpyxl reads by name, may be large.
        overrides: dict[str, str] = {}
        first = sorted(members, key=lambda m: m.filename != "[Content_Types].xml")
        for member in first:
            if member.is_dir():
                continue
            key = member.filename.lower()
            sheet = (
                overrides.get(key) == _WORKSHEET_TYPE
                and key not in _READ_WHOLE
                and not key.endswith(".rels")
            )
            # A part openpyxl would parse as XML: by its name, or as the content types
            # type it (a sheet may be stored under any name).
            parsed = key.endswith((".xml", ".rels")) or overrides.get(key, "").endswith("xml")
            try:
                with book.open(member) as stream:
                    head = stream.read(1 << 16)
                    if not _looks_like_xml(head, len(head) < 1 << 16):
                        if parsed and head.strip(b" \t\r\n"):
                            msg = (
                                f"{path.name}: 不是可读取的 Excel 文件（.xlsx）："
                                f"其中的 {visible(member.filename)[:80]} 不是 XML"
                            )
                            raise FileRefusedError("bad_file", msg)
                    else:
                        _scan_xlsx_xml(
                            path.name,
                            stream,
                            limits,
                            budget,
                            part=visible(member.filename)[:80],
                            first=head,
                            may_be_large=sheet,
                            overrides=overrides if key == "[content_types].xml" else None,
                        )
            except (BadZipFile, OSError, EOFError, NotImplementedError) as exc:  # bad CRC, …
                msg = f"{path.name}: 不是可读取的 Excel 文件（.xlsx）：{exc}"
                raise FileRefusedError("bad_file", msg) from None


_NAMED_SHEETS = ("驿站", "stations", "工会驿站")


def _choose_sheet(path: Path, book: Any, sheet: str | None) -> tuple[Any, list[Any], int]:
    """The sheet holding stations, its first rows (read) and the index of its header row.

    ``sheet`` named: that one. Otherwise the one sheet whose header is found in its first
    rows (title and note rows above it passed); several: SheetChoiceError naming them;
    none: the sheet named 驿站/stations/工会驿站, else the first, its first row the header.
    """
    found: list[tuple[Any, list[Any], int]] = []
    for candidate in book.worksheets:
        if sheet is not None and candidate.title != sheet:
            continue
        # The sheet's own <dimension> can claim 16,384 columns; rows are padded to it.
        if hasattr(candidate, "reset_dimensions"):
            candidate.reset_dimensions()
        head = list(candidate.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True))
        at = find_header(head)
        if at is not None or sheet is not None:
            found.append((candidate, head, at or 0))
    if sheet is not None and not found:
        names = [ws.title for ws in book.worksheets]
        msg = f"{path.name}: 没有名为“{visible(sheet[:40])}”的工作表；工作表有：{'、'.join(names)}"
        raise SheetChoiceError(msg, names)
    if len(found) > 1:
        names = [ws.title for ws, _, _ in found]
        msg = (
            f"{path.name}: 有 {len(names)} 个工作表像驿站登记表（{'、'.join(names)}），"
            "请选择要上传的工作表"
        )
        raise SheetChoiceError(msg, names)
    if found:
        return found[0]
    chosen = book.worksheets[0]
    for candidate in book.worksheets:
        if candidate.title in _NAMED_SHEETS:
            chosen = candidate
            break
    if hasattr(chosen, "reset_dimensions"):
        chosen.reset_dimensions()
    return chosen, list(chosen.iter_rows(max_row=1, values_only=True)), 0


def _xlsx_rows(
    path: Path, limits: FileLimits, sheet: str | None = None
) -> tuple[list[Any], Iterator[tuple[int, tuple[Any, ...]]], int, int, str]:
    # deferred: importing openpyxl took 1.5 s here (python -X importtime, shared machine),
    # which CSV and GeoJSON uploads and the CLI's start-up need not pay.
    from openpyxl import load_workbook

    # deferred: the same cost, as openpyxl.utils.exceptions imports the whole openpyxl
    # package (0.29 s by `python -X importtime -c "import openpyxl.utils.exceptions"`).
    from openpyxl.utils.exceptions import InvalidFileException

    check_xlsx(path, limits)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    # SyntaxError: ElementTree's ParseError, of a part the checks did not parse (it does
    # not start as XML does: a NUL byte first, say).
    except (BadZipFile, InvalidFileException, OSError, KeyError, SyntaxError) as exc:
        msg = f"{path.name}: 不是可读取的 Excel 文件（.xlsx）：{exc}"
        raise ValueError(msg) from None
    number = 1

    def unreadable(exc: Exception, row: int) -> FileRefusedError:
        book.close()
        why = f"{type(exc).__name__}: {exc}"[:200]
        msg = f"{path.name}: 第 {row} 行无法读取（{why}），不是可读取的 Excel 文件"
        return FileRefusedError("bad_file", msg)

    # openpyxl's own errors on a malformed sheet (a shared string that is not there, a
    # number that is not one) are the file's, not ours.
    broken = (IndexError, KeyError, TypeError, ValueError, SyntaxError, AttributeError)
    try:
        chosen, head, at = _choose_sheet(path, book, sheet)
    except SheetChoiceError:
        book.close()
        raise
    except broken as exc:
        raise unreadable(exc, 1) from None
    header = list(head[at]) if len(head) > at else []
    merged = two_row_header(header, head[at + 1]) if len(head) > at + 1 else None
    span = 1 if merged is None else 2
    header = header if merged is None else merged
    rows = chosen.iter_rows(min_row=at + 1 + span, values_only=True)

    def body() -> Iterator[tuple[int, tuple[Any, ...]]]:
        nonlocal number
        try:
            for number, values in enumerate(rows, start=at + 1 + span):
                if any(v is not None and str(v).strip() for v in values):
                    yield number, values
        except broken as exc:
            raise unreadable(exc, number + 1) from None
        finally:
            book.close()

    return header, body(), at + 1, span, chosen.title


def read_xlsx(path: Path, limits: FileLimits, sheet: str | None = None) -> Table:
    """The sheet holding stations (see :func:`_choose_sheet`; ``sheet`` names one): its
    header, found below any title rows, and rows, the file checked by :func:`check_xlsx`
    before openpyxl opens it."""
    header, body, header_row, span, title = _xlsx_rows(path, limits, sheet)
    rows = limited((Row(n, values) for n, values in body), path.name, limits)
    return Table(
        "xlsx",
        header,
        rows,
        quoted=True,
        header_row=header_row,
        header_span=span,
        sheet=title,
    )


PROBLEM_HEADER = "问题"


def rejected_workbook(rows: Iterable[tuple[dict[str, Any], str]]) -> bytes:
    """A workbook of rejected rows to fix and upload again: the file's own headers and
    values (each row's ``cells``), in order, and a last column 问题 (which the reader passes
    over); formulas defused as in exports."""
    # deferred: openpyxl's import cost, as in _xlsx_rows.
    from openpyxl import Workbook

    kept = list(rows)
    headers: list[str] = []
    seen: set[str] = set()
    for cells, _ in kept:
        for name in cells:
            if name not in seen and name != PROBLEM_HEADER:
                seen.add(name)
                headers.append(name)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("退回的行")
    sheet.append([neutralise(h) for h in headers] + [PROBLEM_HEADER])
    for cells, problems in kept:
        sheet.append([neutralise(cells.get(h)) for h in headers] + [neutralise(problems)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_xlsx(stations: Iterable[Station], path: Path) -> int:
    """Write an XLSX workbook (streamed, so large registries stay in bounded memory)."""
    return _write_xlsx(stations, path, list(EXPORT_COLUMNS), export_cells)


def export_clerk_xlsx(stations: Iterable[Station], path: Path) -> int:
    """The clerks' workbook (see :data:`~stations.formats.export.CLERK_COLUMNS`)."""
    return _write_xlsx(stations, path, list(CLERK_HEADERS), clerk_cells)


def _write_xlsx(
    stations: Iterable[Station],
    path: Path,
    header: list[str],
    cells: Callable[[Station], list[Any]],
) -> int:
    # deferred: openpyxl's import cost, as in _xlsx_rows.
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("驿站")
    sheet.append(header)
    n = 0
    for station in stations:
        sheet.append(cells(station))
        n += 1
    legend = book.create_sheet("可选值")
    legend.append(["amenities 设施", "entry_methods 进入方式"])
    amen = [f"{k} {v}" for k, v in AMENITY_LABELS.items()]
    entry = [f"{k} {v}" for k, v in ENTRY_METHOD_LABELS.items()]
    for i in range(max(len(amen), len(entry))):
        legend.append([amen[i] if i < len(amen) else None, entry[i] if i < len(entry) else None])
    book.save(path)
    return n
