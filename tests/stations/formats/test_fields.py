"""One public field list: the template, the export, the upload mapping and the record agree
with it, and the formats are one registry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from stations.domain.auth import Principal, Role
from stations.domain.model import Provider
from stations.domain.records import listing_to_dict, station_to_dict
from stations.domain.uploads import upload_crs
from stations.formats.fields import (
    EXPORT_COLUMNS,
    FIELDS,
    LISTING_FIELDS,
    LISTING_RECORD_KEYS,
    TEMPLATE_FIELDS,
    Kind,
    map_headers,
)
from stations.formats.io import Cells, export_stations, read_rows
from stations.formats.registry import FORMATS, UnsupportedFormatError, format_for
from stations.formats.template import template_xlsx
from stations.services.uploads import commit_upload, plan_upload
from stations.storage.open import open_store
from tests.builders import varied_stations

ADMIN = Principal("t", "test", Role.ADMIN, None)
# Kept in the record only: where the union's own coordinates were, and in which system.
RECORD_ONLY = {"source_lon", "source_lat", "source_crs"}
# The registry's own bookkeeping, made anew by an import.
BOOKKEEPING = {"id", "version", "updated_at", "code"}


def test_every_field_is_in_the_record_and_every_record_key_is_a_field(districts):
    station = varied_stations(districts)[1]  # listings, 24 h, amenities…
    # The stored form holds ``mobile`` and ``stops`` only for a mobile station.
    doc = {**station_to_dict(station), **station_to_dict(varied_stations(districts)[-1])}
    listing = set(listing_to_dict(station.listings[0]))
    providers = {p.value for p in Provider}
    not_in_record = set()
    for f in FIELDS:
        provider, _, suffix = f.key.partition("_")
        if provider in providers and suffix in LISTING_FIELDS:
            assert LISTING_RECORD_KEYS[suffix] in listing, f.key
        elif f.key not in doc:
            not_in_record.add(f.key)
    # A file's positions say their system; the record holds WGS-84 (and source_crs).
    assert not_in_record == {"crs", "district"}  # and a sheet's 区县, checked, never kept
    assert set(doc) - {f.key for f in FIELDS} == RECORD_ONLY


def test_every_field_is_in_the_template_and_the_export_and_maps_back(tmp_path, districts):
    sheet = load_workbook(io.BytesIO(template_xlsx()))["驿站"]
    header = [c.value for c in sheet[1]]
    assert header == [f.header for f in TEMPLATE_FIELDS]
    assert map_headers(header)[0] == [f.key for f in TEMPLATE_FIELDS]
    # Every yes/no field of the template has the 是/否 drop-down, and only those.
    yes_no = next(v for v in sheet.data_validations.dataValidation if v.formula1 == '"是,否"')
    columns = {str(r).split(":")[0].rstrip("0123456789") for r in yes_no.sqref.ranges}
    bools = {
        sheet.cell(row=1, column=i).column_letter
        for i, f in enumerate(TEMPLATE_FIELDS, start=1)
        if f.kind is Kind.BOOL
    }
    assert columns == bools

    out = tmp_path / "export.csv"
    export_stations(varied_stations(districts), out)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        exported = next(csv.reader(fh))
    assert exported == list(EXPORT_COLUMNS) == [f.key for f in FIELDS if f.export]
    # Each exported column an upload reads is read back as itself, the rest are reported.
    assert map_headers(exported)[0] == [f.key if f.read else None for f in FIELDS if f.export]
    # What an upload reads but no CSV/XLSX export has: GeoJSON's nested listings, and a
    # sheet's 区县 (checked against the position, never kept: the position decides).
    assert {f.key for f in FIELDS if f.read and not f.export} == {"listings", "district"}


def _comparable(value: Any) -> Any:
    """A record with floats to 1e-9 degree (0.1 mm): XLSX keeps 15 significant digits."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _records(store) -> dict[str, dict[str, Any]]:
    records = {}
    for s in store.iter_all():
        doc = station_to_dict(s)
        for key in RECORD_ONLY | BOOKKEEPING:
            doc.pop(key)
        records[s.external_id] = _comparable(doc)
    return records


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_export_then_import_into_an_empty_registry_gives_every_field_back(
    tmp_path, districts, suffix
):
    first = open_store(f"sqlite:///{tmp_path / 'first.sqlite3'}")
    second = open_store(f"sqlite:///{tmp_path / 'second.sqlite3'}")
    try:
        for station in varied_stations(districts):
            first.create(station, actor="a")
        out = tmp_path / f"export.{suffix}"
        export_stations(first.iter_all(), out)
        source = read_rows(out)
        crs = upload_crs(
            None, format=source.format, columns=source.columns, default_crs=source.default_crs
        )
        upload = plan_upload(
            source.rows,
            store=second,
            districts=districts,
            by=ADMIN,
            filename=out.name,
            crs=crs,
            columns=source.columns,
        )
        assert upload.counts["create"] == len(varied_stations(districts)), upload.counts
        commit_upload(second, upload.id, by=ADMIN)
        assert _records(second) == _records(first)
    finally:
        first.close()
        second.close()


def test_a_file_type_not_in_the_registry_is_refused_naming_those_that_are():
    with pytest.raises(UnsupportedFormatError) as info:
        format_for(Path("驿站.xls"))
    assert str(info.value) == (
        "驿站.xls: 不支持的文件类型（.xls）；请上传 .csv、.xlsx 或 .geojson 文件"
        "（Excel 的 .xls 请另存为 .xlsx）"
    )
    assert {format_for(Path(f"a{s.upper()}")).name for f in FORMATS.values() for s in f.suffixes}
    assert all(f.suffixes[0] == f".{f.name}" for f in FORMATS.values())


def test_a_geojson_row_that_is_no_point_carries_its_problem_typed(tmp_path):
    line = {"type": "LineString", "coordinates": [[106.5, 29.5], [106.6, 29.6]]}
    point = {"type": "Point", "coordinates": [106.5, 29.5]}
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"编号": "A"}, "geometry": point},
            {"type": "Feature", "properties": {"编号": "B", "lon": 1}, "geometry": line},
        ],
    }
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    (_, good), (_, bad) = read_rows(path).rows
    assert good == {"external_id": "A", "lon": 106.5, "lat": 29.5}
    # Every row carries its own cells (for the rejected-rows workbook); only a bad one problems.
    assert isinstance(good, Cells) and not good.problems
    assert good.source == {"编号": "A", "经度": 106.5, "纬度": 29.5}
    assert isinstance(bad, Cells)
    assert bad == {"external_id": "B", "lon": None, "lat": None}
    assert [(p.field, p.code) for p in bad.problems] == [("geometry", "not_a_point")]
    assert "LineString" in bad.problems[0].message


def test_every_field_a_report_may_name_has_a_chinese_name():
    """A report's 修改内容 names each changed field to a clerk: never a record key such
    as listings or sample."""
    from stations.formats.fields import field_label

    for f in FIELDS:
        label = field_label(f.key)
        assert label == "ID" or any("\u4e00" <= c <= "\u9fff" for c in label), (f.key, label)
    assert field_label("listings") == "上图信息" and field_label("sample") == "示例"
    assert field_label("baidu_checked_at") == "百度核查时间"
