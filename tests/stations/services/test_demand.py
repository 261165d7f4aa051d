"""Demand files are read through the format registry, as station uploads are."""

from __future__ import annotations

import json

import pytest

from stations.domain.demand import DemandFileError
from stations.formats.io import FileLimits, FileRefusedError
from stations.services.demand import read_demand

WANZHOU = (108.4, 30.81)


def test_a_semicolon_separated_gbk_demand_file_is_read(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(f"经度;纬度;权重;说明\n{WANZHOU[0]};{WANZHOU[1]};3;万州骑手\n", encoding="gbk")
    layer = read_demand(path, name="d", crs="wgs84")
    assert (len(layer), layer.total_weight, layer.labels) == (1, 3.0, ("万州骑手",))


def test_demand_row_numbers_are_the_file_lines_as_for_stations(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(f"lon,lat,weight\n\n{WANZHOU[0]},{WANZHOU[1]},-1\n", encoding="utf-8")
    with pytest.raises(DemandFileError) as info:
        read_demand(path, name="d", crs="wgs84")
    assert [(p.row, p.code) for p in info.value.problems] == [(3, "invalid_weight")]


def test_a_geojson_demand_point_fills_the_position_unless_the_properties_have_one(tmp_path):
    point = {"type": "Point", "coordinates": list(WANZHOU)}
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"weight": 2}, "geometry": point},
            {"type": "Feature", "properties": {"lon": 106.5, "lat": 29.5}, "geometry": point},
        ],
    }
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    layer = read_demand(path, name="d")
    assert layer.lon.tolist() == [WANZHOU[0], 106.5]
    assert layer.weight.tolist() == [2.0, 1.0]


def test_a_demand_csv_breaks_the_same_file_limits_as_an_upload(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("lon,lat,label\n" + f"{WANZHOU[0]},{WANZHOU[1]},{'x' * 300_000}\n")
    with pytest.raises(FileRefusedError) as info:
        read_demand(path, name="d", crs="wgs84")
    assert info.value.code == "cell_too_long"
    wide = tmp_path / "w.geojson"
    props = {f"p{i}": i for i in range(20)}
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props}]}
    wide.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FileRefusedError) as info:
        read_demand(wide, name="d", limits=FileLimits(max_columns=10))
    assert info.value.code == "too_many_columns"
