"""Files in (CSV in any encoding, XLSX, GeoJSON), exports out, imports all-or-nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from geodata.crs import from_wgs84
from geodata.distance import distance_m
from stations.auth import Principal, Role
from stations.io import export_stations, map_headers, neutralise, read_rows
from stations.uploads import UploadStateError, commit_upload, plan_upload
from tests.builders import JIEFANGBEI, make_station

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


def plan(path, store, districts, crs="wgs84"):
    source = read_rows(path)
    return plan_upload(
        source.rows,
        store=store,
        districts=districts,
        by=ADMIN,
        filename=path.name,
        crs=crs,
        columns=source.columns,
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
    assert unknown == ["备注", "高德POI"]  # the second amap POI column is a duplicate
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


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "geojson"])
def test_export_then_import_round_trips_unchanged(tmp_path, store, districts, suffix):
    store.create(make_station(districts, external_id="E1", hours="工作日 9:00-17:00"), actor="a")
    store.create(
        make_station(districts, external_id="E2", name='=HYPERLINK("http://x")'), actor="a"
    )
    out = tmp_path / f"export.{suffix}"
    assert export_stations(store.iter_all(), out) == 2
    upload = plan(out, store, districts)
    assert upload.counts == {"create": 0, "update": 0, "close": 0, "unchanged": 2, "rejected": 0}


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
