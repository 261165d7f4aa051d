"""Offline Folium maps of many points: canvas markers, coverage areas, a choropleth.

Works with no access to public CDNs: folium's default asset lists are emptied per map and
Leaflet's JS and CSS (from the ``django-js-lib-leaflet`` package, Leaflet 1.9.4) are
inlined, its control images as data URIs. Points are drawn by one script as canvas
circle markers (not one DOM marker each), from compact arrays: 200,000 points stay
usable. Popups are built on click with ``textContent``, and the user text that Leaflet
or folium insert as HTML (district and layer names) is escaped first. The tiles are one of
:mod:`geodata.tiles`' providers; on Amap's (GCJ-02) every drawn point and polygon is
shifted to GCJ-02.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, TypedDict
from urllib.parse import urlencode

import folium
import numpy as np
import numpy.typing as npt
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from geodata.crs import CoordinateSystem, from_wgs84
from geodata.tiles import TILE_PROVIDERS, TileProvider

CHOROPLETH_COLOURS = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")
NO_DATA_COLOUR = "#bbbbbb"


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
class PointLegend:
    """What the points' symbols mean, in the legend and the layer control: ``categories``
    are (key, colour, label) in legend order; ``marked`` labels the points drawn with a
    ring (``MapPoints.self_service``), ``not_in_service`` the hollow ones."""

    categories: tuple[tuple[str, str, str], ...]
    marked: str
    not_in_service: str


@dataclass(frozen=True)
class MapPoints:
    """Points to draw (WGS-84 degrees) with what their popups show.

    ``category`` is one of ``legend.categories``' keys; ``popup`` holds one tuple of text
    fields per point, named by ``popup_fields`` (shown in that order, empty ones left out).
    ``in_service`` is False for points not serving now (planned, temporarily closed):
    they are drawn hollow, in a layer of their own; None means every point serves.
    """

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    category: Sequence[str]
    self_service: npt.NDArray[np.bool_]
    popup: Sequence[Sequence[str]]
    popup_fields: Sequence[str]
    legend: PointLegend
    ids: Sequence[int] = field(default_factory=tuple)
    in_service: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.lon)


@dataclass(frozen=True)
class MapStops:
    """The stops of mobile stations (流动驿站) to draw (WGS-84 degrees), one per stop: its
    name, its hours as written, the vehicle's name; ``standing`` marks the stops where a
    vehicle stands at the map's time (``until``: the text of when it leaves, or "")."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    name: Sequence[str]
    hours_text: Sequence[str]
    vehicle: Sequence[str]
    standing: npt.NDArray[np.bool_]
    until: Sequence[str]
    label: str = "流动驿站停靠点"
    standing_label: str = "流动驿站（此刻所在停靠点）"

    def __len__(self) -> int:
        return len(self.lon)


STOP_COLOUR = "#762a83"  # purple: apart from the 上图 states' green, orange and red

_STOPS_JS = Template(
    """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var data = {{ this.data }};
  var labels = {{ this.labels }};
  var colour = {{ this.colour }};
  var stops = L.featureGroup(), standing = L.featureGroup();
  // Squares would need a DOM marker each; a thick purple ring on white reads apart from
  // the stations' filled discs on the same canvas.
  var styles = {
    stop: {radius: 5, color: colour, weight: 3, fillColor: "#fff", fillOpacity: 1},
    here: {radius: 8, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1}
  };
  function popup(i) {
    var box = document.createElement("div");
    box.className = "yz-popup";
    var rows = [["", data.name[i]], ["流动驿站", data.vehicle[i]], ["停靠时间", data.hours[i]]];
    if (data.here[i]) { rows.push(["此刻在此停靠", data.until[i] ? "至 " + data.until[i] : "是"]); }
    rows.forEach(function (r, j) {
      if (!r[1]) { return; }
      var p = document.createElement(j === 0 ? "b" : "div");
      p.textContent = j === 0 ? r[1] : r[0] + "：" + r[1];
      box.appendChild(p);
    });
    return box;
  }
  for (var i = 0; i < data.lon.length; i++) {
    var m = L.circleMarker([data.lat[i], data.lon[i]], data.here[i] ? styles.here : styles.stop);
    m.yz = i;
    (data.here[i] ? standing : stops).addLayer(m);
  }
  function open(e) {
    L.DomEvent.stop(e);
    L.popup({maxWidth: 320}).setLatLng(e.layer.getLatLng()).setContent(popup(e.layer.yz))
      .openOn(map);
  }
  var control = {{ this.control }};
  var layers = window.yizhanStopLayers = {};
  layers[labels[0]] = stops;
  if (data.here.some(function (h) { return h; })) { layers[labels[1]] = standing; }
  Object.keys(layers).forEach(function (k) {
    layers[k].on("click", open).addTo(map);
    if (control) { control.addOverlay(layers[k], k); }
  });
  window.yizhanStops = {stops: data.lon.length, standing: standing.getLayers().length};
})();
{% endmacro %}
"""
)


@dataclass(frozen=True)
class Choropleth:
    """A district-level metric: values by key (adcode), the legend's title, and how a
    value is written (``fmt``)."""

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
  var labels = {{ this.labels }};
  // The map's own canvas (preferCanvas): one canvas for points and areas, so that the
  // districts under the points still get their hover tooltips.
  function text(j, i) {
    var col = data.text[j];
    return col.i ? col.v[col.i[i]] : col[i];
  }
  function popup(i) {
    var box = document.createElement("div");
    box.className = "yz-popup";
    fields.forEach(function (name, j) {
      var value = text(j, i);
      if (!value) { return; }
      var p = document.createElement(j === 0 ? "b" : "div");
      p.textContent = j === 0 ? value : name + "：" + value;
      box.appendChild(p);
    });
    return box;
  }
  function style(colour, kind) {
    if (kind === "ss") {
      return {radius: 6, color: "#000", weight: 3, fillColor: colour, fillOpacity: 1};
    }
    if (kind === "off") {
      return {radius: 5, color: colour, weight: 2, dashArray: "3 2", fillColor: "#fff",
              fillOpacity: 0.6};
    }
    return {radius: 4, color: "#333", weight: 0.5, fillColor: colour, fillOpacity: 0.9};
  }
  var groups = cats.map(function () { return L.featureGroup(); });
  var selfService = L.featureGroup(), notServing = L.featureGroup();
  var styles = {
    "": cats.map(function (c) { return style(c[1], ""); }),
    ss: cats.map(function (c) { return style(c[1], "ss"); }),
    off: cats.map(function (c) { return style(c[1], "off"); })
  };
  var n = data.lon.length;
  var counts = {stations: n, self_service: 0, not_in_service: 0};
  for (var i = 0; i < n; i++) {
    var c = data.cat[i], ll = [data.lat[i], data.lon[i]], m;
    if (data.off && data.off[i]) {
      m = L.circleMarker(ll, styles.off[c]);
      notServing.addLayer(m);
      counts.not_in_service++;
    } else if (data.ss[i]) {
      m = L.circleMarker(ll, styles.ss[c]);
      selfService.addLayer(m);
      counts.self_service++;
    } else {
      m = L.circleMarker(ll, styles[""][c]);
      groups[c].addLayer(m);
    }
    m.yz = i;
  }
  // One click handler per layer and one popup, built on demand: no popup object per point.
  function open(e) {
    L.DomEvent.stop(e);
    L.popup({maxWidth: 320}).setLatLng(e.layer.getLatLng()).setContent(popup(e.layer.yz))
      .openOn(map);
  }
  var overlays = {};
  cats.forEach(function (c, k) { overlays[c[2]] = groups[k]; });
  overlays[labels[0]] = selfService;
  if (counts.not_in_service) { overlays[labels[1]] = notServing; }
  var control = {{ this.control }};
  Object.keys(overlays).forEach(function (k) {
    overlays[k].on("click", open).addTo(map);
    if (control) { control.addOverlay(overlays[k], k); }
  });
  window.yizhanLayers = overlays;
  window.yizhanMap = map;
  window.yizhanCounts = counts;
  // Ready once the first frame with every layer (the districts all added) has been drawn.
  function whenDistricts(f) { (window.yizhanAfterDistricts || function (g) { g(); })(f); }
  whenDistricts(function () {
    L.Util.requestAnimFrame(function () { window.yizhanReady = true; });
  });
})();
{% endmacro %}
"""
)


@dataclass(frozen=True)
class StationTiles:
    """Where a page fetches the stations as tiles (see :mod:`geodata.cluster_tiles`) when
    they are too many to put in it: ``url`` a template with ``{z}``, ``{x}``, ``{y}``
    (same site), ``query`` the filters sent with each tile (the map adds ``crs``, its
    tiles' system); ``station_url`` one station's record (``{id}``), fetched for its popup;
    ``status_labels`` a status's name in the popup."""

    url: str
    query: Mapping[str, str]
    station_url: str
    status_labels: Mapping[str, str]


@dataclass(frozen=True)
class AreaTiles:
    """Where a page fetches the districts as tiles (see :mod:`geodata.area_tiles`) when
    they are too many to put in it: ``url`` a template with ``{z}``, ``{x}``, ``{y}`` (same
    site), ``query`` sent with each tile (the map adds ``crs``); district outlines are
    drawn from zoom ``lines_from``, below it the provinces' only."""

    url: str
    query: Mapping[str, str]
    lines_from: int = 6


# The tiled layers' work, shared by the stations' and the districts' tiles (each script
# defines it if the other has not): a tile's fetch is started, and its drawing done, a
# frame at a time, each frame running queued jobs until FRAME_MS have gone (at least one),
# so that however many tiles a move asks for no task holds the page long; a tile removed
# (panned away) before its turn is neither fetched nor drawn, its request aborted.
_FRAMES_JS = """
  var frames = window.yizhanFrames = window.yizhanFrames || (function () {
    var FRAME_MS = 6, jobs = [], head = 0, asked = false;
    function run() {
      asked = false;
      var end = performance.now() + FRAME_MS;
      do {
        var job = jobs[head];
        jobs[head++] = null;
        job();
      } while (head < jobs.length && performance.now() < end);
      if (head >= jobs.length) { jobs = []; head = 0; } else { ask(); }
    }
    function ask() { if (!asked) { asked = true; L.Util.requestAnimFrame(run); } }
    function later(job) { jobs.push(job); ask(); }
    // A tile's body (JSON) from url, then draw(body) in a frame of its own, then done.
    function tile(el, url, draw, done) {
      later(function () {
        if (el.yzGone) { return; }
        var abort = window.AbortController ? new AbortController() : null;
        el.yzAbort = abort;
        fetch(url, {credentials: "same-origin", signal: abort && abort.signal})
          .then(function (r) {
            if (!r.ok) { throw new Error("tile " + r.status); }
            return r.json();
          }).then(function (d) {
            later(function () {
              if (el.yzGone) { return; }
              draw(d);
              done(null, el);
            });
          }, function (e) { if (!el.yzGone) { done(e, el); } });
      });
    }
    // A layer's tiles taken off the map stop: not fetched, not drawn.
    function watch(layer) {
      layer.on("tileunload", function (e) {
        e.tile.yzGone = true;
        if (e.tile.yzAbort) { e.tile.yzAbort.abort(); }
      });
      return layer;
    }
    return {later: later, tile: tile, watch: watch};
  })();
"""


_TILES_JS = Template(
    """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var cfg = {{ this.config }};
  var cats = cfg.categories;@FRAMES@
  var SS = 4, OFF = 8, TWO_PI = 2 * Math.PI;
  // Above the areas (overlay pane), below popups; clicks pass through to the map (the
  // districts keep their tooltips) and are matched to the tiles' points here.
  var pane = map.createPane("yz-stations");
  pane.style.zIndex = 450;
  pane.style.pointerEvents = "none";
  function tileUrl(c) {
    return cfg.url.replace("{z}", c.z).replace("{x}", c.x).replace("{y}", c.y) + cfg.query;
  }
  function dot(g, x, y, state) {
    var colour = cats[state & 3][1];
    g.beginPath();
    if (state & OFF) {
      g.arc(x, y, 5, 0, TWO_PI);
      g.fillStyle = "rgba(255,255,255,0.6)"; g.fill();
      g.setLineDash([3, 2]); g.lineWidth = 2; g.strokeStyle = colour; g.stroke();
      g.setLineDash([]);
    } else if (state & SS) {
      g.arc(x, y, 6, 0, TWO_PI);
      g.fillStyle = colour; g.fill();
      g.lineWidth = 3; g.strokeStyle = "#000"; g.stroke();
    } else {
      g.arc(x, y, 4, 0, TWO_PI);
      g.fillStyle = colour; g.fill();
      g.lineWidth = 0.5; g.strokeStyle = "#333"; g.stroke();
    }
  }
  function radius(count) { return Math.min(22, 9 + 2.2 * Math.log2(count)); }
  function bubble(g, c) {
    // Coloured by the 上图 state most of its stations are in; the count written on it.
    var best = 0;
    for (var k = 1; k < cats.length; k++) { if (c[3 + k] > c[3 + best]) { best = k; } }
    // Kept inside its tile (a canvas of its own: a bubble over the edge would be cut).
    var r = radius(c[2]), x = Math.max(r + 1, Math.min(255 - r, c[0]));
    var y = Math.max(r + 1, Math.min(255 - r, c[1]));
    g.beginPath(); g.arc(x, y, r, 0, TWO_PI);
    g.globalAlpha = 0.85; g.fillStyle = cats[best][1]; g.fill(); g.globalAlpha = 1;
    g.lineWidth = 2; g.strokeStyle = "#fff"; g.stroke();
    g.fillStyle = best === 1 ? "#222" : "#fff";
    g.fillText(c[2] >= 10000 ? Math.round(c[2] / 1000) + "k" : String(c[2]), x, y);
  }
  function draw(canvas, d) {
    var g = canvas.getContext("2d"), i;
    g.font = "bold 11px sans-serif"; g.textAlign = "center"; g.textBaseline = "middle";
    var edge = d.e || [];  // the neighbours' points by the edge: drawn whole on both tiles
    for (i = 0; i < edge.length; i++) { dot(g, edge[i][0], edge[i][1], edge[i][2]); }
    for (i = 0; i < d.p.length; i++) { dot(g, d.p[i][0], d.p[i][1], d.p[i][3]); }
    for (i = 0; i < d.c.length; i++) { bubble(g, d.c[i]); }
  }
  var Stations = L.GridLayer.extend({
    createTile: function (c, done) {
      var canvas = L.DomUtil.create("canvas", "yz-tile");
      canvas.width = canvas.height = 256;
      frames.tile(canvas, tileUrl(c), function (d) { canvas.yz = d; draw(canvas, d); }, done);
      return canvas;
    }
  });
  var layer = frames.watch(new Stations({pane: "yz-stations", updateWhenZooming: false,
                                         keepBuffer: 2, maxZoom: cfg.max_zoom}));
  // A click: the nearest point or bubble of the tiles around it, within its radius.
  function hit(e) {
    var z = layer._tileZoom, scale = map.getZoomScale(map.getZoom(), z);
    var p = map.project(e.latlng, z), tx = Math.floor(p.x / 256), ty = Math.floor(p.y / 256);
    var best = null, slack = 4 / scale;
    for (var dx = -1; dx <= 1; dx++) {
      for (var dy = -1; dy <= 1; dy++) {
        var t = layer._tiles[(tx + dx) + ":" + (ty + dy) + ":" + z];
        var d = t && t.el.yz;
        if (!d) { continue; }
        var ox = (tx + dx) * 256, oy = (ty + dy) * 256;
        d.p.forEach(function (q) {
          var far = Math.hypot(ox + q[0] - p.x, oy + q[1] - p.y);
          if (far <= 7 + slack && (!best || far < best.far)) {
            best = {far: far, id: q[2], x: ox + q[0], y: oy + q[1]};
          }
        });
        d.c.forEach(function (q) {
          var far = Math.hypot(ox + q[0] - p.x, oy + q[1] - p.y);
          if (far <= radius(q[2]) + slack && (!best || far < best.far)) {
            best = {far: far, count: q[2], x: ox + q[0], y: oy + q[1]};
          }
        });
      }
    }
    if (!best) { return; }
    var at = map.unproject([best.x, best.y], z);
    if (best.count) {
      map.setView(at, Math.min(z + 2, cfg.max_zoom));
    } else {
      open(best.id, at);
    }
  }
  function row(box, tag, text) {
    var el = document.createElement(tag);
    el.textContent = text;
    box.appendChild(el);
    return el;
  }
  function open(id, at) {
    var box = document.createElement("div");
    box.className = "yz-popup";
    box.setAttribute("data-station", id);
    row(box, "div", "加载中…");
    var popup = L.popup({maxWidth: 320, minWidth: 180}).setLatLng(at).setContent(box)
      .openOn(map);
    fetch(cfg.station_url.replace("{id}", id), {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    }).then(function (s) {
      box.textContent = "";
      row(box, "b", s.name);
      if (s.status !== "active") {
        row(box, "div", "状态：" + (cfg.status_labels[s.status] || s.status));
      }
      if (s.district_name) { row(box, "div", "区县：" + s.district_name); }
      if (s.address) { row(box, "div", "地址：" + s.address); }
      if (s.hours_text || s.hours) { row(box, "div", "开放时间：" + (s.hours_text || s.hours)); }
      if (s.self_service_24h) { row(box, "div", "24小时自助驿站"); }
      // Only a path of this site ("//host" would leave it).
      var link = typeof s.page_url === "string" ? s.page_url : "";
      if (link.charAt(0) === "/" && link.charAt(1) !== "/") {
        var a = row(box, "a", "驿站页面");
        a.href = link;
      }
      popup.update();  // sized again for its new content
    }, function () { box.textContent = "未能加载该驿站，请稍后再试"; popup.update(); });
  }
  map.on("click", hit);
  // Added once the page's scripts have set the first view (yizhanFit): not for the world
  // view the map starts with, whose tiles would hold every station.
  setTimeout(function () { layer.addTo(map); }, 0);
  var overlays = {};
  overlays[cfg.label] = layer;
  var control = {{ this.control }};
  if (control) { control.addOverlay(layer, cfg.label); }
  window.yizhanLayers = overlays;
  window.yizhanTiles = layer;
  window.yizhanMap = map;
  window.yizhanCounts = cfg.counts;
  // Ready once the tiles of the first view are drawn (and painted), the districts all in.
  function whenDistricts(f) { (window.yizhanAfterDistricts || function (g) { g(); })(f); }
  layer.once("load", function () {
    whenDistricts(function () {
      L.Util.requestAnimFrame(function () { window.yizhanReady = true; });
    });
  });
})();
{% endmacro %}
""".replace("@FRAMES@", _FRAMES_JS)
)


class _Tiles(MacroElement):
    """The stations, drawn from tiles of the server (``tiles``) in ``crs``."""

    def __init__(
        self,
        points: MapPoints,
        tiles: StationTiles,
        crs: CoordinateSystem,
        control: folium.LayerControl | None,
        max_zoom: int,
    ) -> None:
        super().__init__()
        self._template = _TILES_JS
        legend = points.legend
        query = {**tiles.query, "crs": crs.value}
        in_service = (
            np.ones(len(points), np.bool_) if points.in_service is None else points.in_service
        )
        ss = np.asarray(points.self_service, np.bool_)
        config = {
            "url": tiles.url,
            "query": "?" + urlencode(query),
            "station_url": tiles.station_url,
            "status_labels": dict(tiles.status_labels),
            "categories": [[k, c, t] for k, c, t in legend.categories],
            # Layer names go into the layer control as HTML (Leaflet sets innerHTML).
            "label": _escape("驿站（数字为该处驿站数，点击放大）"),
            "max_zoom": max_zoom,
            "counts": {
                "stations": len(points),
                "self_service": int((ss & in_service).sum()),
                "not_in_service": int((~in_service).sum()),
            },
        }
        self.config = _json_for_script(config)
        self.control = control.get_name() if control is not None else "null"


class _RawScript(MacroElement):
    """A script element whose data goes into the page as it is, never read as a template."""

    def render(self, **kwargs: Any) -> str:
        # As MacroElement.render, but the script (tens of MB of data at national scale)
        # goes in as raw HTML: wrapped in an Element, branca would compile it as a template.
        script = self._template.module.__dict__["script"](self, kwargs)
        root: Any = self.get_root()
        root.script.add_child(_Raw(lambda: str(script)), name=self.get_name())
        return ""


class _Points(_RawScript):
    """The stations, drawn by one script from compact arrays."""

    def __init__(self, points: MapPoints, control: folium.LayerControl | None) -> None:
        super().__init__()
        self._template = _POINTS_JS
        legend = points.legend
        cat_index = {c[0]: i for i, c in enumerate(legend.categories)}
        payload: dict[str, Any] = {
            "lon": np.round(points.lon, 6).tolist(),
            "lat": np.round(points.lat, 6).tolist(),
            "cat": [cat_index[c] for c in points.category],
            "ss": np.asarray(points.self_service, np.int8).tolist(),
            "text": _text_columns(points.popup, len(points.popup_fields)),
        }
        if points.in_service is not None and not points.in_service.all():
            payload["off"] = (~np.asarray(points.in_service, np.bool_)).astype(np.int8).tolist()
        self.data = _json_for_script(payload)
        self.fields = _json_for_script(list(points.popup_fields))
        # Layer names go into the layer control as HTML (Leaflet sets innerHTML).
        self.categories = _json_for_script([[k, c, _escape(t)] for k, c, t in legend.categories])
        self.labels = _json_for_script([_escape(legend.marked), _escape(legend.not_in_service)])
        self.control = control.get_name() if control is not None else "null"


class _Stops(_RawScript):
    """The mobile stations' stops, drawn by one script (a few hundred at most)."""

    def __init__(self, stops: MapStops, control: folium.LayerControl | None) -> None:
        super().__init__()
        self._template = _STOPS_JS
        self.data = _json_for_script(
            {
                "lon": np.round(stops.lon, 6).tolist(),
                "lat": np.round(stops.lat, 6).tolist(),
                "name": list(stops.name),
                "hours": list(stops.hours_text),
                "vehicle": list(stops.vehicle),
                "here": np.asarray(stops.standing, np.bool_).tolist(),
                "until": list(stops.until),
            }
        )
        self.labels = _json_for_script([_escape(stops.label), _escape(stops.standing_label)])
        self.colour = _json_for_script(STOP_COLOUR)
        self.control = control.get_name() if control is not None else "null"


def _text_columns(rows: Sequence[Sequence[str]], n_fields: int) -> list[Any]:
    """Popup text by field; a field with few distinct values (hours, amenities…) as a
    table of them and an index per point (bench/map.py's 50,000 stations: 12 MB -> 3 MB)."""
    columns: list[Any] = []
    for j in range(n_fields):
        column = [row[j] for row in rows]
        table: dict[str, int] = {}
        codes = [table.setdefault(v, len(table)) for v in column]
        columns.append({"v": list(table), "i": codes} if 2 * len(table) <= len(column) else column)
    return columns


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


def _compact(
    geometry: shapely.Geometry, *, tolerance: float = 1e-4, decimals: int = 5
) -> dict[str, Any]:
    """GeoJSON of an area for drawing: simplified within ``tolerance`` degrees (~10 m),
    coordinates to ``decimals`` (~1 m)."""
    simple = shapely.simplify(geometry, tolerance=tolerance, preserve_topology=False)
    # Rounded, not snapped with set_precision: drawing needs no valid topology.
    return shapely.geometry.mapping(shapely.transform(simple, lambda c: np.round(c, decimals)))


# Areas and district shapes as drawn: within ~30 m (3 px at zoom 14), to ~10 m, unless
# that leaves more than DRAWN_VERTICES vertices (each is objects for the browser to make,
# project at every zoom and collect): then the next coarser tolerance of FILL_TOLERANCES
# that does not (the 2,848 counties of China: 0.871 M vertices -> 54,000 at 0.03°, ~3 km, a
# pixel at zoom 6), to a third of it. Finer at national scale needs the areas as tiles.
FILL_TOLERANCE, FILL_DECIMALS = 3e-4, 4
FILL_TOLERANCES = (FILL_TOLERANCE, 1e-3, 3e-3, 1e-2, 3e-2)
DRAWN_VERTICES = 60_000
# The page adds the districts' shapes about this many vertices at a time (a task each).
SLICE_VERTICES = 8_000


def _drawn_shapes(
    geometries: Sequence[shapely.Geometry],
) -> tuple[list[shapely.Geometry], float, int]:
    """The shapes as drawn, and the tolerance (degrees) and decimals they were drawn with
    (see above)."""
    if not geometries:
        return [], FILL_TOLERANCE, FILL_DECIMALS
    simple = np.asarray(geometries, dtype=object)
    # No step finer than a 20,000th of the extent (the first view is ~1,000 px across):
    # the 2,848 counties are not simplified by 0.3 m and 1 m first, for nothing.
    x0, y0, x1, y1 = shapely.total_bounds(simple)
    span = max(x1 - x0, y1 - y0)
    finest = max([t for t in FILL_TOLERANCES if t <= span / 20_000], default=FILL_TOLERANCE)
    for tolerance in (t for t in FILL_TOLERANCES if t >= finest):
        # Each step simplifies the last one's shapes (a fraction of the vertices): within
        # the sum of the tolerances so far, at most 1.5 times this one. A shape that would
        # vanish keeps the last step's.
        coarser = shapely.simplify(simple, tolerance, preserve_topology=False)
        simple = np.where(shapely.is_empty(coarser), simple, coarser)
        if int(np.sum(shapely.get_num_coordinates(simple))) <= DRAWN_VERTICES:
            break
    decimals = max(0, int(np.ceil(-np.log10(tolerance / 3))))
    # Rounded, not snapped with set_precision: drawing needs no valid topology.
    return list(shapely.transform(simple, lambda c: np.round(c, decimals))), tolerance, decimals


@dataclass(frozen=True)
class _Classes:
    """Up to five quantile classes of a choropleth's values: upper bounds and colours."""

    upper: tuple[float, ...]
    colours: tuple[str, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> _Classes:
        if not values:
            return cls((), ())
        # Quantiles, not equal steps: district figures are skewed (one dense central
        # district would leave every other one in the lightest class).
        upper = np.quantile(np.asarray(values), [0.2, 0.4, 0.6, 0.8, 1.0], method="lower")
        bounds = tuple(sorted({float(u) for u in upper} | {max(values)}))
        picks = [2] if len(bounds) == 1 else np.linspace(0, 4, len(bounds)).round().astype(int)
        return cls(bounds, tuple(CHOROPLETH_COLOURS[int(k)] for k in picks))

    def colour(self, value: float | None) -> str:
        if value is None or not self.upper:
            return NO_DATA_COLOUR
        k = int(np.searchsorted(self.upper, value, side="left"))
        return self.colours[min(k, len(self.colours) - 1)]

    def legend(self, low: float, fmt: str) -> list[tuple[str, str]]:
        """(colour, "from – to") per class, lightest first."""
        rows = []
        for k, (top, colour) in enumerate(zip(self.upper, self.colours, strict=True)):
            bottom = low if k == 0 else self.upper[k - 1]
            a, b = fmt.format(bottom), fmt.format(top)
            rows.append((colour, a if a == b else f"{a} – {b}"))
        return rows


class _MapOptions(TypedDict, total=False):
    """Leaflet options coverage_map gives folium.Map only sometimes (its ``**kwargs``)."""

    fade_animation: bool


def coverage_map(
    points: MapPoints,
    *,
    districts: Sequence[tuple[str, str, shapely.Geometry]],
    choropleths: Sequence[Choropleth] = (),
    metric: str | None = None,
    covered: shapely.Geometry | None = None,
    uncovered: shapely.Geometry | None = None,
    radius_m: float = 1000.0,
    tiles: TileProvider | str = "osm",
    title: str = "工会驿站覆盖图",
    reach: str | None = None,
    credit: str = "",
    note: str = "",
    station_tiles: StationTiles | None = None,
    stops: MapStops | None = None,
    area_tiles: AreaTiles | None = None,
) -> folium.Map:
    """A planner's map: points by category (``points.legend``: e.g. stations by 上图 state,
    24-hour sites ringed), coverage, a choropleth.

    ``districts`` are (key, name, WGS-84 geometry); ``choropleths`` are district metrics,
    one shown at a time (chosen in a control of their own, the legend following it),
    ``metric`` naming the one shown first (None: none). ``covered`` and ``uncovered`` are
    WGS-84 areas within / beyond ``radius_m`` metres of a station. ``tiles`` is a
    :class:`~geodata.tiles.TileProvider` (its key filled in) or the name of one that needs
    no key; every point and area is drawn in the tiles' system (shifted to GCJ-02 on
    Amap's). ``credit`` (plain text, e.g. the boundaries' source) is added to the
    attribution. ``reach`` names the reach in the layers (default ``"{radius_m} 米"``; e.g.
    ``"步行 15 分钟"`` for service areas along a street network).

    The page sets ``window.yizhanReady`` once every layer is drawn, and exposes
    ``yizhanMap``, ``yizhanLayers`` (the stations' layers by name), ``yizhanCounts`` and
    ``yizhanMetrics`` (the district colourings by name) for scripts and tests.

    With ``station_tiles`` the points are not put in the page: they are drawn from those
    tiles (clustered where dense; a click on a point fetches its record for the popup, one
    on a bubble zooms in), positions asked for in the tiles' system; ``points`` then only
    give the counts. ``yizhanReady`` waits for the first view's tiles, ``yizhanTiles`` is
    their layer. With ``area_tiles`` too, the districts are drawn from those tiles
    (``districts``' geometries then only give the first view).

    ``stops`` (mobile stations' stops) are drawn as a layer of their own, purple rings,
    those where a vehicle stands now filled (``yizhanStopLayers``, ``yizhanStops``), in the
    page whether or not the stations come from tiles (there are few).
    """
    provider = _provider(tiles)
    if metric is not None and metric not in {c.name for c in choropleths}:
        msg = f"metric {metric!r} is not one of the choropleths given"
        raise ValueError(msg)
    crs = provider.drawn_in
    lon, lat = points.lon, points.lat
    if crs is not CoordinateSystem.WGS84 and len(lon) and station_tiles is None:
        lon, lat = (np.asarray(v, np.float64) for v in from_wgs84(lon, lat, crs=crs))
    drawn = replace(points, lon=lon, lat=lat)
    geoms = [(k, n, shift_geometry(g, crs)) for k, n, g in districts]
    bounds = shapely.total_bounds([g for _, _, g in geoms]) if geoms else None

    # Fractional zoom: the whole city fills the space the legend and controls leave.
    # Tiled, no tile fades in: each fade is a dozen frames composited (in software on a
    # machine without a GPU) while the next tiles are being drawn.
    fade: _MapOptions = {} if station_tiles is None else {"fade_animation": False}
    m = folium.Map(tiles=None, prefer_canvas=True, zoom_snap=0.25, zoom_delta=0.5, **fade)
    m.default_js = []
    m.default_css = []
    root: Any = m.get_root()  # a branca Figure
    root.header.add_child(_Raw(_leaflet_html), name="leaflet")
    root.header.add_child(Element(_STYLE), name="yizhan_css")
    root.title = title
    _add_tiles(m, provider, credit)

    # One geometry per district for every colouring and the boundaries, simplified for
    # the first view's scale (see _drawing_tolerance); the coverage areas likewise.
    # Tiled, the districts' shapes are not in the page (drawn from area tiles).
    tiled = station_tiles is not None and area_tiles is not None
    shapes: list[shapely.Geometry] = []
    tolerance, decimals = FILL_TOLERANCE, FILL_DECIMALS
    if not tiled:
        shapes, tolerance, decimals = _drawn_shapes([g for _, _, g in geoms])
    shades = [
        _shade([k for k, _, _ in geoms], choropleth, show=choropleth.name == metric)
        for choropleth in choropleths
    ]
    reach = reach or f"{radius_m:.0f} 米"
    areas = _coverage_layers(
        covered, uncovered, crs=crs, reach=reach, tolerance=tolerance, decimals=decimals
    )
    for area in areas:
        area.add_to(m)
    # The control first: the districts' and the stations' scripts add their layers to it.
    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    _Districts(
        geoms,
        shapes,
        shades,
        areas,
        control,
        tiles=area_tiles if tiled else None,
        crs=crs,
        max_zoom=provider.max_zoom,
    ).add_to(m)
    if station_tiles is None:
        _Points(drawn, control).add_to(m)
    else:
        _Tiles(points, station_tiles, crs, control, provider.max_zoom).add_to(m)
    if stops is not None and len(stops):
        slon, slat = stops.lon, stops.lat
        if crs is not CoordinateSystem.WGS84:
            slon, slat = (np.asarray(v, np.float64) for v in from_wgs84(slon, slat, crs=crs))
        _Stops(replace(stops, lon=slon, lat=slat), control).add_to(m)
    _Fit(bounds).add_to(m)
    if station_tiles is not None:
        note = (note + "；" if note else "") + "圆圈中的数字为该处驿站数，点击或放大可见各驿站"
    shown = stops if stops is not None and len(stops) else None
    root.html.add_child(Element(_legend(title, note, points.legend, stops=shown)))
    return m


def _add_tiles(m: folium.Map, provider: TileProvider, credit: str) -> None:
    """The provider's base layer, and any drawn over it (Tianditu's labels)."""
    for k, url in enumerate(provider.urls):
        folium.TileLayer(
            url,
            # Leaflet shows a credit that layers share once.
            attr=_attribution(provider, credit),
            name=provider.label,
            subdomains=provider.subdomains or "abc",
            max_zoom=provider.max_zoom,
            max_native_zoom=provider.max_zoom,
            overlay=k > 0,
            control=k == 0,
        ).add_to(m)


def _coverage_layers(
    covered: shapely.Geometry | None,
    uncovered: shapely.Geometry | None,
    *,
    crs: CoordinateSystem,
    reach: str,
    tolerance: float = 3e-4,
    decimals: int = 4,
) -> list[folium.GeoJson]:
    """The areas within reach (shown) and beyond it (hidden at first), drawn in ``crs``."""
    style = {"fillOpacity": 0.35, "weight": 0}
    layers = []
    if covered is not None and not covered.is_empty:
        layers.append(
            folium.GeoJson(
                _compact(shift_geometry(covered, crs), tolerance=tolerance, decimals=decimals),
                name=f"{reach}内可达",
                style_function=lambda _: {**style, "fillColor": "#1a9850"},
                interactive=False,  # hovering shows the district beneath
            )
        )
    if uncovered is not None and not uncovered.is_empty:
        layers.append(
            folium.GeoJson(
                _compact(shift_geometry(uncovered, crs), tolerance=tolerance, decimals=decimals),
                name=f"{reach}外（未覆盖）",
                style_function=lambda _: {**style, "fillColor": "#d73027", "fillOpacity": 0.25},
                show=False,
                interactive=False,
            )
        )
    return layers


def _provider(tiles: TileProvider | str) -> TileProvider:
    if isinstance(tiles, TileProvider):
        return tiles
    provider = TILE_PROVIDERS.get(tiles)
    if provider is None:
        msg = f"tiles must be one of {', '.join(TILE_PROVIDERS)}, not {tiles!r}"
        raise ValueError(msg)
    if provider.needs_key:
        msg = f"tiles={tiles!r} needs a key ({provider.key_setting}): pass the provider with it"
        raise ValueError(msg)
    return provider


_FIT_JS = Template(
    """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  // A metric scale only (Leaflet's default adds miles).
  L.control.scale({metric: true, imperial: false, maxWidth: 150}).addTo(map);
  var legend = document.getElementById("yz-legend");
  var bounds = {{ this.bounds }};
  // Narrow screens start with the legend and the layer lists folded: they would cover
  // the map. A tap on a list's icon unfolds it (Leaflet's own handler), one on the map
  // folds it again.
  if (map.getSize().x < 700) {
    if (legend) { legend.open = false; }
    var lists = Array.prototype.slice.call(
      map.getContainer().querySelectorAll(".leaflet-control-layers-expanded"));
    function fold() {
      lists.forEach(function (c) { c.classList.remove("leaflet-control-layers-expanded"); });
    }
    fold();
    map.on("click", fold);
  }
  function fit() {
    if (!bounds) { return; }
    // Pad the view by what lies over the map: the legend on the left, the layer controls
    // on the right, so that no district is drawn beneath them.
    var box = map.getContainer().getBoundingClientRect();
    var left = 10, right = 10, top = 10, bottom = 10;
    if (legend && legend.open) {
      left = Math.max(left, legend.getBoundingClientRect().right - box.left + 10);
    }
    var controls = map.getContainer().querySelectorAll(
      ".leaflet-top.leaflet-right .leaflet-control");
    Array.prototype.forEach.call(controls, function (c) {
      var r = c.getBoundingClientRect();
      if (r.width) { right = Math.max(right, box.right - r.left + 10); }
    });
    if (left + right > box.width * 0.7) { left = right = 10; }
    map.fitBounds(bounds, {paddingTopLeft: [left, top], paddingBottomRight: [right, bottom],
                           animate: false});
  }
  fit();
  window.yizhanFit = fit;
})();
{% endmacro %}
"""
)


class _Fit(MacroElement):
    """The scale bar (metres) and the first view: every district, clear of the legend and
    the controls (added last, once they are all on the map)."""

    def __init__(self, bounds: Any) -> None:
        super().__init__()
        self._template = _FIT_JS
        self.bounds = _json_for_script(
            None
            if bounds is None
            else [[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]]
        )


def _attribution(provider: TileProvider, credit: str) -> str:
    text = _escape(provider.attribution)
    if provider.attribution_url:
        text = f'<a href="{_escape(provider.attribution_url)}">{text}</a>'
    return text + (f" | {_escape(credit)}" if credit else "")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


@dataclass(frozen=True)
class _Shade:
    """A colouring of the districts: for each district (in the map's order) its colour's
    position in the palette and its value as written; what the legend shows for it."""

    name: str
    title: str
    rows: list[tuple[str, str]]
    shown: bool
    fill: list[int]
    text: list[str]
    plain: list[str] = field(default_factory=list)


# The colourings' colours: a district's fill is a position in this list.
_PALETTE = (*CHOROPLETH_COLOURS, NO_DATA_COLOUR)


def _shade(keys: Sequence[str], choropleth: Choropleth, *, show: bool) -> _Shade:
    wanted = set(keys)
    values = [v for k, v in choropleth.values.items() if v is not None and k in wanted]
    classes = _Classes.of(values)
    fill, text, plain = [], [], []
    for key in keys:
        value = choropleth.values.get(key)
        fill.append(_PALETTE.index(classes.colour(value)))
        plain.append("无数据" if value is None else choropleth.fmt.format(value))
        # The tooltip is HTML: escaped here (the tiled page's is text: plain).
        text.append(_escape(plain[-1]))
    rows = classes.legend(min(values), choropleth.fmt) if values else []
    if len(values) < len(wanted):
        rows.append((NO_DATA_COLOUR, "无数据"))
    return _Shade(choropleth.name, choropleth.title, rows, show, fill, text, plain)


_DISTRICTS_JS = Template(
    """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  // Each district's shape once: the colourings (one shown at a time) restyle the one
  // layer of fills, the boundaries are the same shapes' outlines.
  var shapes = {{ this.shapes }};
  var shades = {{ this.shades }};
  var palette = {{ this.palette }};
  var areas = [{{ this.areas }}];
  var control = {{ this.control }};
  var tiled = {{ this.tiled }};
  var shown = null;@FRAMES@
  function fillStyle(f) {
    var k = f.properties.k;
    return {fillColor: palette[shown.fill[k]], fillOpacity: 0.55, color: "#444", weight: 0.5};
  }
  if (tiled) { tiledAreas(); return; }
  var fills = L.geoJSON(null, {style: function (f) { return shown ? fillStyle(f) : {}; }});
  fills.bindTooltip(function (l) {
    var k = l.feature.properties.k;
    // HTML: the name and the value are escaped in the page.
    return "<table><tr><th>区县</th><td>" + l.feature.properties.name + "</td></tr><tr><th>" +
      shown.label + "</th><td>" + shown.text[k] + "</td></tr></table>";
  }, {sticky: true});
  // Outlines: hovered on the line only (Leaflet's polygons answer inside too, and would
  // hide the fills' tooltips beneath).
  function onLine(p) { return L.Polyline.prototype._containsPoint.call(this, p, true); }
  var lines = L.geoJSON(null, {
    style: {color: "#555", weight: 1, fill: false},
    onEachFeature: function (f, l) { l._containsPoint = onLine; }
  });
  lines.bindTooltip(function (l) { return l.feature.properties.name; }, {sticky: true});
  if (shapes.features.length) {
    lines.addTo(map);
    if (control) { control.addOverlay(lines, {{ this.lines_label }}); }
  }
  // Areas go under the stations whenever one is switched on (all share one canvas, and
  // the last drawn would take the clicks): top to bottom, each sent to the back.
  function sink() {
    [lines].concat(areas, [fills]).forEach(function (l) {
      if (map.hasLayer(l)) { l.bringToBack(); }
    });
  }
  // The colourings' control and the legend following it; show(s) draws colouring s
  // (null: none), sink() puts the areas back under the stations.
  function colourings(show, sink) {
    var none = L.layerGroup(), base = {}, legend = {};
    shades.forEach(function (s) {
      s.layer = L.layerGroup();  // stands for the colouring in the control
      base[s.label] = s.layer;
      legend[L.stamp(s.layer)] = s;
    });
    base[{{ this.none_label }}] = none;
    var box = document.getElementById("yz-legend-metric");
    function legendOf(s) {
      box.textContent = "";
      if (!s) { return; }
      var head = document.createElement("b");
      head.textContent = "区县着色：" + s.title;
      box.appendChild(head);
      s.rows.forEach(function (r) {
        var row = document.createElement("div"), swatch = document.createElement("i");
        swatch.className = "sq";
        swatch.style.background = r[0];
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(r[1]));
        box.appendChild(row);
      });
    }
    function choose(s) { shown = s; legendOf(s); show(s); }
    var first = shades.filter(function (s) { return s.shown; })[0];
    (first ? first.layer : none).addTo(map);
    if (shades.length) {
      var metrics = L.control.layers(base, null, {collapsed: false}).addTo(map);
      var title = document.createElement("b");
      title.textContent = "区县着色";
      var list = metrics.getContainer().querySelector(".leaflet-control-layers-list");
      list.insertBefore(title, list.firstChild);
      map.on("baselayerchange", function (e) {
        if (e.layer === none || legend[L.stamp(e.layer)]) {
          choose(legend[L.stamp(e.layer)] || null);
          sink();
        }
      });
      if (first) { choose(first); }
    }
    map.on("overlayadd", sink);
    window.yizhanMetrics = base;
  }
  colourings(function (s) {
    if (!s) { map.removeLayer(fills); return; }
    fills.setStyle(fillStyle);
    fills.addTo(map);
  }, sink);
  // The shapes are added a slice at a time, each in a task of its own: thousands of
  // counties at once would hold the page for seconds. The page is ready (yizhanReady) once
  // they are all in (see yizhanAfterDistricts).
  var waiting = [], done = false, next = 0, features = shapes.features;
  window.yizhanAfterDistricts = function (f) { if (done) { f(); } else { waiting.push(f); } };
  function slice() {
    var budget = {{ this.slice_vertices }}, part = [];
    while (next < features.length && budget > 0) {
      part.push(features[next]);
      budget -= features[next].properties.n;
      next++;
    }
    fills.addData(part);
    lines.addData(part);
    if (next < features.length) { setTimeout(slice, 0); return; }
    sink();
    done = true;
    waiting.forEach(function (f) { f(); });
  }
  slice();
  window.yizhanDistricts = {fills: fills, lines: lines};

  // The districts as tiles of the server (geodata.area_tiles): each tile's shapes clipped
  // to it and simplified for its zoom, drawn on a canvas of its own; the colouring shown
  // fills them, the outlines (the provinces' always, the districts' closer in) over them.
  function tiledAreas() {
    var pane = map.createPane("yz-areas");
    pane.style.zIndex = 350;  // under the coverage areas (overlay pane) and the stations
    pane.style.pointerEvents = "none";
    var at = {};
    tiled.keys.forEach(function (key, k) { at[key] = k; });
    var outlines = true;
    function path(rings) {
      var p = new Path2D();
      rings.forEach(function (r) {
        p.moveTo(r[0], r[1]);
        for (var i = 2; i < r.length; i += 2) { p.lineTo(r[i], r[i + 1]); }
        p.closePath();
      });
      return p;
    }
    function paint(canvas) {
      var d = canvas.yz;
      if (!d) { return; }
      var g = canvas.getContext("2d");
      if (!canvas.yzd) {
        canvas.yzd = d.d.map(function (f) { return path(f[2]); });
        canvas.yzb = d.b.map(function (f) { return path(f[2]); });
      }
      g.clearRect(0, 0, 256, 256);
      if (shown) {
        g.lineWidth = 0.5;  // the fill's own colour over its edge: no seam between two
        canvas.yzd.forEach(function (p, i) {
          var k = at[d.d[i][0]];
          if (k === undefined) { return; }
          g.globalAlpha = 0.55;
          g.fillStyle = g.strokeStyle = palette[shown.fill[k]];
          g.fill(p, "evenodd");
          g.stroke(p);
        });
        g.globalAlpha = 1;
      }
      if (!outlines) { return; }
      if (d.z >= tiled.lines_from || !canvas.yzb.length) {
        g.strokeStyle = "#555"; g.lineWidth = 1;
        canvas.yzd.forEach(function (p) { g.stroke(p); });
      }
      g.strokeStyle = "#333"; g.lineWidth = d.z >= tiled.lines_from ? 2 : 1.2;
      canvas.yzb.forEach(function (p) { g.stroke(p); });
    }
    var Areas = L.GridLayer.extend({
      createTile: function (c, done) {
        var canvas = L.DomUtil.create("canvas", "yz-area-tile");
        canvas.width = canvas.height = 256;
        var url = tiled.url.replace("{z}", c.z).replace("{x}", c.x).replace("{y}", c.y);
        frames.tile(canvas, url + tiled.query, function (d) { canvas.yz = d; paint(canvas); },
                    done);
        return canvas;
      }
    });
    var layer = frames.watch(new Areas({pane: "yz-areas", updateWhenZooming: false,
                                        keepBuffer: 2, maxZoom: tiled.max_zoom}));
    // Repainted a tile a frame's share at a time (the tiles in view first), once however
    // often asked before its turn.
    function repaint() {
      var tiles = layer._tiles || {};  // none before the layer is on the map
      var z = layer._tileZoom, centre = z === undefined ? null
        : map.project(map.getCenter(), z).divideBy(256);
      Object.keys(tiles).map(function (k) { return tiles[k]; }).sort(function (a, b) {
        return far(a.coords) - far(b.coords);
      }).forEach(function (t) {
        var el = t.el;
        if (el.yzDirty || !el.yz) { return; }
        el.yzDirty = true;
        frames.later(function () { el.yzDirty = false; if (!el.yzGone) { paint(el); } });
      });
      function far(c) {
        if (c.z !== z || !centre) { return Infinity; }
        return Math.abs(c.x + 0.5 - centre.x) + Math.abs(c.y + 0.5 - centre.y);
      }
    }
    // The outlines' entry in the layer control: a switch repainting the tiles.
    var lines = L.layerGroup();
    lines.on("add", function () { outlines = true; repaint(); });
    lines.on("remove", function () { outlines = false; repaint(); });
    lines.addTo(map);
    if (control) { control.addOverlay(lines, {{ this.lines_label }}); }
    colourings(repaint, function () {});
    // Hovering: the district under the pointer, its name and the colouring's value.
    var tip = L.tooltip({sticky: true, direction: "top", offset: [0, -8]});
    var pending = null;
    function hover() {
      var e = pending, z = layer._tileZoom;
      pending = null;
      if (z === undefined) { return; }
      var p = map.project(e.latlng, z), tx = Math.floor(p.x / 256), ty = Math.floor(p.y / 256);
      var t = layer._tiles[tx + ":" + ty + ":" + z], el = t && t.el, found = -1;
      if (el && el.yzd) {
        var g = el.getContext("2d"), x = p.x - tx * 256, y = p.y - ty * 256;
        for (var i = 0; i < el.yzd.length && found < 0; i++) {
          if (g.isPointInPath(el.yzd[i], x, y, "evenodd")) { found = i; }
        }
      }
      if (found < 0) { map.closeTooltip(tip); return; }
      var f = el.yz.d[found], k = at[f[0]], box = document.createElement("div");
      var name = document.createElement("b");
      name.textContent = f[1];
      box.appendChild(name);
      if (shown && k !== undefined) {
        var value = document.createElement("div");
        value.textContent = shown.title + "：" + shown.plain[k];
        box.appendChild(value);
      }
      tip.setLatLng(e.latlng).setContent(box);
      if (!map.hasLayer(tip)) { map.openTooltip(tip); }
    }
    map.on("mousemove", function (e) {
      if (!pending) { L.Util.requestAnimFrame(hover); }
      pending = e;
    });
    map.on("mouseout movestart zoomstart", function () { map.closeTooltip(tip); });
    var waiting = [], done = false;
    window.yizhanAfterDistricts = function (f) { if (done) { f(); } else { waiting.push(f); } };
    layer.once("load", function () {
      done = true;
      waiting.forEach(function (f) { f(); });
    });
    // Added once the first view is set (yizhanFit), as the stations' tiles.
    setTimeout(function () { layer.addTo(map); }, 0);
    window.yizhanDistricts = {
      tiles: layer,
      lines: lines,
      // The colour a district is filled with now (null: not coloured), for scripts.
      colourOf: function (key) {
        return shown && at[key] !== undefined ? palette[shown.fill[at[key]]] : null;
      }
    };
  }
})();
{% endmacro %}
""".replace("@FRAMES@", _FRAMES_JS)
)


class _Districts(MacroElement):
    """The districts drawn once (``geoms``' names, ``simple`` their shapes as drawn, in the
    map's system): their outlines
    (an overlay of ``control``), their fills restyled by the colouring chosen in a control
    of its own (``shades``, the legend following it); the areas kept under the stations.
    With ``tiles`` (and no ``simple`` shapes) they are drawn from the server's area tiles
    in ``crs``, on a canvas per tile, instead."""

    def __init__(
        self,
        geoms: Sequence[tuple[str, str, shapely.Geometry]],
        simple: Sequence[shapely.Geometry],
        shades: Sequence[_Shade],
        areas: Sequence[folium.GeoJson],
        control: folium.LayerControl | None,
        *,
        tiles: AreaTiles | None = None,
        crs: CoordinateSystem = CoordinateSystem.WGS84,
        max_zoom: int = 18,
    ) -> None:
        super().__init__()
        self._template = _DISTRICTS_JS
        self.tiled = _json_for_script(
            None
            if tiles is None
            else {
                "url": tiles.url,
                "query": "?" + urlencode({**tiles.query, "crs": crs.value}),
                "keys": [k for k, _, _ in geoms],
                "lines_from": tiles.lines_from,
                "max_zoom": max_zoom,
            }
        )
        shapes = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    # The tooltips are HTML: the name escaped.
                    "properties": {
                        "k": k,
                        "name": _escape(name),
                        "n": int(shapely.get_num_coordinates(g)),
                    },
                    "geometry": shapely.geometry.mapping(g),
                }
                # Tiled: no shape in the page.
                for k, ((_, name, _), g) in enumerate(zip(geoms, simple, strict=tiles is None))
            ],
        }
        self.shapes = _json_for_script(shapes)
        self.shades = _json_for_script(
            [
                # label: HTML in the control and the tooltip; title and rows: text in the
                # legend.
                {
                    "label": _escape(s.title),
                    "title": s.title,
                    "rows": s.rows,
                    "shown": s.shown,
                    "fill": s.fill,
                    # The tiled page's tooltip is text, the other's HTML (escaped).
                    **({"text": s.text} if tiles is None else {"plain": s.plain}),
                }
                for s in shades
            ]
        )
        self.palette = _json_for_script(list(_PALETTE))
        self.areas = ", ".join(a.get_name() for a in reversed(areas))
        self.control = control.get_name() if control is not None else "null"
        self.none_label = _json_for_script("不着色")
        self.lines_label = _json_for_script("区县边界")
        self.slice_vertices = SLICE_VERTICES

    def render(self, **kwargs: Any) -> str:
        # The shapes (MB at national scale) go in as raw HTML, not compiled as a template.
        script = self._template.module.__dict__["script"](self, kwargs)
        root: Any = self.get_root()
        root.script.add_child(_Raw(lambda: str(script)), name=self.get_name())
        return ""


_STYLE = """<style>
.yz-legend{position:fixed;bottom:36px;left:10px;z-index:1100;background:#fff;padding:6px 10px;
border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px/1.5 sans-serif;max-width:240px;
max-height:calc(100vh - 60px);overflow:auto}
.yz-legend summary{cursor:pointer;font-weight:600;min-height:24px}
@media (max-width:699px){.yz-legend{bottom:auto;top:96px;max-height:calc(100vh - 140px)}
.leaflet-control-attribution{max-width:calc(100vw - 120px);font-size:11px}}
.yz-legend[open] summary{margin-bottom:2px}
.yz-legend i{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:6px;
vertical-align:-1px}
.yz-legend i.sq{border-radius:2px;border:1px solid #888;width:10px;height:10px}
.yz-legend .ss{border:3px solid #000;width:10px;height:10px}
.yz-legend .off{border:2px dashed #555;width:10px;height:10px}
.yz-legend .stop{border:3px solid #762a83;background:#fff;width:8px;height:8px}
.yz-legend .here{background:#762a83;border:2px solid #fff;box-shadow:0 0 0 1px #762a83}
.yz-legend #yz-legend-metric:not(:empty){margin-top:4px;border-top:1px solid #ddd;padding-top:4px}
.yz-popup{font:13px/1.5 sans-serif;max-width:300px}
.leaflet-control-layers-list>b{display:block;margin-bottom:2px}
</style>"""


def _legend(title: str, note: str, legend: PointLegend, *, stops: MapStops | None = None) -> str:
    rows = [f"<b>{_escape(title)}</b>"]
    rows += [
        f'<div><i style="background:{c}"></i>{_escape(label)}</div>'
        for _, c, label in legend.categories
    ]
    rows.append(f'<div><i class="ss" style="background:#fff"></i>{_escape(legend.marked)}</div>')
    off = _escape(legend.not_in_service)
    rows.append(f'<div><i class="off" style="background:#fff"></i>{off}</div>')
    if stops is not None:
        rows.append(f'<div><i class="stop"></i>{_escape(stops.label)}</div>')
        if stops.standing.any():
            rows.append(f'<div><i class="here"></i>{_escape(stops.standing_label)}</div>')
    if note:
        rows.append(f"<div>{_escape(note)}</div>")
    rows.append('<div id="yz-legend-metric"></div>')
    # A <details>: one tap folds it away (it starts folded on narrow screens).
    return (
        '<details class="yz-legend" id="yz-legend" open><summary>图例</summary>'
        + "".join(rows)
        + "</details>"
    )
