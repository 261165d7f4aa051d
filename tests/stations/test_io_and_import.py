"""Files in (CSV in any encoding, XLSX, GeoJSON), exports out, imports all-or-nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from geodata.crs import from_wgs84
from geodata.distance import distance_m
from stations.importer import commit_plan, plan_import
from stations.io import export_stations, map_headers, neutralise, read_rows
from stations.sqlite import SQLiteStore
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


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


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
    source = read_rows(path)
    assert source.encoding in {"utf-8", "utf-8-sig", "gb18030"}
    plan = plan_import(source.rows, store=store, districts=districts, crs="gcj02", owner=None)
    assert plan.counts() == {"create": 2, "update": 0, "unchanged": 0, "rejected": 0}
    commit_plan(plan, store, actor="clerk")
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
    plan = plan_import(
        read_rows(tmp_path / "in.xlsx").rows, store=store, districts=districts, crs="gcj02"
    )
    assert plan.counts()["create"] == 2

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
    (tmp_path / "in.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    plan = plan_import(read_rows(tmp_path / "in.geojson").rows, store=store, districts=districts)
    assert plan.counts()["create"] == 1
    assert plan.rejected[0].row == 2 and plan.rejected[0].problems[0].code == "not_a_point"


def test_a_bad_row_rejects_the_import_and_changes_nothing(tmp_path, store, districts):
    rows = cn_rows()
    rows[1][5] = "看心情"
    plan = plan_import(
        read_rows(write_csv(tmp_path / "x.csv", rows, "utf-8")).rows,
        store=store,
        districts=districts,
        crs="gcj02",
    )
    assert [(r.row, r.problems[0].code) for r in plan.rejected] == [(3, "hours_unparseable")]
    with pytest.raises(ValueError, match="rejected"):
        commit_plan(plan, store, actor="clerk")
    assert store.count() == 0 and store.batches() == []


def test_duplicate_external_id_in_file_is_rejected(tmp_path, store, districts):
    rows = cn_rows()
    rows[1][0] = "A1"
    plan = plan_import(
        read_rows(write_csv(tmp_path / "x.csv", rows, "utf-8")).rows,
        store=store,
        districts=districts,
        crs="gcj02",
    )
    (bad,) = plan.rejected
    assert bad.row == 3 and bad.problems[0].code == "duplicate_in_file"
    assert "第 2 行" in bad.problems[0].message


def test_reimport_finds_changes_and_unchanged_rows(tmp_path, store, districts):
    path = write_csv(tmp_path / "x.csv", cn_rows(), "utf-8")
    commit_plan(
        plan_import(read_rows(path).rows, store=store, districts=districts, crs="gcj02"),
        store,
        actor="c",
    )
    rows = cn_rows()
    rows[0][1] = "解放碑工会驿站（新）"
    path = write_csv(tmp_path / "y.csv", rows, "utf-8")
    plan = plan_import(read_rows(path).rows, store=store, districts=districts, crs="gcj02")
    assert plan.counts() == {"create": 0, "update": 1, "unchanged": 1, "rejected": 0}
    assert plan.rows[0].changed_fields == ("name",)


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "geojson"])
def test_export_then_import_round_trips_unchanged(tmp_path, store, districts, suffix):
    store.create(make_station(districts, external_id="E1", hours="工作日 9:00-17:00"), actor="a")
    store.create(
        make_station(districts, external_id="E2", name='=HYPERLINK("http://x")'), actor="a"
    )
    out = tmp_path / f"export.{suffix}"
    assert export_stations(store.iter_all(), out) == 2
    plan = plan_import(read_rows(out).rows, store=store, districts=districts)
    assert plan.counts() == {"create": 0, "update": 0, "unchanged": 2, "rejected": 0}


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
