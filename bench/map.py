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
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import china_points, make_stations  # puts this checkout first on sys.path

from tests.browser import PageLog, block_external, chromium


def ours(n: int, seed: int, out: Path) -> tuple[float, int]:
    from geodata.districts import chongqing_districts
    from stations.readmodel.index import StationIndex
    from stations.services.maps import station_map

    lon, lat = china_points(n, np.random.default_rng(seed))
    index = StationIndex(make_stations(lon, lat, seed=seed + 1), version=1)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000, 200_000])
    parser.add_argument("--reference-sizes", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--seed", type=int, default=20250312)
    args = parser.parse_args()
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
