"""Small builders for test data; every test makes its own stations."""

from __future__ import annotations

from typing import Any

from geodata.districts import Districts
from stations.domain.model import Station
from stations.domain.validation import build_station

# WGS-84 points well inside their districts.
JIEFANGBEI = (106.5772, 29.5570)  # 渝中区 500103
GUANYINQIAO = (106.5320, 29.5800)  # 江北区 500105
WANZHOU = (108.4000, 30.8100)  # 万州区 500101


def station_row(**overrides: Any) -> dict[str, Any]:
    """A raw row for a valid staffed station in 渝中区, as a clerk would upload it."""
    row: dict[str, Any] = {
        "external_id": "YZ-001",
        "owner": "district:500103",
        "name": "解放碑工会驿站",
        "address": "重庆市渝中区民族路 1 号",
        "host": "渝中区总工会",
        "contact_phone": "023-63000000",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "周一至周五 9:00-18:00",
        "amenities": "热水、微波炉、phone_charging",
        "entry_methods": "staffed",
    }
    row.update(overrides)
    return row


# A bus of 渝中区 with three stops (WGS-84), as a JSON body gives them.
BUS_STOPS: list[dict[str, Any]] = [
    {"name": "解放碑", "lon": 106.5772, "lat": 29.5570, "hours": "周一、三、五 10:00-14:00"},
    {"name": "大坪", "lon": 106.5200, "lat": 29.5400, "hours": "周二、四 10:00-14:00"},
    {"name": "较场口", "lon": 106.5700, "lat": 29.5500, "hours": "Sa 09:00-12:00"},
]


def bus_row(**overrides: Any) -> dict[str, Any]:
    """A raw row for a mobile station (流动驿站) of 渝中区 serving :data:`BUS_STOPS`."""
    row = station_row(
        external_id="BUS-1",
        name="渝中流动驿站一号车",
        mobile=True,
        stops=[dict(s) for s in BUS_STOPS],
        hours="周一至周六 10:00-16:00",
    )
    row.update(overrides)
    return row


def make_bus(districts: Districts, **overrides: Any) -> Station:
    """A validated mobile Station built from :func:`bus_row` with ``overrides``."""
    crs = overrides.pop("crs", "wgs84")
    return build_station(bus_row(**overrides), districts=districts, crs=crs)


def make_station(districts: Districts, **overrides: Any) -> Station:
    """A validated Station built from :func:`station_row` with ``overrides``."""
    crs = overrides.pop("crs", "wgs84")
    return build_station(station_row(**overrides), districts=districts, crs=crs)


# -- spreadsheet bombs: small on disk, huge unpacked -----------------------------------------

_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)


def _xlsx_replacing(path: Any, member: str, chunks: Any) -> Any:
    """A real workbook (openpyxl's) with ``member`` rewritten from ``chunks``, streamed."""
    import io
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["编号", "名称"])
    book.active.append(["A1", "驿站"])
    template = io.BytesIO()
    book.save(template)
    with (
        zipfile.ZipFile(template) as src,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            if info.filename != member:
                out.writestr(info, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
        with out.open(member, "w", force_zip64=True) as w:
            for chunk in chunks:
                w.write(chunk)
    return path


def xlsx_one_huge_cell(path: Any, *, cell_bytes: int, run_bytes: int | None = None) -> Any:
    """An XLSX whose first header cell is one shared string of ``cell_bytes`` letters;
    with ``run_bytes``, written as rich-text runs of that many letters each."""

    def chunks() -> Any:
        yield (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'count="3" uniqueCount="3"><si>'
        )
        if run_bytes:
            run = b"<r><t>" + b"A" * run_bytes + b"</t></r>"
            yield run * (cell_bytes // run_bytes)
        else:
            yield b"<t>"
            block = b"A" * (1 << 20)
            left = cell_bytes
            while left > 0:
                yield block[: min(left, len(block))]
                left -= len(block)
            yield b"</t>"
        yield "</si><si><t>A1</t></si><si><t>驿站</t></si></sst>".encode()

    return _xlsx_replacing(path, "xl/sharedStrings.xml", chunks())


def xlsx_sheet_elsewhere(path: Any, *, cell_bytes: int, part: str = "xl/data/s.xml") -> Any:
    """An XLSX whose only sheet is stored as ``part`` (the workbook's relationships and
    content types point there, as any zip tool can write), its first cell an inline string
    of ``cell_bytes`` letters."""
    import io
    import zipfile

    from openpyxl import Workbook

    template = io.BytesIO()
    Workbook().save(template)
    old = b"worksheets/sheet1.xml"
    new = part.removeprefix("xl/").encode()
    with (
        zipfile.ZipFile(template) as src,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                continue
            out.writestr(info.filename, src.read(info).replace(old, new))
        with out.open(part, "w", force_zip64=True) as w:
            w.write(_SHEET_HEAD + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
            block = b"A" * (1 << 20)
            for _ in range(cell_bytes >> 20):
                w.write(block)
            w.write(b"</t></is></c></row></sheetData></worksheet>")
    return path


def xlsx_huge_styles(path: Any, *, styles_bytes: int) -> Any:
    """An XLSX whose styles part (read whole by openpyxl, even read-only) is ``styles_bytes``
    of number formats: 1.2 MB on disk for 420 MB took 177 s and 7.3 GB to open."""

    def chunks() -> Any:
        yield (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<numFmts count="1">'
        )
        block = b'<numFmt numFmtId="200" formatCode="0.00"/>' * 25_000  # 1 MB
        for _ in range(styles_bytes // len(block)):
            yield block
        yield b"</numFmts></styleSheet>"

    return _xlsx_replacing(path, "xl/styles.xml", chunks())


def xlsx_sheet(path: Any, sheet_data: bytes) -> Any:
    """An XLSX whose sheet's <sheetData> holds ``sheet_data`` (raw XML) under a header."""
    head = '<row r="1"><c r="A1" t="inlineStr"><is><t>编号</t></is></c></row>'.encode()
    return _xlsx_replacing(
        path,
        "xl/worksheets/sheet1.xml",
        [_SHEET_HEAD + b"<sheetData>" + head + sheet_data + b"</sheetData></worksheet>"],
    )


def xlsx_wide(path: Any, *, rows: int, columns: int) -> Any:
    """An XLSX of ``rows`` rows × ``columns`` numeric cells (cells without references)."""
    from openpyxl.utils import get_column_letter

    def chunks() -> Any:
        last = f"{get_column_letter(columns)}{rows}".encode()
        yield _SHEET_HEAD + b'<dimension ref="A1:' + last + b'"/><sheetData>'
        row = b"<row>" + b"<c><v>1</v></c>" * columns + b"</row>"
        for _ in range(rows):
            yield row
        yield b"</sheetData></worksheet>"

    return _xlsx_replacing(path, "xl/worksheets/sheet1.xml", chunks())


def listings_at(lon: float, lat: float, **overrides: Any) -> list[dict[str, Any]]:
    """上图 listings of a WGS-84 point on Amap (GCJ-02) and Baidu (BD-09), full precision."""
    from geodata.crs import from_wgs84

    amap = from_wgs84(lon, lat, crs="gcj02")
    baidu = from_wgs84(lon + 0.0003, lat, crs="bd09")
    rows = [
        {"provider": "amap", "listed": True, "poi_id": "B0FF1234", "listed_lon": amap[0]},
        {"provider": "baidu", "listed": True, "listed_name": "工会驿站（百度）"},
    ]
    rows[0].update(listed_lat=amap[1], keyword_linked=True, checked_at="2026-03-01T10:00+08:00")
    rows[1].update(listed_lon=baidu[0], listed_lat=baidu[1], keyword_linked=False)
    for r in rows:
        r.update(overrides)
    return rows


def varied_stations(districts: Districts) -> list[Station]:
    """Stations using every kind of field: listings, hours, amenities, 24 h, GCJ-02 input."""
    from geodata.crs import from_wgs84

    g = from_wgs84(GUANYINQIAO[0] + 0.00123456789, GUANYINQIAO[1] + 0.0009876543, crs="gcj02")
    return [
        make_station(districts, external_id="V1", listings=listings_at(*JIEFANGBEI)),
        make_station(
            districts,
            external_id="V2",
            owner="district:500105",
            lon=g[0],
            lat=g[1],
            crs="gcj02",
            hours="24小时",
            self_service_24h="是",
            entry_methods="扫码、刷脸",
            amenities="热水、微波炉、厕所、phone_charging",
            registration_required="是",
            signage_unified="是",
            brand="渝工港湾",
            listings=listings_at(*GUANYINQIAO),
        ),
        make_station(
            districts,
            external_id="V3",
            name='=HYPERLINK("http://x")',
            hours="周一至周五 9:00-18:00；周六 10:00-16:00",
            status="temporarily_closed",
            address="-1 号",
            contact_phone="+86 23 6300 0000",
        ),
        make_station(
            districts,
            external_id="V4",
            owner="industry:transport",
            lon=WANZHOU[0] + 0.000111111111,
            lat=WANZHOU[1],
            hours="Mo-Fr 08:00-20:00; PH off",
        ),
        # A mobile station: stops given in GCJ-02, hours with holidays and an overnight stand.
        make_bus(
            districts,
            external_id="V5",
            crs="gcj02",
            lon=g[0] - 0.05,
            lat=g[1] - 0.03,
            stops=[
                {"name": s["name"], **_gcj02(s["lon"], s["lat"]), "hours": s["hours"]}
                for s in BUS_STOPS[:2]
            ]
            + [
                {
                    "name": "较场口=夜间",
                    **_gcj02(106.57000123456789, 29.55),
                    "hours": "周日 22:00-次日06:00",
                }
            ],
        ),
    ]


def _gcj02(lon: float, lat: float) -> dict[str, float]:
    from geodata.crs import from_wgs84

    x, y = from_wgs84(lon, lat, crs="gcj02")
    return {"lon": float(x), "lat": float(y)}


def point_beyond_border(
    districts: Districts, own: str, other: str, distance_m: float
) -> tuple[float, float]:
    """A WGS-84 point in district ``other``, about ``distance_m`` (±20 %) outside ``own``.

    Walks from the vertices of the border the two share, away from ``own``; the distance
    is checked by brute force (geodesics to points every ~1 m along ``own``'s border).
    """
    import numpy as np
    import shapely
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    own_geometry = districts.get(own).geometry
    other_geometry = districts.get(other).geometry
    dense = shapely.get_coordinates(shapely.segmentize(shapely.boundary(own_geometry), 1e-5))
    shared = shapely.get_coordinates(shapely.boundary(own_geometry))
    on_both = shapely.dwithin(other_geometry, shapely.points(shared), 1e-7)
    for x, y in shared[on_both][:: max(1, int(on_both.sum()) // 40)]:
        for bearing in range(0, 360, 15):
            lon, lat, _ = geod.fwd(x, y, bearing, distance_m)
            if districts.lookup(lon, lat) != other:
                continue
            n = len(dense)
            _, _, each = geod.inv(np.full(n, lon), np.full(n, lat), dense[:, 0], dense[:, 1])
            if 0.8 * distance_m <= float(np.min(each)) <= 1.2 * distance_m:
                return float(lon), float(lat)
    msg = f"no point {distance_m} m outside {own} in {other}"
    raise AssertionError(msg)
