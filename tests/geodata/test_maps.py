"""geodata.maps: offline pages, escaped text, GCJ-02 shift for Amap tiles."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from geodata.crs import from_wgs84
from geodata.maps import Choropleth, MapPoints, _leaflet_assets, coverage_map, shift_geometry

EVIL = '</script><script>alert("x")</script>'


def points(n: int = 3) -> MapPoints:
    lon = np.array([106.5772, 106.53, 108.40][:n])
    lat = np.array([29.557, 29.58, 30.81][:n])
    return MapPoints(
        lon=lon,
        lat=lat,
        category=["full", "partial", "none"][:n],
        self_service=np.array([False, True, False][:n]),
        popup=[(EVIL, "地址", "24/7", "", "", "")] + [("站", "", "", "", "", "")] * (n - 1),
        popup_fields=("名称", "地址", "开放时间", "设施", "进入方式", "上图"),
    )


def render(**kw) -> str:
    return coverage_map(points(), districts=kw.pop("districts", []), **kw).get_root().render()


def payload(html: str) -> dict:
    match = re.search(r"var data = (\{.*?\});\n", html)
    assert match is not None
    return json.loads(match.group(1))


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
    assert "天地图" in html or json.dumps("天地图")[1:-1] in html  # credit, maybe JSON-escaped


def test_user_text_cannot_close_the_script():
    html = render()
    assert EVIL not in html
    assert payload(html)["text"][0][0] == EVIL  # intact as data, shown with textContent


def test_amap_tiles_shift_points_and_areas_to_gcj02():
    area = shapely.box(106.5, 29.5, 106.6, 29.6)
    html = (
        coverage_map(points(), districts=[("500103", "渝中区", area)], tiles="amap")
        .get_root()
        .render()
    )
    data = payload(html)
    glon, glat = from_wgs84(np.array([106.5772]), np.array([29.557]), crs="gcj02")
    assert data["lon"][0] == pytest.approx(glon[0], abs=1e-6)
    assert data["lat"][0] == pytest.approx(glat[0], abs=1e-6)
    assert "autonavi.com" in html
    shifted = shift_geometry(area, from_wgs84.__globals__["CoordinateSystem"].GCJ02)
    assert shifted.bounds[0] == pytest.approx(float(from_wgs84(106.5, 29.5, crs="gcj02")[0]))


def test_choropleth_layers_and_legend():
    area = shapely.box(106.5, 29.5, 106.6, 29.6)
    html = (
        coverage_map(
            points(),
            districts=[("500103", "渝中区", area)],
            choropleths=[Choropleth("coverage", "1000 米覆盖率", {"500103": 0.5})],
            metric="coverage",
        )
        .get_root()
        .render()
    )
    assert "区县：1000 米覆盖率" in html or json.dumps("区县：1000 米覆盖率") in html
    assert "50%" in html
    assert 'id="yz-legend"' in html


def test_bad_tiles_are_refused():
    with pytest.raises(ValueError, match="tiles"):
        coverage_map(points(), districts=[], tiles="google")
