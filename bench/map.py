"""Benchmark the planners' coverage map at 5k, 50k and 200k stations.

For each size: generation time (StationIndex to HTML text), HTML size (and gzipped, as
the route sends it), and the time until the page is interactive in headless Debian
Chromium (from navigation to our map's ``window.yizhanReady``, set at the first frame
drawn with every layer on the map). The reference, on the same 5k and 50k points in the
same run, is plain folium: one ``Marker`` with a popup per station in a
``MarkerCluster``, with Leaflet and markercluster inlined from the installed packages
(this machine has no CDN), timed until the first frame with the cluster layer on the map.
Ratios are ours / reference (lower is better). Coverage is computed over Chongqing's 38
districts; the stations are spread over China as a national registry is.

``--national``: the served map of a national registry (186,000 stations by default, in a
SQLite registry kept in ``--workdir`` between runs), drawn from the station tiles
(``/tiles/stations/{z}/{x}/{y}.json``) by a real ``uvicorn`` worker. Measured: the page's
first drawing (server side) and weight (gzipped, as sent); in Chromium, time to
``window.yizhanReady`` (goal < 3 s); each pan or zoom until the tiles it needs are drawn
(the whole country at z5, pans, Chongqing at z8, z11, z14); long tasks (a
PerformanceObserver's ``longtask``: count and longest; "no stalls" = none over 200 ms); the
tiles' encode time per zoom (in-process, the same registry, the tiles the browser asked
for). Reference of the same run: today's inlined page (``station_map`` without tiles) of
the same stations, as a file. ``--counties``: the 2,848 counties of China as the districts
(coverage of the whole country is over its budget: the map draws the counties and their
colourings without it); ``--database``: serve that registry (``yizhan demo --national``).
The same tiles are then timed as Mapbox Vector Tiles (``.mvt``) against JSON in the same
run (ratio MVT / JSON, processor time). ``--tiles``: only that, in-process, without a
browser or a server, on the tiles of 40 stations per zoom from 2 to 16.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import math
import os
import re
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from _common import (  # puts this checkout first on sys.path
    ROOT,
    Server,
    build_registry,
    china_points,
    free_port,
    make_stations,
    python,
    running,
)

from tests.browser import PageLog, block_external, chromium


def ours(n: int, seed: int, out: Path) -> tuple[float, int]:
    from geodata.districts import chongqing_districts
    from stations.readmodel.index import StationIndex
    from stations.services.maps import station_map

    lon, lat = china_points(n, np.random.default_rng(seed))
    index = StationIndex(make_stations(lon.tolist(), lat.tolist(), seed=seed + 1), version=1)
    districts = chongqing_districts()
    start = time.perf_counter()
    html = station_map(index, districts).get_root().render()
    took = time.perf_counter() - start
    out.write_text(html, encoding="utf-8")
    return took, len(html.encode())


def reference(n: int, seed: int, out: Path) -> tuple[float, int]:
    import folium
    from folium.plugins import MarkerCluster
    from xstatic.pkg import jquery, leaflet_markercluster

    from geodata.maps import _leaflet_assets, _script, leaflet_file

    lon, lat = china_points(n, np.random.default_rng(seed))
    start = time.perf_counter()
    m = folium.Map(location=[29.56, 106.55], zoom_start=6)
    cluster = MarkerCluster().add_to(m)
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        folium.Marker([y, x], popup=folium.Popup(f"基准工会驿站{i + 1}号")).add_to(cluster)
    html = m.get_root().render()
    took = time.perf_counter() - start
    # Offline: Leaflet, markercluster and jQuery (folium's popups use it) inlined;
    # Bootstrap and awesome-markers dropped (plain markers need neither). Not timed.
    js, css = _leaflet_assets()
    base = Path(leaflet_markercluster.BASE_DIR)
    mc_js = (base / "leaflet.markercluster.js").read_text(encoding="utf-8")
    mc_css = "".join(
        (base / f).read_text(encoding="utf-8")
        for f in ("MarkerCluster.css", "MarkerCluster.Default.css")
    )
    html = re.sub(r'<script src="https?://[^"]+"></script>', "", html)
    html = re.sub(r'<link rel="stylesheet" href="https?://[^"]+"/>', "", html)
    jq = (Path(jquery.BASE_DIR) / "jquery.min.js").read_text(encoding="utf-8")
    html = html.replace(
        "<head>",
        f"<head><style>{css}{mc_css}</style>{_script(js)}{_script(mc_js)}{_script(jq)}",
        1,
    )
    # Leaflet finds its marker images through its CSS, where they are data URIs now:
    # point the default icon at them directly (else the page logs two missing files).
    icons = {
        key: "data:image/png;base64," + base64.b64encode(leaflet_file(f"images/{f}")).decode()
        for key, f in (
            ("iconUrl", "marker-icon.png"),
            ("iconRetinaUrl", "marker-icon-2x.png"),
            ("shadowUrl", "marker-shadow.png"),
        )
    }
    icon_js = f"L.Icon.Default.imagePath = ''; L.Icon.Default.mergeOptions({json.dumps(icons)});"
    html = html.replace(f"{_script(mc_js)}", f"{_script(mc_js)}{_script(icon_js)}", 1)
    marker = cluster.get_name()
    ready = f"L.Util.requestAnimFrame(function () {{ window.yizhanReady = !!{marker}; }});"
    html = html.replace("</html>", f"<script>{ready}</script></html>")
    out.write_text(html, encoding="utf-8")
    return took, len(html.encode())


def load_s(browser: Any, page_file: Path, timeout_s: float = 120) -> tuple[float, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = PageLog()
    block_external(page, log)
    start = time.perf_counter()
    page.goto(page_file.as_uri(), timeout=timeout_s * 1000)
    page.wait_for_function("window.yizhanReady === true", timeout=timeout_s * 1000)
    took = time.perf_counter() - start
    page.close()
    return took, log.errors


# Moves after the page is ready: (what, JS on ``map``). Chongqing's centre for the zooms.
MOVES = (
    ("China z5", "map.setView([35, 105], 5, {animate: false})"),
    ("pan east", "map.panBy([600, 0], {animate: false})"),
    ("pan south", "map.panBy([0, 400], {animate: false})"),
    ("Chongqing z8", "map.setView([29.56, 106.55], 8, {animate: false})"),
    ("z11", "map.setView([29.56, 106.55], 11, {animate: false})"),
    ("z14", "map.setView([29.56, 106.55], 14, {animate: false})"),
    ("pan", "map.panBy([500, 300], {animate: false})"),
)
LONG_TASKS = """
window.yzLongTasks = [];
try {
  new PerformanceObserver(function (l) {
    l.getEntries().forEach(function (e) { window.yzLongTasks.push(e.duration); });
  }).observe({entryTypes: ["longtask"]});
} catch (e) {}
"""
STALL_MS = 200
TILE_PATH = re.compile(r"/tiles/stations/(\d+)/(\d+)/(\d+)\.json")
AREA_PATH = re.compile(r"/tiles/districts/(\d+)/(\d+)/(\d+)\.json")
# Run ``move`` (JS on ``map``) and wait until every tiled layer (the stations', and the
# districts' when the page draws them from tiles) has drawn the tiles it needs.
WHEN_DRAWN = """move => new Promise(res => {
  const map = window.yizhanMap;
  const layers = [window.yizhanTiles, (window.yizhanDistricts || {}).tiles].filter(l => l);
  let left = layers.length;
  const one = () => { if (--left <= 0) { res(); } };
  setTimeout(res, 20000);
  eval(move);
  layers.forEach(l => { if (l.isLoading()) { l.once('load', one); } else { one(); } });
})"""
# What the page fetched from our server: bytes as sent (gzipped where it was), by kind.
WEIGHT = """() => {
  const own = e => e.name.startsWith(location.origin);
  const nav = performance.getEntriesByType('navigation')[0];
  const out = {page: nav.transferSize, stations: 0, districts: 0, other: 0};
  performance.getEntriesByType('resource').filter(own).forEach(e => {
    const k = e.name.includes('/tiles/stations/') ? 'stations'
      : e.name.includes('/tiles/districts/') ? 'districts' : 'other';
    out[k] += e.transferSize;
  });
  return out;
}"""


def served_page(server: Server) -> tuple[float, bytes]:
    """The map page as a browser gets it (gzipped), and how long its first drawing took."""
    start = time.perf_counter()
    request = urllib.request.Request(
        server.base + "/maps/coverage", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=600) as r:
        sent = r.read()
    return time.perf_counter() - start, sent


def browse(browser: Any, server: Server, run: int) -> dict[str, Any]:
    """One planner's session: load, then MOVES; prints the figures; returns them (``load``
    s, ``load_longest`` and ``move_longest`` ms, ``weight`` kB on load) and the tile URLs
    asked for (``tiles``)."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    log = PageLog()
    block_external(page, log)
    page.add_init_script(LONG_TASKS)
    start = time.perf_counter()
    page.goto(server.base + "/maps/coverage", timeout=120_000)
    page.wait_for_function("() => window.yizhanReady === true", timeout=120_000)
    load = time.perf_counter() - start
    on_load = page.evaluate("() => window.yzLongTasks.slice()")
    weight = page.evaluate(WEIGHT)
    moves = []
    for _, move in MOVES:
        start = time.perf_counter()
        page.evaluate(WHEN_DRAWN, move)
        moves.append(time.perf_counter() - start)
    long_ms = page.evaluate("() => window.yzLongTasks")
    in_moves = long_ms[len(on_load) :]
    tiles = page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(u => u.includes('/tiles/'))"
    )
    page.close()
    stalls = sum(1 for t in long_ms if t > STALL_MS)
    load_stalls = sum(1 for t in on_load if t > STALL_MS)
    errors = f"  console errors: {log.errors[:3]}" if log.errors else ""
    print(
        f"run {run}: ready in {load:.2f} s; moves until drawn (s): "
        + " ".join(f"{m:.2f}" for m in moves)
        + f"; long tasks {len(long_ms)}, longest {max(long_ms, default=0):.0f} ms, "
        f"over {STALL_MS} ms: {stalls} (until ready: {len(on_load)}, longest "
        f"{max(on_load, default=0):.0f} ms, over {STALL_MS} ms: {load_stalls}; while moving: "
        f"{len(in_moves)}, longest {max(in_moves, default=0):.0f} ms); "
        f"{len(tiles)} tiles; on load sent {sum(weight.values()) / 1e3:.0f} kB (page "
        f"{weight['page'] / 1e3:.0f}, station tiles {weight['stations'] / 1e3:.0f}, district "
        f"tiles {weight['districts'] / 1e3:.0f}, other {weight['other'] / 1e3:.0f}){errors}",
        flush=True,
    )
    return {
        "load": load,
        "load_longest": max(on_load, default=0),
        "move_longest": max(in_moves, default=0),
        "weight": sum(weight.values()) / 1e3,
        "tiles": tiles,
    }


def area_times(server: Server, urls: list[str]) -> None:
    """Each district tile's time as served (the copies of each zoom made on the first
    run's tiles, kept for these), by zoom."""
    by_zoom: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for url in dict.fromkeys(urls):
        match = AREA_PATH.search(urllib.parse.urlsplit(url).path)
        if match is None:
            continue
        z = int(match.group(1))
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as r:
            sent = len(r.read())
        by_zoom[z].append((time.perf_counter() - start, sent))
    print_by_zoom(by_zoom, "districts ", "served", "gzipped")


def print_by_zoom(
    by_zoom: dict[int, list[tuple[float, int]]], label: str, took_as: str, size_as: str
) -> None:
    """Per zoom: how many tiles, the median and longest time, the median and largest body."""
    for z in sorted(by_zoom):
        took = [t * 1e3 for t, _ in by_zoom[z]]
        size = [b / 1e3 for _, b in by_zoom[z]]
        print(
            f"  {label}z{z:<2} {len(took):4} tiles: {took_as} median "
            f"{statistics.median(took):6.2f} ms, max {max(took):6.2f} ms; {size_as} median "
            f"{statistics.median(size):5.1f} kB, max {max(size):5.1f} kB"
        )


def warm_areas(server: Server) -> None:
    """Ask for one district tile of each zoom the copies are made for (as the warm start
    does), timing the first making of each."""
    from geodata.area_tiles import EXACT_FROM, LEVELS

    made = []
    for z in (*LEVELS, EXACT_FROM):
        start = time.perf_counter()
        with urllib.request.urlopen(f"{server.base}/tiles/districts/{z}/0/0.json", timeout=600):
            pass
        made.append(f"z{z} {time.perf_counter() - start:.1f} s")
    print("district tiles, each zoom's copy made (first tile): " + ", ".join(made))


def encode_times(index: Any, urls: list[str]) -> None:
    """Each tile's encode time (station_tile + JSON), in-process, by zoom."""
    from geodata.crs import CoordinateSystem
    from stations.services.maps import TileFilters, station_tile

    by_zoom: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for url in dict.fromkeys(urls):
        match = TILE_PATH.search(urllib.parse.urlsplit(url).path)
        if match is None:
            continue
        z, x, y = (int(v) for v in match.groups())
        start = time.perf_counter()
        body = json.dumps(station_tile(index, z, x, y, TileFilters(), CoordinateSystem.WGS84))
        by_zoom[z].append((time.perf_counter() - start, len(body)))
    print_by_zoom(by_zoom, "", "encode", "body")


def vector_tile_times(index: Any, tiles: list[tuple[int, int, int]], *, runs: int) -> None:
    """The same tiles as JSON (``station_tile`` + orjson, as the route sends it) and as
    MVT (``station_vector_tile``, which builds the same body first): processor time per
    tile, by zoom, each tile the best of 3 in a run; the ratio MVT / JSON of the zoom's
    total, median of ``runs`` runs; the bodies' size (gzipped as the routes send them)."""
    import orjson

    from geodata.crs import CoordinateSystem
    from stations.services.maps import TileFilters, station_tile
    from stations.services.vector_tiles import station_vector_tile

    wgs84, every = CoordinateSystem.WGS84, TileFilters()

    def as_json(z: int, x: int, y: int) -> bytes:
        return orjson.dumps(station_tile(index, z, x, y, every, wgs84))

    def as_mvt(z: int, x: int, y: int) -> bytes:
        return station_vector_tile(index, z, x, y, every, wgs84)

    as_json(0, 0, 0), as_mvt(0, 0, 0)  # the snapshot's sorted points and masks, made once
    by_zoom: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for tile in dict.fromkeys(tiles):
        by_zoom[tile[0]].append(tile)
    ratios: dict[int, list[float]] = defaultdict(list)
    totals: dict[int, list[tuple[float, float]]] = defaultdict(list)
    slowest: dict[int, list[float]] = defaultdict(list)
    for _ in range(runs):
        for z, chosen in sorted(by_zoom.items()):
            spent = {}
            for name, encode in (("json", as_json), ("mvt", as_mvt)):
                total = 0.0
                for tile in chosen:
                    best = math.inf
                    for _ in range(3):
                        start = time.process_time()
                        encode(*tile)
                        best = min(best, time.process_time() - start)
                    total += best
                    if name == "mvt":
                        slowest[z].append(best)
                spent[name] = total
            ratios[z].append(spent["mvt"] / spent["json"])
            totals[z].append((spent["json"] / len(chosen), spent["mvt"] / len(chosen)))
    print(f"station tiles, .mvt vs .json encode (processor time), median of {runs} runs:")
    for z, chosen in sorted(by_zoom.items()):
        json_ms = statistics.median(t[0] for t in totals[z]) * 1e3
        mvt_ms = statistics.median(t[1] for t in totals[z]) * 1e3
        sizes = [
            (
                len(gzip.compress(as_json(*t), 6, mtime=0)),
                len(gzip.compress(as_mvt(*t), 6, mtime=0)),
            )
            for t in chosen
        ]
        features = statistics.median(
            len(b["p"]) + len(b["c"]) + len(b.get("e", []))
            for b in (station_tile(index, *t, every, wgs84) for t in chosen)
        )
        print(
            f"  z{z:<2} {len(chosen):3} tiles (median {features:5.0f} points + clusters): json "
            f"{json_ms:6.2f} ms, mvt {mvt_ms:6.2f} ms a tile (slowest {max(slowest[z]) * 1e3:5.1f}"
            f" ms); mvt/json "
            f"{statistics.median(ratios[z]):5.2f} (runs: "
            + " ".join(f"{r:.2f}" for r in ratios[z])
            + f"); gzipped median json {statistics.median(a for a, _ in sizes) / 1e3:5.1f} kB, "
            f"mvt {statistics.median(b for _, b in sizes) / 1e3:5.1f} kB"
        )


def _tile_matches(urls: list[str]) -> list[re.Match[str]]:
    found = (TILE_PATH.search(urllib.parse.urlsplit(u).path) for u in dict.fromkeys(urls))
    return [m for m in found if m is not None]


def tiles_of(lon: Any, lat: Any, zooms: tuple[int, ...], per_zoom: int) -> list[tuple[int, ...]]:
    """The tiles holding the first ``per_zoom`` points, at each of ``zooms`` (the points are
    in random order: dense tiles as often as the stations are in them)."""
    from geodata.cluster_tiles import mercator

    u, v = mercator(lon[:per_zoom], lat[:per_zoom])
    return [(z, int(a * 2**z), int(b * 2**z)) for z in zooms for a, b in zip(u, v, strict=True)]


def tiles_only(args: argparse.Namespace) -> None:
    """``--tiles``: the station tiles' encode times, JSON vs MVT, in-process."""
    from stations.readmodel.index import StationIndex

    n = args.national_n
    lon, lat = china_points(n, np.random.default_rng(args.seed))
    start = time.perf_counter()
    index = StationIndex(make_stations(lon.tolist(), lat.tolist(), seed=args.seed + 1), version=1)
    print(f"{n:,} stations over China, indexed in {time.perf_counter() - start:.1f} s")
    tiles = tiles_of(lon, lat, (2, 4, 6, 8, 10, 12, 14, 16), per_zoom=40)
    vector_tile_times(index, tiles, runs=args.runs)


def national(args: argparse.Namespace) -> None:
    """The served, tiled national map (see the module's docstring)."""
    from geodata.districts import china_counties, chongqing_districts
    from stations.readmodel.index import StationIndex
    from stations.services.maps import station_map

    n, workdir = args.national_n, Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = Path(args.database) if args.database else build_registry(workdir, n=n, seed=args.seed)
    port = free_port()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "YIZHAN_DATABASE_URL": f"sqlite:///{db.resolve()}",
        # This checkout's code in the server too (the venv's editable install may be another's).
        "PYTHONPATH": str(ROOT),
    }
    if args.counties:
        env["YIZHAN_DISTRICTS_SOURCE"] = "china"
    argv = [python(), "-m", "uvicorn", "--factory", "api.app:create_app", "--workers", "1"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    server = Server("ours", argv, port=port, env=env)
    runs: list[dict[str, Any]] = []
    with running([server]), chromium() as browser:
        server.start(workdir / "server.log")
        print(f"server ready after {server.wait_ready('/healthz', timeout_s=900):.1f} s")
        first, sent = served_page(server)
        html_kb = len(gzip.decompress(sent)) / 1e3 if sent[:2] == b"\x1f\x8b" else len(sent) / 1e3
        print(
            f"tiled page: {n:,} stations, first drawing {first:.2f} s (server side), "
            f"{html_kb:,.0f} kB ({len(sent) / 1e3:,.0f} kB as sent, gzipped)"
        )
        warm_areas(server)
        for run in range(args.runs):
            runs.append(browse(browser, server, run))
        urls = [u for r in runs for u in r["tiles"]]
        area_times(server, urls)
    lon, lat = china_points(n, np.random.default_rng(args.seed))
    index = StationIndex(make_stations(lon.tolist(), lat.tolist(), seed=args.seed + 1), version=1)
    encode_times(index, urls)
    vector_tile_times(
        index, [tuple(int(v) for v in m.groups()) for m in _tile_matches(urls)], runs=1
    )
    # The reference: today's page, every station inlined, the same stations, as a file.
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-map-") as tmp, chromium() as browser:
        out = Path(tmp) / "inlined.html"
        start = time.perf_counter()
        districts = china_counties() if args.counties else chongqing_districts()
        out.write_text(station_map(index, districts).get_root().render())
        gen = time.perf_counter() - start
        packed = len(gzip.compress(out.read_bytes(), compresslevel=6, mtime=0))
        ref_load, _ = load_s(browser, out)
        html_mb = out.stat().st_size / 1e6
    print(
        f"reference (inlined, {n:,}): generation {gen:.2f} s, HTML "
        f"{html_mb:.1f} MB ({packed / 1e6:.1f} MB gzipped), "
        f"interactive in {ref_load:.2f} s"
    )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    load, longest = median("load"), max(median("load_longest"), median("move_longest"))
    print(
        f"\nmedian of {len(runs)} runs: ready {load:.2f} s, longest task on load "
        f"{median('load_longest'):.0f} ms, while moving {median('move_longest'):.0f} ms, "
        f"sent on load {median('weight'):.0f} kB"
    )
    print(
        f"ready ours/reference: {load / ref_load:.2f} ({load:.2f} s vs {ref_load:.2f} s); "
        f"gzipped page ours/reference: {len(sent) / packed:.3f}"
    )
    ok = load < 3 and longest <= STALL_MS
    print(
        f"goal: the national map ready in < 3 s, no task over {STALL_MS} ms on load or "
        f"moving: {'ok' if ok else 'NOT MET'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000, 200_000])
    parser.add_argument("--reference-sizes", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--seed", type=int, default=20250312)
    parser.add_argument("--national", action="store_true", help="the served, tiled map")
    parser.add_argument("--national-n", type=int, default=186_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--counties",
        action="store_true",
        help="with --national: the 2,848 counties of China as the districts (served with "
        "YIZHAN_DISTRICTS_SOURCE=china), not Chongqing's 38",
    )
    parser.add_argument(
        "--database",
        help="with --national: serve this SQLite registry (e.g. yizhan demo --national's) "
        "instead of the bench's own; tile encode times and the reference still use the "
        "bench's points",
    )
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "yizhan-bench-map-national"),
        help="where the national registry is kept between runs",
    )
    parser.add_argument(
        "--tiles",
        action="store_true",
        help="only the station tiles' encode time by zoom, .mvt vs .json, in-process (no "
        "browser): --national-n stations over China, the tiles of 40 of them per zoom",
    )
    args = parser.parse_args()
    if args.tiles:
        tiles_only(args)
        return
    if args.national:
        national(args)
        return
    rows: dict[tuple[str, int], tuple[float, int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-map-") as tmp, chromium() as browser:
        for n in sorted(set(args.sizes) | set(args.reference_sizes)):
            for name, build in (("ours", ours), ("reference", reference)):
                if n not in (args.sizes if name == "ours" else args.reference_sizes):
                    continue
                out = Path(tmp) / f"{name}-{n}.html"
                gen, size = build(n, args.seed, out)
                load, errors = load_s(browser, out)
                rows[name, n] = (gen, size, load)
                # What GET /maps/coverage sends to a client that accepts gzip (level 6).
                packed = len(gzip.compress(out.read_bytes(), compresslevel=6, mtime=0))
                flag = f"  console errors: {errors[:3]}" if errors else ""
                print(
                    f"{name:9} {n:>7,} stations: generation {gen:6.2f} s, HTML "
                    f"{size / 1e6:6.1f} MB ({packed / 1e6:5.1f} MB gzipped), "
                    f"interactive in Chromium {load:6.2f} s{flag}",
                    flush=True,
                )
    print(f"\n{'stations':>8} {'gen ours/ref':>13} {'size ours/ref':>14} {'load ours/ref':>14}")
    for n in args.reference_sizes:
        if ("ours", n) in rows and ("reference", n) in rows:
            o, r = rows["ours", n], rows["reference", n]
            print(f"{n:>8,} {o[0] / r[0]:13.2f} {o[1] / r[1]:14.2f} {o[2] / r[2]:14.2f}")
    if ("ours", 200_000) in rows:
        gen, _, load = rows["ours", 200_000]
        ok = "ok" if gen <= 10 and load <= 10 else "NOT MET"
        print(f"goal at 200,000: generation <= 10 s and interactive <= 10 s: {ok}")


if __name__ == "__main__":
    main()
