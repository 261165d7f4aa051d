"""Offline Folium maps of many points: canvas markers, coverage areas, a choropleth.

Works with no access to public CDNs: folium's default asset lists are emptied per map and
Leaflet's JS and CSS (from the ``django-js-lib-leaflet`` package, Leaflet 1.9.4) are
inlined, its control images as data URIs. Points are drawn by one script as canvas
circle markers (not one DOM marker each), from compact arrays: 200,000 points stay
usable. Popups are built on click with ``textContent``, so no user text is ever parsed
as HTML. With ``tiles="amap"`` every drawn point and polygon is shifted to GCJ-02, the
system of Amap's tiles.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import folium
import numpy as np
import numpy.typing as npt
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from geodata.crs import CoordinateSystem, from_wgs84

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_CREDIT = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
AMAP_TILES = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
AMAP_CREDIT = "&copy; 高德地图 AutoNavi (GCJ-02)"
TILES = ("osm", "amap")

# Point categories: colour and label (上图 state), in legend order.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("full", "#1a9850", "三家均精准上图"),
    ("partial", "#fdae61", "部分上图或位置不准"),
    ("none", "#d73027", "未上图"),
)
SELF_SERVICE_LABEL = "24小时自助驿站"
CHOROPLETH_COLOURS = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")


LEAFLET_PACKAGE = "js_lib_leaflet"  # from django-js-lib-leaflet: Leaflet 1.9.4, no Django


def leaflet_file(name: str) -> bytes:
    """A file of Leaflet's distribution (``leaflet.js``, ``images/layers.png``…) from the
    installed package: the maps and the rider page never use copies in this repository."""
    root = resources.files(LEAFLET_PACKAGE) / "static" / LEAFLET_PACKAGE
    return root.joinpath(name).read_bytes()


@functools.cache
def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS text from the installed package, images inlined."""
    js = leaflet_file("leaflet.js").decode("utf-8")
    js = js.replace("//# sourceMappingURL=leaflet.js.map", "")
    css = leaflet_file("leaflet.css").decode("utf-8")

    def inline(match: re.Match[str]) -> str:
        data = leaflet_file(f"images/{match.group(1)}")
        return f"url(data:image/png;base64,{base64.b64encode(data).decode()})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
    return js, css


def _leaflet_html() -> str:
    js, css = _leaflet_assets()
    return f"<style>{css}</style>{_script(js)}"


class _Raw(Element):
    """HTML put in the page as it is: branca would compile 160 KB of Leaflet as a jinja
    template (seconds, and for nothing)."""

    def __init__(self, html: Callable[[], str]) -> None:
        super().__init__("")
        self._html = html

    def render(self, **kwargs: Any) -> str:
        return self._html()


def _script(js: str) -> str:
    return "<script>" + js.replace("</script", "<\\/script") + "</script>"


@dataclass(frozen=True)
class MapPoints:
    """Points to draw (WGS-84 degrees) with what their popups show.

    ``category`` is one of :data:`CATEGORIES`' keys; ``popup`` holds one tuple of text
    fields per point, named by ``popup_fields`` (shown in that order).
    """

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    category: Sequence[str]
    self_service: npt.NDArray[np.bool_]
    popup: Sequence[Sequence[str]]
    popup_fields: Sequence[str]
    ids: Sequence[int] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.lon)


@dataclass(frozen=True)
class Choropleth:
    """A district-level metric: values by key (adcode) and the legend's title."""

    name: str
    title: str
    values: Mapping[str, float | None]
    fmt: str = "{:.0%}"


_POINTS_JS = Template(
    """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var data = {{ this.data }};
  var fields = {{ this.fields }};
  var cats = {{ this.categories }};
  var renderer = L.canvas({padding: 0.5});
  var groups = {};
  cats.forEach(function (c) { groups[c[0]] = L.layerGroup(); });
  var selfService = L.layerGroup();
  function popup(i) {
    var box = document.createElement("div");
    box.className = "yz-popup";
    var row = data.text[i];
    fields.forEach(function (name, j) {
      if (!row[j]) { return; }
      var p = document.createElement(j === 0 ? "b" : "div");
      p.textContent = j === 0 ? row[j] : name + "：" + row[j];
      box.appendChild(p);
    });
    return box;
  }
  var n = data.lon.length, counts = {stations: n, self_service: 0};
  for (var i = 0; i < n; i++) {
    var cat = cats[data.cat[i]];
    var ll = [data.lat[i], data.lon[i]];
    var m;
    if (data.ss[i]) {
      m = L.circleMarker(ll, {renderer: renderer, radius: 6, color: "#000", weight: 3,
                              fillColor: cat[1], fillOpacity: 1});
      m.addTo(selfService);
      counts.self_service++;
    } else {
      m = L.circleMarker(ll, {renderer: renderer, radius: 4, color: "#333", weight: 0.5,
                              fillColor: cat[1], fillOpacity: 0.9});
      m.addTo(groups[cat[0]]);
    }
    m.bindPopup((function (k) { return function () { return popup(k); }; })(i));
  }
  var overlays = {};
  cats.forEach(function (c) { groups[c[0]].addTo(map); overlays[c[2]] = groups[c[0]]; });
  selfService.addTo(map);
  overlays[{{ this.self_service_label }}] = selfService;
  window.yizhanLayers = overlays;
  window.yizhanMap = map;
  window.yizhanCounts = counts;
  var control = {{ this.control }};
  if (control) {
    Object.keys(overlays).forEach(function (k) { control.addOverlay(overlays[k], k); });
  }
  window.yizhanReady = true;
})();
{% endmacro %}
"""
)


class _Points(MacroElement):
    """The stations, drawn by one script from compact arrays."""

    def __init__(self, points: MapPoints, control: folium.LayerControl | None) -> None:
        super().__init__()
        self._template = _POINTS_JS
        cat_index = {c[0]: i for i, c in enumerate(CATEGORIES)}
        payload = {
            "lon": np.round(points.lon, 6).tolist(),
            "lat": np.round(points.lat, 6).tolist(),
            "cat": [cat_index[c] for c in points.category],
            "ss": [1 if s else 0 for s in points.self_service.tolist()],
            "text": [list(row) for row in points.popup],
        }
        self.data = _json_for_script(payload)
        self.fields = _json_for_script(list(points.popup_fields))
        self.categories = _json_for_script([list(c) for c in CATEGORIES])
        self.self_service_label = _json_for_script(SELF_SERVICE_LABEL)
        self.control = control.get_name() if control is not None else "null"

    def render(self, **kwargs: Any) -> str:
        # As MacroElement.render, but the script (tens of MB of data at national scale)
        # goes in as raw HTML: wrapped in an Element, branca would compile it as a template.
        script = self._template.module.__dict__["script"](self, kwargs)
        root: Any = self.get_root()
        root.script.add_child(_Raw(lambda: str(script)), name=self.get_name())
        return ""


def _json_for_script(value: Any) -> str:
    """JSON safe inside a <script> element (no "</script>" or "<!--" can close it)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def shift_geometry(geometry: shapely.Geometry, crs: CoordinateSystem) -> shapely.Geometry:
    """``geometry`` (WGS-84) with every coordinate converted to ``crs``."""
    if crs is CoordinateSystem.WGS84:
        return geometry

    def fn(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = from_wgs84(coords[:, 0], coords[:, 1], crs=crs)
        return np.column_stack([x, y])

    return shapely.transform(geometry, fn)


def _compact(geometry: shapely.Geometry) -> dict[str, Any]:
    """GeoJSON of an area for drawing: simplified within ~10 m, coordinates to ~1 m."""
    simple = shapely.simplify(geometry, tolerance=1e-4, preserve_topology=False)
    # Rounded, not snapped with set_precision: drawing needs no valid topology.
    return shapely.geometry.mapping(shapely.transform(simple, lambda c: np.round(c, 5)))


def _colour(value: float | None, low: float, high: float) -> str:
    if value is None:
        return "#bbbbbb"
    span = high - low
    step = 0 if span <= 0 else min(4, int((value - low) / span * 5))
    return CHOROPLETH_COLOURS[step]


def coverage_map(
    points: MapPoints,
    *,
    districts: Sequence[tuple[str, str, shapely.Geometry]],
    choropleths: Sequence[Choropleth] = (),
    metric: str | None = None,
    covered: shapely.Geometry | None = None,
    uncovered: shapely.Geometry | None = None,
    radius_m: float = 1000.0,
    tiles: str = "osm",
    title: str = "工会驿站覆盖图",
    credit: str = "",
    note: str = "",
) -> folium.Map:
    """A planner's map: stations by 上图 state, 24-hour sites, coverage, a choropleth.

    ``districts`` are (key, name, WGS-84 geometry); ``choropleths`` are district metrics,
    each its own overlay, ``metric`` naming the one shown first. ``covered`` and
    ``uncovered`` are WGS-84 areas within / beyond ``radius_m`` of a station.
    """
    if tiles not in TILES:
        msg = f"tiles must be one of {', '.join(TILES)}, not {tiles!r}"
        raise ValueError(msg)
    crs = CoordinateSystem.GCJ02 if tiles == "amap" else CoordinateSystem.WGS84
    lon, lat = points.lon, points.lat
    if crs is not CoordinateSystem.WGS84 and len(lon):
        lon, lat = (np.asarray(v, np.float64) for v in from_wgs84(lon, lat, crs=crs))
    drawn = MapPoints(
        lon, lat, points.category, points.self_service, points.popup, points.popup_fields
    )
    geoms = [(k, n, shift_geometry(g, crs)) for k, n, g in districts]
    bounds = shapely.total_bounds([g for _, _, g in geoms]) if geoms else None

    m = folium.Map(tiles=None, prefer_canvas=True, control_scale=True)
    m.default_js = []
    m.default_css = []
    root: Any = m.get_root()  # a branca Figure
    root.header.add_child(_Raw(_leaflet_html), name="leaflet")
    root.header.add_child(Element(_STYLE), name="yizhan_css")
    root.title = title
    if tiles == "amap":
        folium.TileLayer(
            AMAP_TILES, attr=_attribution(AMAP_CREDIT, credit), name="高德地图", subdomains="1234"
        ).add_to(m)
    else:
        folium.TileLayer(
            OSM_TILES, attr=_attribution(OSM_CREDIT, credit), name="OpenStreetMap", max_zoom=19
        ).add_to(m)

    for choropleth in choropleths:
        _add_choropleth(m, geoms, choropleth, show=choropleth.name == metric)
    style = {"fillOpacity": 0.35, "weight": 0}
    if covered is not None and not covered.is_empty:
        folium.GeoJson(
            _compact(shift_geometry(covered, crs)),
            name=f"{radius_m:.0f} 米内可达",
            style_function=lambda _: {**style, "fillColor": "#1a9850"},
        ).add_to(m)
    if uncovered is not None and not uncovered.is_empty:
        folium.GeoJson(
            _compact(shift_geometry(uncovered, crs)),
            name=f"{radius_m:.0f} 米外（未覆盖）",
            style_function=lambda _: {**style, "fillColor": "#d73027", "fillOpacity": 0.25},
            show=False,
        ).add_to(m)
    if geoms:
        _add_boundaries(m, geoms)
    # The control first: the stations' script adds its layers to it.
    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    _Points(drawn, control).add_to(m)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    root.html.add_child(Element(_legend(title, choropleths, metric, note)))
    return m


def _add_boundaries(m: folium.Map, geoms: Sequence[tuple[str, str, shapely.Geometry]]) -> None:
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": n},
                    "geometry": _compact(shapely.boundary(g)),
                }
                for _, n, g in geoms
            ],
        },
        name="区县边界",
        style_function=lambda _: {"color": "#555", "weight": 1, "fill": False},
        tooltip=folium.GeoJsonTooltip(["name"], labels=False),
    ).add_to(m)


def _attribution(base: str, credit: str) -> str:
    return base + (f" | {_escape(credit)}" if credit else "")


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _add_choropleth(
    m: folium.Map,
    geoms: Sequence[tuple[str, str, shapely.Geometry]],
    choropleth: Choropleth,
    *,
    show: bool,
) -> None:
    values = [v for v in choropleth.values.values() if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    features = []
    for key, name, geometry in geoms:
        value = choropleth.values.get(key)
        shown = "无数据" if value is None else choropleth.fmt.format(value)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "name": name,
                    "value": shown,
                    "fill": _colour(value, low, high),
                },
                "geometry": _compact(geometry),
            }
        )
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=f"区县：{choropleth.title}",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": "#444",
            "weight": 0.5,
        },
        tooltip=folium.GeoJsonTooltip(["name", "value"], aliases=["区县", choropleth.title]),
        show=show,
    ).add_to(m)


_STYLE = """<style>
.yz-legend{position:fixed;bottom:48px;left:10px;z-index:1000;background:#fff;padding:8px 10px;
border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px/1.5 sans-serif;max-width:260px}
.yz-legend i{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:6px;
vertical-align:-1px}
.yz-legend .ss{border:3px solid #000;width:10px;height:10px}
.yz-popup{font:13px/1.5 sans-serif;max-width:260px}
</style>"""


def _legend(title: str, choropleths: Sequence[Choropleth], metric: str | None, note: str) -> str:
    rows = [f"<b>{_escape(title)}</b>"]
    rows += [
        f'<div><i style="background:{c}"></i>{_escape(label)}</div>' for _, c, label in CATEGORIES
    ]
    rows.append(f'<div><i class="ss" style="background:#fff"></i>{SELF_SERVICE_LABEL}</div>')
    shown = next((c for c in choropleths if c.name == metric), None)
    if shown is not None:
        rows.append(f"<div>区县着色：{_escape(shown.title)}（浅→深：低→高）</div>")
    if note:
        rows.append(f"<div>{_escape(note)}</div>")
    return '<div class="yz-legend" id="yz-legend">' + "".join(rows) + "</div>"
