"""Read station rows from CSV/XLSX/GeoJSON files, and write exports that are safe to open."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stations.domain.model import AMENITY_LABELS, ENTRY_METHOD_LABELS, Provider, Station
from stations.domain.records import station_to_dict
from stations.domain.validation import visible

FORMATS = ("csv", "xlsx", "geojson")

# Header aliases, compared after normalising (lower case, no spaces or bracketed notes).
_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "编号", "驿站编号", "本单位编号", "code", "站点编号"),
    "owner": ("owner", "所属工会", "管理工会", "建设工会"),
    "name": ("name", "名称", "驿站名称", "站点名称"),
    "address": ("address", "地址", "详细地址", "驿站地址"),
    "host": ("host", "依托单位", "承建单位", "所在单位", "建设单位"),
    "contact_phone": ("contact_phone", "phone", "联系电话", "电话", "联系方式"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "crs": ("crs", "坐标系"),
    "hours": ("hours", "opening_hours", "开放时间", "服务时间", "营业时间"),
    "hours_text": ("hours_text", "开放时间原文"),
    "self_service_24h": (
        "self_service_24h",
        "24小时",
        "24小时自助",
        "是否24小时",
        "24小时自助驿站",
    ),
    "entry_methods": ("entry_methods", "进入方式", "开门方式"),
    "registration_required": ("registration_required", "需要登记", "需注册", "是否需要注册"),
    "amenities": ("amenities", "设施", "服务设施", "配套设施"),
    "status": ("status", "状态", "运营状态"),
    "signage_unified": ("signage_unified", "统一标识", "是否统一标识"),
    "brand": ("brand", "品牌"),
    "sample": ("sample", "示例", "示例数据"),
    # Our GeoJSON export nests the 上图 listings as a list (CSV/XLSX flatten them).
    "listings": ("listings",),
}
_PROVIDER_NAMES = {Provider.AMAP: "高德", Provider.BAIDU: "百度", Provider.TENCENT: "腾讯"}
_LISTING_FIELDS = {
    "listed": ("listed", "已上图", "上图"),
    "poi_id": ("poi_id", "poi", "poiid"),
    "listed_name": ("listed_name", "上图名称", "名称"),
    "lon": ("lon", "经度"),
    "lat": ("lat", "纬度"),
    "keyword_linked": ("keyword_linked", "keyword", "关键词", "关联关键词"),
    "checked_at": ("checked_at", "核查时间"),
}
for _p, _cn in _PROVIDER_NAMES.items():
    for _f, _aliases in _LISTING_FIELDS.items():
        _FIELD_ALIASES[f"{_p.value}_{_f}"] = tuple(
            [f"{_p.value}_{a}" for a in _aliases] + [f"{_cn}{a}" for a in _aliases]
        )

_NOTE = re.compile(r"[（(\[【].*?[)）\]】]")


def _normal_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).strip().lower()
    text = _NOTE.sub("", text)  # "经度（GCJ-02）" -> "经度"
    return re.sub(r"[\s*：:]+", "", text)


_ALIAS_TO_FIELD = {
    _normal_header(alias): name for name, aliases in _FIELD_ALIASES.items() for alias in aliases
}


# What of a file's unrecognised headers is kept for the report: a header is a name, not a
# document (an 800 MB "header" cell was once stored whole and sent back as 838 MB of JSON).
MAX_UNKNOWN_COLUMNS = 50
MAX_HEADER_CHARS = 64


def _short_header(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_HEADER_CHARS else text[: MAX_HEADER_CHARS - 1] + "…"


def map_headers(headers: Iterable[Any]) -> tuple[list[str | None], list[str]]:
    """Map a file's column headers to record fields; return the mapping and unknown headers.

    The unknown headers are reported, not stored whole: at most ``MAX_UNKNOWN_COLUMNS`` of
    them, each cut to ``MAX_HEADER_CHARS`` characters, and a last entry saying how many more.
    """
    mapped: list[str | None] = []
    unknown: list[str] = []
    more = 0
    seen: set[str] = set()
    for header in headers:
        text = "" if header is None else str(header)
        name = _ALIAS_TO_FIELD.get(_normal_header(text)) if len(text) <= 200 else None
        if header is None or name is None or name in seen:
            mapped.append(None)
            if text.strip():
                if len(unknown) < MAX_UNKNOWN_COLUMNS:
                    unknown.append(_short_header(text))
                else:
                    more += 1
        else:
            mapped.append(name)
            seen.add(name)
    if more:
        unknown.append(f"……另有 {more} 列")
    return mapped, unknown


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
    """Tell the file's format from its name: csv, xlsx or geojson."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".geojson", ".json"):
        return "geojson"
    msg = (
        f"{path.name}: 不支持的文件类型（{suffix or '无扩展名'}）；"
        "请上传 .csv、.xlsx 或 .geojson 文件（Excel 的 .xls 请另存为 .xlsx）"
    )
    raise ValueError(msg)


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


def _restore(value: Any) -> Any:
    """Undo :func:`neutralise` on a cell read back from one of our exports."""
    if isinstance(value, str) and value[:1] == "'" and _defused(value[1:]):
        return value[1:]
    return value


def _cells(mapping: list[str | None], values: Iterable[Any]) -> dict[str, Any]:
    return {k: _restore(v) for k, v in zip(mapping, values, strict=False) if k is not None}


class FileRefusedError(ValueError):
    """A file refused as a whole before its rows are read; ``code`` names the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


# Delimiters a spreadsheet program may save a "CSV" with (semicolons where the decimal
# separator is a comma, tabs from "Unicode text").
_CSV_DELIMITERS = (",", ";", "\t", "|")


def _csv_header(path: Path, encoding: str) -> tuple[str, list[str]]:
    """The delimiter under which the first line maps the most known headers, and the header."""
    with path.open(encoding=encoding, newline="") as fh:
        try:
            first = fh.readline(1 << 20)
        except UnicodeDecodeError:
            first = ""
    best: tuple[int, str, list[str]] = (-1, ",", [])
    for delimiter in _CSV_DELIMITERS:
        try:
            header = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            continue
        known = sum(f is not None for f in map_headers(header)[0])
        if known > best[0]:
            best = (known, delimiter, header)
    return best[1], best[2]


def _csv_refusal(path: Path, line: int, exc: csv.Error) -> FileRefusedError:
    if "field larger than field limit" in str(exc):
        limit_kib = csv.field_size_limit() // 1024
        return FileRefusedError(
            "cell_too_long",
            f"{path.name}: 第 {line} 行附近有一格超过 {limit_kib} KiB，不是驿站登记的内容；"
            "请检查这一格（多为漏写引号或粘贴了整个文件）",
        )
    return FileRefusedError("bad_file", f"{path.name}: 第 {line} 行无法按 CSV 读取：{exc}")


def _csv_rows(
    path: Path, encoding: str, delimiter: str, mapping: list[str | None]
) -> Iterator[tuple[int, dict]]:
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            next(reader, None)
            for number, values in enumerate(reader, start=2):
                if not any(v.strip() for v in values):
                    continue
                yield number, _cells(mapping, values)
        except csv.Error as exc:
            raise _csv_refusal(path, reader.line_num, exc) from None


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
    from xml.parsers import expat

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
                raise _too_many_rows(name, limits, part)
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


def _too_many_rows(name: str, limits: FileLimits, part: str = "") -> FileRefusedError:
    where = f"（{part}）" if part else ""
    return FileRefusedError(
        "too_many_rows",
        f"{name}: 超过 {limits.max_rows:,} 行{where}，远多于全市的驿站；"
        "请检查是否有大量空白或无关的行，或分成几个文件上传",
    )


def _limited(rows: Iterator[tuple[int, Any]], name: str, limits: FileLimits) -> Iterator[Any]:
    """The rows, refusing the file at the first row past ``limits.max_rows``."""
    for count, row in enumerate(rows, start=1):
        if count > limits.max_rows:
            raise _too_many_rows(name, limits)
        yield row


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


def check_xlsx(path: Path, limits: FileLimits = FileLimits()) -> None:
    """Refuse a spreadsheet too large unpacked, too wide or with an oversized cell.

    The members' declared sizes are checked first (zipfile never inflates a member past
    its declared size), then every XML part is streamed and counted.
    """
    from zipfile import BadZipFile, ZipFile

    try:
        book = ZipFile(path)
    except (BadZipFile, OSError) as exc:
        msg = f"{path.name}: 不是可读取的 Excel 文件（.xlsx）：{exc}"
        raise FileRefusedError("bad_file", msg) from None
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
            try:
                with book.open(member) as stream:
                    head = stream.read(1 << 16)
                    if _looks_like_xml(head, len(head) < 1 << 16):
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


def _xlsx_rows(
    path: Path, limits: FileLimits
) -> tuple[list[Any], Iterator[tuple[int, tuple[Any, ...]]]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    check_xlsx(path, limits)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, OSError, KeyError) as exc:
        msg = f"{path.name}: 不是可读取的 Excel 文件（.xlsx）：{exc}"
        raise ValueError(msg) from None
    sheet = book.worksheets[0]
    for candidate in book.worksheets:
        if candidate.title in ("驿站", "stations", "工会驿站"):
            sheet = candidate
            break
    # The sheet's own <dimension> can claim 16,384 columns; rows are padded to it unless reset.
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True)
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
        header = list(next(rows, ()))
    except broken as exc:
        raise unreadable(exc, 1) from None

    def body() -> Iterator[tuple[int, tuple[Any, ...]]]:
        nonlocal number
        try:
            for number, values in enumerate(rows, start=2):
                if any(v is not None and str(v).strip() for v in values):
                    yield number, values
        except broken as exc:
            raise unreadable(exc, number + 1) from None
        finally:
            book.close()

    return header, body()


def _json_type(value: Any) -> str:
    names = {dict: "对象", list: "列表", str: "文字", bool: "真假值", type(None): "null"}
    return names.get(type(value), "数字")


def _geojson_default_crs(doc: dict[str, Any]) -> str | None:
    """RFC 7946: positions are WGS-84. A file with the old (2008) ``crs`` member says its own."""
    named = doc.get("crs")
    if named is None:
        return "wgs84"
    text = json.dumps(named).upper()
    if "CRS84" in text or "4326" in text:
        return "wgs84"
    if "4490" in text:
        return "cgcs2000"
    return None  # something else: the uploader must say


def _check_features(name: str, features: list[Any]) -> None:
    """Refuse a FeatureCollection that breaks RFC 7946's shapes, naming the feature."""
    for i, feature in enumerate(features, start=1):
        where = f"{name}: 第 {i} 个要素（features[{i - 1}]）"
        if not isinstance(feature, dict):
            msg = f"{where}应是对象（Feature），而不是{_json_type(feature)}"
            raise FileRefusedError("bad_file", msg)
        props = feature.get("properties")
        if props is not None and not isinstance(props, dict):
            msg = f"{where}的 properties 应是对象或 null，而不是{_json_type(props)}"
            raise FileRefusedError("bad_file", msg)
        geometry = feature.get("geometry")
        if geometry is not None and not isinstance(geometry, dict):
            msg = f"{where}的 geometry 应是对象或 null，而不是{_json_type(geometry)}"
            raise FileRefusedError("bad_file", msg)
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coords = geometry.get("coordinates")
            if not isinstance(coords, list):
                msg = f"{where}的点坐标应是 [经度, 纬度] 列表，而不是{_json_type(coords)}"
                raise FileRefusedError("bad_file", msg)


def _geojson_rows(
    path: Path, limits: FileLimits = FileLimits()
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]], str | None]:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except RecursionError:
        msg = f"{path.name}: JSON 嵌套过深，不是驿站的 GeoJSON 文件"
        raise FileRefusedError("bad_file", msg) from None
    except UnicodeDecodeError:
        msg = f"{path.name}: GeoJSON 须为 UTF-8 编码（RFC 7946）"
        raise FileRefusedError("bad_file", msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{path.name}: 不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列 {exc.msg}"
        raise FileRefusedError("bad_file", msg) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        example = '{"type": "FeatureCollection", "features": [...]}'
        msg = f"{path.name}: 不是 GeoJSON 要素集（应为 {example}）"
        raise ValueError(msg)
    if len(features) > limits.max_rows:
        raise _too_many_rows(path.name, limits)
    _check_features(path.name, features)
    headers: list[str] = []
    seen: set[str] = set()
    for feature in features:
        for key in feature.get("properties") or {}:
            if key not in seen:
                seen.add(key)
                headers.append(key)
    mapping, _ = map_headers(headers)
    by_key = dict(zip(headers, mapping, strict=True))

    def body() -> Iterator[tuple[int, dict[str, Any]]]:
        for number, feature in enumerate(features, start=1):
            props = feature.get("properties") or {}
            row: dict[str, Any] = {}
            for k, v in props.items():
                name = by_key.get(k)
                if name:
                    row[name] = v
            geometry = feature.get("geometry") or {}
            if geometry.get("type") == "Point":
                coords = geometry["coordinates"]
                if len(coords) >= 2:
                    row["lon"], row["lat"] = coords[0], coords[1]
            elif geometry:
                row["lon"] = row["lat"] = None
                row["_geometry_problem"] = str(geometry.get("type"))[:40]
            yield number, row

    return headers, body(), _geojson_default_crs(doc)


def read_rows(
    path: str | Path, *, format: str | None = None, limits: FileLimits = FileLimits()
) -> RowSource:
    """Open a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, semicolon or tab separated),
    XLSX or GeoJSON file of stations.

    A file that cannot be read, or breaks ``limits``, raises ValueError (FileRefusedError
    names the problem) before any row is returned.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt == "csv":
        encoding = detect_encoding(path)
        delimiter, header = _csv_header(path, encoding)
        mapping, unknown = map_headers(header)
        # Counted before any row is planned (fast: stops at the first row too many).
        for _ in _limited(_csv_rows(path, encoding, delimiter, [None]), path.name, limits):
            pass
        return RowSource(
            "csv",
            encoding,
            unknown,
            _limited(_csv_rows(path, encoding, delimiter, mapping), path.name, limits),
            _columns(header, mapping),
            delimiter=delimiter,
        )
    if fmt == "xlsx":
        header, body = _xlsx_rows(path, limits)
        mapping, unknown = map_headers(header)
        cells = _limited(((n, _cells(mapping, values)) for n, values in body), path.name, limits)
        return RowSource("xlsx", None, unknown, cells, _columns(header, mapping))
    if fmt == "geojson":
        headers, features, default_crs = _geojson_rows(path, limits)
        mapping, unknown = map_headers(headers)
        return RowSource(
            "geojson",
            "utf-8",
            unknown,
            features,
            _columns(headers, mapping),
            default_crs=default_crs,
        )
    msg = f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}"
    raise ValueError(msg)


# -- export ------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id",
    "external_id",
    "owner",
    "name",
    "address",
    "host",
    "contact_phone",
    "district_adcode",
    "lon",
    "lat",
    "crs",  # the file says its own system, so importing it back needs no --crs
    "hours",
    "hours_text",
    "self_service_24h",
    "entry_methods",
    "registration_required",
    "amenities",
    "status",
    "signage_unified",
    "brand",
    *(
        f"{p.value}_{f}"
        for p in Provider
        for f in ("listed", "poi_id", "listed_name", "lon", "lat", "keyword_linked", "checked_at")
    ),
    "sample",
    "version",
    "updated_at",
)

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


def export_row(station: Station) -> dict[str, Any]:
    """A flat row for CSV/XLSX: lists joined with commas, listings as provider columns."""
    doc = station_to_dict(station)
    row: dict[str, Any] = {k: doc.get(k) for k in EXPORT_COLUMNS if k in doc}
    row["entry_methods"] = ",".join(station.entry_methods)
    row["amenities"] = ",".join(station.amenities)
    row["crs"] = "wgs84"
    for listing in station.listings:
        p = listing.provider.value
        row[f"{p}_listed"] = listing.listed
        row[f"{p}_poi_id"] = listing.poi_id
        row[f"{p}_listed_name"] = listing.listed_name
        row[f"{p}_lon"] = listing.listed_lon
        row[f"{p}_lat"] = listing.listed_lat
        row[f"{p}_keyword_linked"] = listing.keyword_linked
        row[f"{p}_checked_at"] = listing.checked_at.isoformat() if listing.checked_at else None
    return row


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else neutralise(value)


def write_csv(stations: Iterable[Station], out: IO[str]) -> int:
    """Write CSV with a UTF-8 BOM-friendly layout (the caller opens with utf-8-sig)."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for station in stations:
        row = export_row(station)
        writer.writerow([_cell(row.get(c)) for c in EXPORT_COLUMNS])
        n += 1
    return n


def write_xlsx(stations: Iterable[Station], path: Path) -> int:
    """Write an XLSX workbook (streamed, so large registries stay in bounded memory)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("驿站")
    sheet.append(list(EXPORT_COLUMNS))
    n = 0
    for station in stations:
        row = export_row(station)
        sheet.append([_cell(row.get(c)) for c in EXPORT_COLUMNS])
        n += 1
    legend = book.create_sheet("可选值")
    legend.append(["amenities 设施", "entry_methods 进入方式"])
    amen = [f"{k} {v}" for k, v in AMENITY_LABELS.items()]
    entry = [f"{k} {v}" for k, v in ENTRY_METHOD_LABELS.items()]
    for i in range(max(len(amen), len(entry))):
        legend.append([amen[i] if i < len(amen) else None, entry[i] if i < len(entry) else None])
    book.save(path)
    return n


def write_geojson(stations: Iterable[Station], out: IO[str]) -> int:
    """Write a GeoJSON FeatureCollection in WGS-84 (RFC 7946), streamed feature by feature."""
    out.write('{"type":"FeatureCollection","features":[\n')
    n = 0
    for station in stations:
        props = station_to_dict(station)
        feature = {
            "type": "Feature",
            "id": station.id,
            "geometry": {"type": "Point", "coordinates": [station.lon, station.lat]},
            "properties": props,
        }
        out.write(("," if n else "") + json.dumps(feature, ensure_ascii=False) + "\n")
        n += 1
    out.write("]}\n")
    return n


def export_stations(
    stations: Iterable[Station], path: str | Path, *, format: str | None = None
) -> int:
    """Export stations to ``path`` as csv, xlsx or geojson; return how many were written."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            return write_csv(stations, fh)
    if fmt == "xlsx":
        return write_xlsx(stations, path)
    if fmt == "geojson":
        with path.open("w", encoding="utf-8") as fh:
            return write_geojson(stations, fh)
    msg = f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}"
    raise ValueError(msg)


@contextmanager
def stdout_text() -> Iterator[IO[str]]:
    """Standard output as UTF-8 text whatever the locale; left open for the caller after."""
    import sys

    wrapper = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()  # closing the wrapper would close the process's stdout
