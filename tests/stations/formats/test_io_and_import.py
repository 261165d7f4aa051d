"""Files in (CSV in any encoding, XLSX, GeoJSON), exports out, imports all-or-nothing."""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from geodata.crs import from_wgs84
from geodata.distance import distance_m
from stations.domain.auth import Principal, Role
from stations.domain.uploads import ClosuresUnconfirmedError, UploadStateError, upload_crs
from stations.formats.io import (
    FileRefusedError,
    export_stations,
    map_headers,
    neutralise,
    read_rows,
)
from stations.services.uploads import commit_upload, plan_upload
from tests.builders import (
    JIEFANGBEI,
    make_station,
    varied_stations,
    xlsx_huge_styles,
    xlsx_one_huge_cell,
    xlsx_sheet_elsewhere,
    xlsx_wide,
)
from tests.stores import upload_states

CN_HEADER = [
    "编号",
    "名称",
    "地址",
    "经度（GCJ-02）",
    "纬度",
    "开放时间",
    "设施",
    "24小时",
    "进入方式",
]


def cn_rows():
    lon, lat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    return [
        [
            "A1",
            "解放碑工会驿站",
            "民族路1号",
            lon,
            lat,
            "周一至周五 9:00-18:00",
            "热水、微波炉",
            "否",
            "",
        ],
        ["A2", "较场口工会驿站", "中兴路2号", lon + 0.001, lat, "24小时", "厕所", "是", "扫码"],
    ]


ADMIN = Principal("t", "test", Role.ADMIN, None)


def plan(path, store, districts, crs="wgs84", *, by=ADMIN, **kw):
    source = read_rows(path)
    return plan_upload(
        source.rows,
        store=store,
        districts=districts,
        by=by,
        filename=path.name,
        crs=crs,
        columns=source.columns,
        unknown_columns=source.unknown_columns,
        **kw,
    )


def rejected(store, upload):
    return list(store.iter_upload_rows(upload.id, actions=("rejected",)))


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def write_csv(path: Path, rows, encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CN_HEADER)
        w.writerows(rows)
    return path


def test_chinese_and_english_headers_map_to_fields():
    mapped, unknown = map_headers(
        ["名称", "Longitude", "纬度(WGS84)", "备注", "amap_poi_id", "高德POI"]
    )
    assert mapped[:3] == ["name", "lon", "lat"]
    assert unknown == ["高德POI"]  # the second amap POI column is a duplicate
    assert mapped[3] is None  # 备注 names no field: read past, not unknown (see the notes)
    assert mapped[4] == "amap_poi_id"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_common_encoding_imports_the_same(tmp_path, store, districts, encoding):
    path = write_csv(tmp_path / "in.csv", cn_rows(), encoding)
    assert read_rows(path).encoding in {"utf-8", "utf-8-sig", "gb18030"}
    upload = plan(path, store, districts, crs="gcj02")
    assert upload.counts == {"create": 2, "update": 0, "close": 0, "unchanged": 0, "rejected": 0}
    commit_upload(store, upload.id, by=ADMIN)
    (s,) = [x for x in store.iter_all() if x.external_id == "A1"]
    assert s.name == "解放碑工会驿站"
    assert distance_m(s.lon, s.lat, *JIEFANGBEI) < 0.01


def test_xlsx_and_geojson_import(tmp_path, store, districts):
    book = Workbook()
    sheet = book.active
    sheet.append(CN_HEADER)
    for r in cn_rows():
        sheet.append(r)
    book.save(tmp_path / "in.xlsx")
    assert plan(tmp_path / "in.xlsx", store, districts, crs="gcj02").counts["create"] == 2

    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(JIEFANGBEI)},
            "properties": {"编号": "G1", "名称": "驿站", "开放时间": "全天"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            "properties": {"编号": "G2", "名称": "线", "开放时间": "全天"},
        },
    ]
    doc = {"type": "FeatureCollection", "features": features}
    (tmp_path / "in.geojson").write_text(json.dumps(doc), encoding="utf-8")
    upload = plan(tmp_path / "in.geojson", store, districts)
    assert upload.counts["create"] == 1
    (bad,) = rejected(store, upload)
    assert bad.row == 2
    assert bad.problems[0]["code"] == "not_a_point"


def test_a_bad_row_rejects_the_import_and_changes_nothing(tmp_path, store, districts):
    rows = cn_rows()
    rows[1][5] = "看心情"
    upload = plan(write_csv(tmp_path / "x.csv", rows, "utf-8"), store, districts, crs="gcj02")
    problems = [
        (r.row, p["code"], p["column"], p["value"])
        for r in rejected(store, upload)
        for p in r.problems
    ]
    assert problems == [(3, "hours_unparseable", "开放时间", "看心情")]
    with pytest.raises(UploadStateError, match="rejected"):
        commit_upload(store, upload.id, by=ADMIN)
    assert store.count() == 0


def test_duplicate_external_id_in_file_is_rejected(tmp_path, store, districts):
    rows = cn_rows()
    rows[1][0] = "A1"
    upload = plan(write_csv(tmp_path / "x.csv", rows, "utf-8"), store, districts, crs="gcj02")
    (bad,) = rejected(store, upload)
    assert bad.row == 3
    assert bad.problems[0]["code"] == "duplicate_in_file"
    assert "第 2 行" in bad.problems[0]["message"]


def test_reimport_finds_changes_and_unchanged_rows(tmp_path, store, districts):
    first = plan(write_csv(tmp_path / "x.csv", cn_rows(), "utf-8"), store, districts, "gcj02")
    commit_upload(store, first.id, by=ADMIN)
    rows = cn_rows()
    rows[0][1] = "解放碑工会驿站（新）"
    upload = plan(write_csv(tmp_path / "y.csv", rows, "utf-8"), store, districts, crs="gcj02")
    assert upload.counts == {"create": 0, "update": 1, "close": 0, "unchanged": 1, "rejected": 0}
    (row,) = store.iter_upload_rows(upload.id, actions=("update",))
    assert row.changed == ("name",)


NOTHING = {"create": 0, "update": 0, "close": 0}


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "geojson"])
def test_export_then_import_round_trips_unchanged(tmp_path, store, districts, suffix):
    for station in varied_stations(districts):
        store.create(station, actor="a")
    before = {s.external_id: s for s in store.iter_all()}
    out = tmp_path / f"export.{suffix}"
    assert export_stations(store.iter_all(), out) == len(before)
    source = read_rows(out)
    # The export says its own coordinate system: importing it back needs no --crs.
    crs = upload_crs(
        None, format=source.format, columns=source.columns, default_crs=source.default_crs
    )
    upload = plan(out, store, districts, crs)
    assert {k: upload.counts[k] for k in NOTHING} == NOTHING, list(
        store.iter_upload_rows(upload.id, actions=("update", "create"))
    )
    assert upload.counts["unchanged"] == len(before)
    assert upload.counts["rejected"] == 0
    # As a full list of each union too: nothing closes.
    for owner in ("district:500103", "district:500105", "industry:transport"):
        union = Principal(
            "t", owner, Role.DISTRICT if "district" in owner else Role.INDUSTRY, owner.split(":")[1]
        )
        mine = [s for s in before.values() if str(s.owner) == owner]
        rows = [(n, r) for n, r in read_rows(out).rows if r.get("owner") == owner]
        upload = plan_upload(
            rows,
            store=store,
            districts=districts,
            by=union,
            filename=out.name,
            crs=crs,
            full_list=True,
            columns=source.columns,
        )
        assert upload.counts["close"] == 0 and upload.counts["unchanged"] == len(mine)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_text_starting_with_an_apostrophe_and_a_formula_sign_round_trips(
    tmp_path, store, districts, suffix
):
    """The export's defusing quote was taken off on import whatever followed, so a code
    "'+O3" came back "+O3" (a new station, and a full list closed the old one) and a name
    "'=1+1" came back "=1+1"."""
    odd = {"O1": "'=1+1", "'+O3": "'-北站", "O4": "''@x"}
    for code, name in odd.items():
        store.create(make_station(districts, external_id=code, name=name), actor="a")
    out = tmp_path / f"export.{suffix}"
    export_stations(store.iter_all(), out)
    assert {r["external_id"]: r["name"] for _, r in read_rows(out).rows} == odd
    upload = plan(out, store, districts, "wgs84", full_list=True)
    assert upload.counts["unchanged"] == 3
    assert {k: upload.counts[k] for k in NOTHING} == NOTHING
    # Still defused for a spreadsheet: no cell begins with a formula sign.
    assert neutralise("'=1+1") == "''=1+1" and neutralise("''@x") == "'''@x"
    assert neutralise("'正常") == "'正常"


def test_excels_unicode_text_is_read(tmp_path, store, districts):
    """Excel's "Unicode 文本 (*.txt)" (UTF-16 with a BOM, tab separated), the one text
    format older Excel keeps Chinese in, was refused as an unknown encoding."""
    text = "编号\t名称\t经度\t纬度\t开放时间\nA1\t民族路驿站\t106.5772\t29.557\t每天 8:00-20:00\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
        path = tmp_path / f"unicode-{encoding}.txt"
        path.write_bytes(bom + text.encode(encoding))
        source = read_rows(path)
        assert source.delimiter == "\t"
        assert [r for _, r in source.rows] == [
            {
                "external_id": "A1",
                "name": "民族路驿站",
                "lon": "106.5772",
                "lat": "29.557",
                "hours": "每天 8:00-20:00",
            }
        ]


def test_geojson_round_trip_keeps_every_listing_after_commit(tmp_path, store, districts):
    for station in varied_stations(districts):
        store.create(station, actor="a")
    listed_before = {s.external_id: s.listings for s in store.iter_all()}
    assert sum(1 for v in listed_before.values() if v) == 2
    export_stations(store.iter_all(), tmp_path / "x.geojson")
    upload = plan(tmp_path / "x.geojson", store, districts, "wgs84")
    assert "listings" not in upload.unknown_columns
    commit_upload(store, upload.id, by=ADMIN)
    assert {s.external_id: s.listings for s in store.iter_all()} == listed_before


def test_xlsx_positions_read_back_within_a_millimetre_are_unchanged(tmp_path, store, districts):
    station = store.create(varied_stations(districts)[1], actor="a")
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "所属工会", "名称", "经度", "纬度", "开放时间"])
    # 12 significant digits: what a spreadsheet saved by hand keeps; 0.1 mm off at most.
    sheet.append(
        [
            "V2",
            str(station.owner),
            station.name,
            float(f"{station.lon:.12g}"),
            float(f"{station.lat:.12g}"),
            "24小时",
        ]
    )
    book.save(tmp_path / "x.xlsx")
    upload = plan(tmp_path / "x.xlsx", store, districts, "wgs84")
    changed = [r.changed for r in store.iter_upload_rows(upload.id, actions=("update",))]
    assert "lon" not in sum(changed, ()) and "lat" not in sum(changed, ())
    sheet.append([])
    moved = Workbook()
    moved.active.append(["编号", "所属工会", "名称", "经度", "纬度", "开放时间"])
    moved.active.append(
        ["V2", str(station.owner), station.name, station.lon + 1e-7, station.lat, "24小时"]
    )  # 1 cm: a real change
    moved.save(tmp_path / "y.xlsx")
    upload = plan(tmp_path / "y.xlsx", store, districts, "wgs84")
    (row,) = store.iter_upload_rows(upload.id, actions=("update",))
    assert "lon" in row.changed


# -- files refused before they are read ------------------------------------------------------


def test_a_spreadsheet_unpacking_to_hundreds_of_megabytes_is_refused_unread(tmp_path):
    import tracemalloc

    from stations.formats.io import FileLimits

    # The bomb of the bench (800 MB) against the default 512 MiB, scaled down to 1/8.
    path = xlsx_one_huge_cell(tmp_path / "bomb.xlsx", cell_bytes=100 * 10**6)
    assert path.stat().st_size < 1 << 20  # under a megabyte on disk
    tracemalloc.start()
    with pytest.raises(FileRefusedError) as refused:
        read_rows(path, limits=FileLimits(max_unpacked_bytes=64 << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert refused.value.code == "spreadsheet_too_large"
    assert "解压后超过 64 MiB" in str(refused.value)
    assert peak < 5 << 20


@pytest.mark.parametrize("run_bytes", [None, 30_000], ids=["one_text", "rich_text_runs"])
def test_a_cell_longer_than_excel_allows_is_refused_before_openpyxl(tmp_path, run_bytes):
    import tracemalloc

    path = xlsx_one_huge_cell(tmp_path / "cell.xlsx", cell_bytes=8 << 20, run_bytes=run_bytes)
    tracemalloc.start()
    with pytest.raises(FileRefusedError) as refused:
        read_rows(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert refused.value.code == "cell_too_long"
    assert "32,767" in str(refused.value)
    assert peak < 5 << 20  # the 8 MB cell was never held


def test_a_sheet_stored_under_another_name_is_checked_too(tmp_path):
    """openpyxl finds the sheet by the workbook's relationships, not by its name: a sheet at
    xl/data/s.xml holding one 400 MB cell was read whole (8 s, 870 MB) past the checks."""
    import tracemalloc

    path = xlsx_sheet_elsewhere(tmp_path / "moved.xlsx", cell_bytes=8 << 20)
    tracemalloc.start()
    with pytest.raises(FileRefusedError) as refused:
        read_rows(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert refused.value.code == "cell_too_long"
    assert peak < 5 << 20


def test_a_huge_styles_part_is_refused_unread(tmp_path):
    """Styles are parsed whole even read-only: 1.2 MB on disk (420 MB of number formats)
    took 177 s and 7.3 GB. A part other than a sheet over 16 MiB is refused, in bounded
    memory; Excel's own maximum of 64,000 cell formats is about 10 MB of styles."""
    import time
    import tracemalloc

    from stations.formats.io import FileLimits

    path = xlsx_huge_styles(tmp_path / "styles.xlsx", styles_bytes=40 << 20)
    assert path.stat().st_size < 1 << 20
    start = time.perf_counter()
    with pytest.raises(FileRefusedError) as refused:
        read_rows(path)
    assert time.perf_counter() - start < 8  # 2.7 s at load 6 on 2 cores
    assert refused.value.code == "spreadsheet_too_large"
    assert "xl/styles.xml" in str(refused.value)
    assert "16 MiB" in str(refused.value)
    tracemalloc.start()  # (slows the parse tenfold: measured against a smaller limit)
    with pytest.raises(FileRefusedError):
        read_rows(path, limits=FileLimits(max_part_bytes=2 << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 << 20


def test_a_sheet_of_16384_columns_is_refused_before_openpyxl(tmp_path):
    path = xlsx_wide(tmp_path / "wide.xlsx", rows=200, columns=16_384)
    with pytest.raises(FileRefusedError) as refused:
        read_rows(path)
    assert refused.value.code == "too_many_columns"
    assert "256 列" in str(refused.value)
    # A normal sheet (the limit is far above our 44 columns) still reads.
    narrow = read_rows(xlsx_wide(tmp_path / "ok.xlsx", rows=3, columns=44))
    assert len(list(narrow.rows)) == 2


def test_a_bad_header_is_stored_bounded(tmp_path, store, districts):
    header = [*CN_HEADER, "备注" * 30_000, *(f"列{i}" for i in range(300))]
    path = tmp_path / "wide.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, cn_rows()[0]])
    upload = plan(path, store, districts, crs="gcj02")
    stored = store.get_upload(upload.id).unknown_columns
    assert len(stored) == 51 and stored[-1] == "……另有 251 列"
    assert max(len(c) for c in stored) <= 64 and stored[0].startswith("备注备注")
    assert upload.counts["create"] == 1


# -- bad files leave nothing behind ----------------------------------------------------------


def _geojson(features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features})


POINT = {"type": "Point", "coordinates": list(JIEFANGBEI)}
BAD_GEOJSON = {
    "feature_not_an_object": _geojson([1, "x"]),
    "properties_a_list": _geojson([{"type": "Feature", "geometry": POINT, "properties": [1]}]),
    "geometry_a_string": _geojson(
        [{"type": "Feature", "geometry": "POINT(1 2)", "properties": {}}]
    ),
    "coordinates_a_number": _geojson(
        [{"type": "Feature", "geometry": {"type": "Point", "coordinates": 5}, "properties": {}}]
    ),
    "nested_100000_deep": '{"type": "FeatureCollection", "features": '
    + "[" * 100_000
    + "]" * 100_000
    + "}",
}


@pytest.mark.parametrize("text", BAD_GEOJSON.values(), ids=BAD_GEOJSON.keys())
def test_malformed_geojson_is_refused_saying_where(tmp_path, text):
    path = tmp_path / "bad.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileRefusedError) as refused:
        list(read_rows(path).rows)
    assert refused.value.code == "bad_file"
    assert "第 1 个要素" in str(refused.value) or "嵌套过深" in str(refused.value)


def test_a_csv_field_over_128_kib_is_refused_and_leaves_no_upload(tmp_path, store, districts):
    rows = cn_rows()
    rows[1][2] = "路" * 200_000
    path = write_csv(tmp_path / "big.csv", rows, "utf-8")
    with pytest.raises(FileRefusedError) as refused:
        plan(path, store, districts, crs="gcj02")
    assert refused.value.code == "cell_too_long" and "第 3 行" in str(refused.value)
    assert upload_states(store) == {}


def test_a_plan_that_fails_midway_leaves_no_upload(store, districts):
    def rows():
        yield (
            2,
            {
                "external_id": "A",
                "name": "x",
                "lon": JIEFANGBEI[0],
                "lat": JIEFANGBEI[1],
                "hours": "全天",
            },
        )
        raise ValueError("the file broke here")

    with pytest.raises(ValueError, match="broke"):
        plan_upload(rows(), store=store, districts=districts, by=ADMIN, filename="f", crs=None)
    assert upload_states(store) == {}


def test_dry_runs_past_their_retention_are_purged_committed_uploads_kept(
    tmp_path, store, districts
):
    first = plan(write_csv(tmp_path / "a.csv", cn_rows(), "utf-8"), store, districts, "gcj02")
    commit_upload(store, first.id, by=ADMIN)
    rows = cn_rows()
    rows[0][1] = "新名字"
    dry = plan(write_csv(tmp_path / "b.csv", rows, "utf-8"), store, districts, "gcj02")
    assert set(upload_states(store)) == {first.id, dry.id}
    # Within the retention nothing goes; past it (here: a retention ending in the future
    # for every upload made so far) the dry run goes with its rows, the committed one stays.
    kept = plan(write_csv(tmp_path / "c.csv", rows, "utf-8"), store, districts, "gcj02")
    assert set(upload_states(store)) == {first.id, dry.id, kept.id}
    last = plan(
        write_csv(tmp_path / "d.csv", rows, "utf-8"), store, districts, "gcj02", retention_h=-1
    )
    assert upload_states(store) == {first.id: "committed", last.id: "dry_run"}
    assert list(store.iter_upload_rows(dry.id)) == []
    assert len(list(store.iter_upload_rows(first.id))) == 2


# -- separators and coordinate systems --------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "bar"])
def test_semicolon_and_tab_separated_files_parse(tmp_path, store, districts, delimiter):
    path = tmp_path / "x.csv"
    with path.open("w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(CN_HEADER)
        w.writerows(cn_rows())
    source = read_rows(path)
    assert source.delimiter == delimiter and source.unknown_columns == []
    upload = plan(path, store, districts, crs="gcj02")
    assert upload.counts["create"] == 2 and upload.counts["rejected"] == 0


def test_a_file_without_a_crs_needs_one_named_and_says_how_to_tell(tmp_path):
    from stations.domain.uploads import CrsRequiredError

    source = read_rows(write_csv(tmp_path / "x.csv", cn_rows(), "utf-8"))
    # 经度（GCJ-02） names the system: proposed, and taken when the uploader names none.
    assert upload_crs(None, format=source.format, columns=source.columns).value == "gcj02"
    plain = {**source.columns, "lon": "经度"}
    with pytest.raises(CrsRequiredError) as missing:
        upload_crs(None, format=source.format, columns=plain)
    for hint in ("高德", "腾讯", "gcj02", "百度", "bd09", "天地图", "wgs84"):
        assert hint in str(missing.value)
    assert upload_crs("gcj02", format="csv", columns={}).value == "gcj02"
    assert upload_crs(None, format="geojson", columns={}, default_crs="wgs84").value == "wgs84"
    with pytest.raises(CrsRequiredError):  # an old GeoJSON naming another system
        upload_crs(None, format="geojson", columns={}, default_crs=None)


def test_rows_of_a_file_naming_crs_per_row_without_one_are_rejected(tmp_path, store, districts):
    header = [*CN_HEADER, "坐标系"]
    rows = [[*cn_rows()[0], "gcj02"], [*cn_rows()[1], ""]]
    path = tmp_path / "x.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    upload = plan(path, store, districts, crs=None)
    (bad,) = rejected(store, upload)
    assert bad.row == 3 and bad.problems[0]["code"] == "crs_missing"
    assert "高德" in bad.problems[0]["message"]


# -- full lists that would close many stations -------------------------------------------------

YUZHONG_UNION = Principal("t", "渝中区总工会", Role.DISTRICT, "500103")


@pytest.fixture
def ten_stations(store, districts):
    for i in range(10):
        lon = JIEFANGBEI[0] + i * 0.0005
        store.create(make_station(districts, external_id=f"S{i}", lon=lon), actor="a")


def _full_list(tmp_path, store, districts, rows):
    header = ["编号", "名称", "经度", "纬度", "开放时间"]
    path = tmp_path / "full.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return plan(path, store, districts, by=YUZHONG_UNION, full_list=True)


def test_a_header_only_full_list_closes_nothing_unless_confirmed(
    tmp_path, store, districts, ten_stations
):
    upload = _full_list(tmp_path, store, districts, [])
    assert upload.counts["close"] == 10
    with pytest.raises(ClosuresUnconfirmedError) as refused:
        commit_upload(store, upload.id, by=YUZHONG_UNION)
    assert refused.value.check.would_close == 10 and refused.value.check.of_stations == 10
    assert "关闭本工会 10 个驿站" in str(refused.value)
    assert "confirm_closures=10" in str(refused.value)
    with pytest.raises(ClosuresUnconfirmedError):  # a wrong count is no confirmation
        commit_upload(store, upload.id, by=YUZHONG_UNION, confirm_closures=9)
    assert all(s.status.value == "active" for s in store.iter_all())
    commit_upload(store, upload.id, by=YUZHONG_UNION, confirm_closures=10)
    assert all(s.status.value == "closed" for s in store.iter_all())


def test_a_full_list_closing_a_few_commits_and_many_needs_confirming(
    tmp_path, store, districts, ten_stations
):
    def rows(n):
        return [
            [f"S{i}", "驿站", JIEFANGBEI[0] + i * 0.0005, JIEFANGBEI[1], "全天"] for i in range(n)
        ]

    many = _full_list(tmp_path, store, districts, rows(7))  # closes 3 of 10: 30 % > 20 %
    assert many.counts["close"] == 3
    with pytest.raises(ClosuresUnconfirmedError):
        commit_upload(store, many.id, by=YUZHONG_UNION)
    few = _full_list(tmp_path, store, districts, rows(8))  # closes 2 of 10: 20 %
    commit_upload(store, few.id, by=YUZHONG_UNION)
    assert sum(s.status.value == "closed" for s in store.iter_all()) == 2


def test_export_neutralises_formulas(tmp_path, store, districts):
    store.create(make_station(districts, name="=1+2", address="@SUM(A1)", host="-3+4"), actor="a")
    export_stations(store.iter_all(), tmp_path / "e.csv")
    export_stations(store.iter_all(), tmp_path / "e.xlsx")
    with (tmp_path / "e.csv").open(encoding="utf-8-sig") as fh:
        row = next(csv.DictReader(fh))
    assert row["name"] == "'=1+2" and row["address"] == "'@SUM(A1)" and row["host"] == "'-3+4"
    sheet = load_workbook(tmp_path / "e.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    values = [c.value for c in sheet[2]]
    assert values[header.index("name")] == "'=1+2"
    assert neutralise(12.5) == 12.5 and neutralise("正常") == "正常"


@pytest.mark.parametrize("text", ["+SUM(A1)", "-2+3", "=1+2", "@cmd"])
def test_every_formula_prefix_is_neutralised_in_both_spreadsheet_formats(
    tmp_path, store, districts, text
):
    # A cell a spreadsheet would evaluate: + is as dangerous as = (found unguarded once).
    store.create(make_station(districts, host=text), actor="a")
    export_stations(store.iter_all(), tmp_path / "e.csv")
    export_stations(store.iter_all(), tmp_path / "e.xlsx")
    with (tmp_path / "e.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert next(csv.DictReader(fh))["host"] == "'" + text
    sheet = load_workbook(tmp_path / "e.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    assert [c.value for c in sheet[2]][header.index("host")] == "'" + text


def test_cells_starting_with_a_tab_or_return_are_neutralised():
    assert neutralise("\t=1+2") == "'\t=1+2" and neutralise("\r+1") == "'\r+1"


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml"])
def test_a_part_that_is_not_xml_is_a_bad_file_not_a_crash(tmp_path, part):
    """A part that does not start as XML (a NUL byte first) was passed by the checks, and
    openpyxl's parse error of it was a 500: it is the file's, refused in Chinese first."""
    import zipfile

    from openpyxl import Workbook

    good = tmp_path / "good.xlsx"
    book = Workbook()
    book.active.append(["编号", "名称", "经度", "纬度"])
    book.active.append(["A1", "驿站", 106.5, 29.5])
    book.save(good)
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            out.writestr(item, b"\x00" + data if item.filename == part else data)
    with pytest.raises(FileRefusedError) as refused:
        read_rows(bad)
    assert refused.value.code == "bad_file"
    assert "不是可读取的 Excel 文件" in str(refused.value) and f"{part} 不是 XML" in str(
        refused.value
    )
