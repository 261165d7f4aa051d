"""geodata.maps: offline pages, escaped text, GCJ-02 shift for Amap tiles, compact data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from geodata.crs import CoordinateSystem, from_wgs84
from geodata.maps import (
    DRAWN_VERTICES,
    FILL_DECIMALS,
    FILL_TOLERANCES,
    NO_DATA_COLOUR,
    Choropleth,
    MapPoints,
    PointLegend,
    _leaflet_assets,
    coverage_map,
    shift_geometry,
)
from geodata.tiles import usable_providers

EVIL = '</script><script>alert("x")</script>'
EVIL_TAG = "<img src=x onerror=alert(1)>"
FIELDS = ("名称", "状态", "地址", "开放时间", "设施", "进入方式", "上图")
BOX = shapely.box(106.5, 29.5, 106.6, 29.6)
CATEGORIES = (
    ("full", "#1a9850", "三家均精准上图"),
    ("partial", "#fdae61", "部分上图或位置不准"),
    ("none", "#d73027", "未上图"),
)
LEGEND = PointLegend(CATEGORIES, marked="24小时自助驿站", not_in_service="筹建中或暂停开放")


def points(n: int = 3, **kw) -> MapPoints:
    """``n`` points near 解放碑 cycling through the 上图 states; the first is named EVIL."""
    lon = 106.5772 + np.arange(n) * 0.001
    lat = np.full(n, 29.557)
    defaults = dict(
        lon=lon,
        lat=lat,
        category=[CATEGORIES[i % 3][0] for i in range(n)],
        self_service=np.arange(n) % 3 == 1,
        popup=[
            (EVIL if i == 0 else f"站{i}", "", f"路{i}号", "24/7", "热水", "", "") for i in range(n)
        ],
        popup_fields=FIELDS,
        legend=LEGEND,
    )
    return MapPoints(**{**defaults, **kw})


def render(pts: MapPoints | None = None, **kw) -> str:
    kw.setdefault("districts", [])
    return coverage_map(pts if pts is not None else points(), **kw).get_root().render()


def payload(html: str) -> dict:
    match = re.search(r"var data = (\{.*?\});\n", html)
    assert match is not None
    return json.loads(match.group(1))


def as_js_sees_it(html: str) -> str:
    """The page with JSON's \\uXXXX escapes decoded: the strings the scripts work with."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)


def popup_text(data: dict, field: int, i: int) -> str:
    """What the page's popup shows for point ``i`` (the columns may be dictionary-coded)."""
    column = data["text"][field]
    return column["v"][column["i"][i]] if isinstance(column, dict) else column[i]


def test_no_public_cdn_only_tiles_and_credits():
    html = render(credit="行政区划边界：天地图")
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources == []
    assert "L.map(" in html and "Leaflet" in html  # inlined
    js, css = _leaflet_assets()
    ours = html.replace(js, "").replace(css, "")  # Leaflet's comments name bug trackers
    assert "url(http" not in css
    external = set(re.findall(r"https?://[^\s\"'<>\\]+", ours))
    # Tile template and attribution links only.
    allowed = (
        "https://tile.openstreetmap.org/",
        "https://www.openstreetmap.org/",
        "https://leafletjs.com",
    )
    assert all(u.startswith(allowed) for u in external), external
    assert "天地图" in as_js_sees_it(html)


def test_user_text_cannot_close_the_script():
    html = render()
    assert EVIL not in html
    assert popup_text(payload(html), 0, 0) == EVIL  # intact as data, shown with textContent


def test_district_and_metric_names_reach_the_page_escaped():
    # folium's tooltips and Leaflet's layer control insert these as HTML.
    html = render(
        districts=[("500103", EVIL_TAG + "区", BOX)],
        choropleths=[Choropleth("per_demand", "每千需求（" + EVIL_TAG + "）", {"500103": 0.5})],
        metric="per_demand",
        note=EVIL_TAG,
        credit=EVIL_TAG,
    )
    shades = re.search(r"var shades = (\[.*?\]);\n", html)
    assert shades is not None
    # The legend keeps the title as text (it is built with textContent); the control's
    # label is HTML, escaped.
    (legend,) = json.loads(shades.group(1))
    assert legend["title"] == "每千需求（" + EVIL_TAG + "）"
    assert legend["label"] == "每千需求（&lt;img src=x onerror=alert(1)&gt;）"
    seen = as_js_sees_it(html.replace(shades.group(0), ""))
    assert EVIL_TAG not in seen
    assert "&lt;img src=x onerror=alert(1)&gt;区" in seen  # the tooltips' district name


def test_one_entry_per_point_in_its_category_and_kind():
    pts = points(7, in_service=np.array([True] * 6 + [False]))
    data = payload(render(pts))
    assert len(data["lon"]) == len(data["lat"]) == len(data["cat"]) == 7
    assert [CATEGORIES[c][0] for c in data["cat"]] == list(pts.category)
    assert data["ss"] == [0, 1, 0, 0, 1, 0, 0]
    assert data["off"] == [0, 0, 0, 0, 0, 0, 1]
    assert [popup_text(data, 2, i) for i in range(7)] == [f"路{i}号" for i in range(7)]


def test_every_point_in_service_sends_no_off_flags():
    assert "off" not in payload(render(points(4)))


def test_repeated_popup_text_is_sent_once():
    html = render(points(50))
    data = payload(html)
    hours = data["text"][3]
    assert hours == {"v": ["24/7"], "i": [0] * 50}
    assert isinstance(data["text"][0], list)  # names differ: sent as they are
    assert html.count("热水") == 1


def test_coordinates_are_rounded_to_a_tenth_of_a_metre():
    pts = points(1, lon=np.array([106.123456789]), lat=np.array([29.987654321]))
    data = payload(render(pts))
    assert data["lon"] == [106.123457] and data["lat"] == [29.987654]


def test_amap_tiles_shift_points_and_areas_to_gcj02():
    html = render(districts=[("500103", "渝中区", BOX)], tiles="amap")
    data = payload(html)
    glon, glat = from_wgs84(np.array([106.5772]), np.array([29.557]), crs="gcj02")
    assert data["lon"][0] == pytest.approx(glon[0], abs=1e-6)
    assert data["lat"][0] == pytest.approx(glat[0], abs=1e-6)
    assert "autonavi.com" in html and "高德" in as_js_sees_it(html)
    shifted = shift_geometry(BOX, CoordinateSystem.GCJ02)
    assert shifted.bounds[0] == pytest.approx(float(from_wgs84(106.5, 29.5, crs="gcj02")[0]))
    x = round(float(from_wgs84(106.5, 29.5, crs="gcj02")[0]), FILL_DECIMALS)
    assert str(x) in html  # the district's corner, shifted (areas are drawn to ~10 m)
    assert "106.5, 29.5" not in html and "[106.5,29.5]" not in html


def test_osm_tiles_draw_wgs84_as_given():
    data = payload(render(tiles="osm"))
    assert data["lon"][0] == 106.5772 and data["lat"][0] == 29.557


def test_choropleth_classes_are_quantiles_with_their_ranges_in_the_legend():
    keys = [f"5001{i:02d}" for i in range(6)]
    districts = [
        (k, f"区{i}", shapely.box(106 + i * 0.1, 29, 106.05 + i * 0.1, 29.05))
        for i, k in enumerate(keys)
    ]
    # One dense district far above the rest; one without data.
    values = dict(zip(keys, [0.01, 0.02, 0.03, 0.04, 0.90, None], strict=True))
    html = render(
        districts=districts,
        choropleths=[Choropleth("coverage", "1000 米覆盖率", values)],
        metric="coverage",
    )
    shades = json.loads(re.search(r"var shades = (\[.*?\]);\n", html).group(1))
    palette = json.loads(re.search(r"var palette = (\[.*?\]);\n", html).group(1))
    fills = [palette[k] for k in shades[0]["fill"]]
    assert len(fills) == 6
    assert len(set(fills[:5])) == 5  # equal steps would colour the first four alike
    assert fills[5] == NO_DATA_COLOUR
    assert shades[0]["title"] == "1000 米覆盖率" and shades[0]["shown"] is True
    labels = [row[1] for row in shades[0]["rows"]]
    assert labels[0] == "1%" and labels[-2] == "4% – 90%" and labels[-1] == "无数据"
    assert 'id="yz-legend"' in html


def test_choropleths_are_in_their_own_control_not_the_overlays():
    html = render(
        districts=[("500103", "渝中区", BOX)],
        choropleths=[
            Choropleth("coverage", "覆盖率", {"500103": 0.5}),
            Choropleth("listed_all_rate", "上图率", {"500103": 0.2}),
        ],
        metric="listed_all_rate",
    )
    overlays = re.search(r"overlays :  \{(.*?)\}", html, re.S).group(1)
    assert "覆盖率" not in overlays and "上图率" not in overlays
    shades = json.loads(re.search(r"var shades = (\[.*?\]);\n", html).group(1))
    assert [(s["title"], s["shown"]) for s in shades] == [("覆盖率", False), ("上图率", True)]


def test_bad_tiles_and_unknown_metric_are_refused():
    with pytest.raises(ValueError, match="tiles"):
        coverage_map(points(), districts=[], tiles="google")
    with pytest.raises(ValueError, match="metric"):
        coverage_map(points(), districts=[], metric="coverage")


def test_tiles_come_from_the_registry_and_a_key_is_needed_where_the_provider_needs_one():
    with pytest.raises(ValueError, match="YIZHAN_TIANDITU_KEY"):
        coverage_map(points(), districts=[], tiles="tianditu")
    keyed = usable_providers({"YIZHAN_TIANDITU_KEY": "0123456789abcdef0123456789abcdef"})
    html = render(tiles=keyed["tianditu"])
    assert html.count("https://t{s}.tianditu.gov.cn/") == 2  # the map and its labels
    data = payload(html)
    assert data["lon"][0] == 106.5772  # CGCS2000 tiles: no shift
    assert "L.control.scale({metric: true, imperial: false" in html


def test_each_district_is_drawn_once_whatever_the_colourings():
    keys = [f"5001{i:02d}" for i in range(3)]
    districts = [
        (k, f"区{i}", shapely.box(106 + i * 0.1, 29, 106.05 + i * 0.1, 29.05))
        for i, k in enumerate(keys)
    ]
    values = dict(zip(keys, [0.1, 0.2, None], strict=True))
    one, four = (
        render(
            districts=districts,
            choropleths=[Choropleth(f"m{j}", f"指标{j}", values) for j in range(n)],
            metric="m0",
        )
        for n in (1, 4)
    )
    shapes = json.loads(re.search(r"var shapes = (\{.*?\});\n", four).group(1))
    assert [f["properties"]["name"] for f in shapes["features"]] == ["区0", "区1", "区2"]
    # A corner of the first district: once in the page, with one colouring or four.
    assert one.count("[106.05,29.05]") == four.count("[106.05,29.05]") == 1
    shades = json.loads(re.search(r"var shades = (\[.*?\]);\n", four).group(1))
    assert [s["text"] for s in shades] == [["10%", "20%", "无数据"]] * 4


def test_many_districts_are_drawn_coarser_within_the_vertex_budget():
    # 400 jagged districts of 2,000 vertices each: 800,000 at the finest tolerance.
    rng = np.random.default_rng(1)
    districts = []
    for i in range(400):
        angle = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
        r = 0.2 * (1 + 0.05 * rng.standard_normal(2000))
        x0, y0 = 100 + (i % 20) * 0.5, 25 + (i // 20) * 0.5
        ring = np.column_stack([x0 + r * np.cos(angle), y0 + r * np.sin(angle)])
        districts.append((f"{500000 + i}", f"区{i}", shapely.Polygon(ring)))
    html = render(districts=districts)
    shapes = json.loads(re.search(r"var shapes = (\{.*?\});\n", html).group(1))
    drawn = [shapely.geometry.shape(f["geometry"]) for f in shapes["features"]]
    assert len(drawn) == 400 and all(not g.is_empty for g in drawn)
    assert sum(shapely.get_num_coordinates(g) for g in drawn) <= DRAWN_VERTICES
    # Still the same places: each drawn shape within its tolerance of the original.
    for (_, _, exact), g in zip(districts, drawn, strict=True):
        assert shapely.hausdorff_distance(exact, g) < max(FILL_TOLERANCES) * 2
