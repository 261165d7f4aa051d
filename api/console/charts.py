"""The planners' charts: SVG drawn on the server by pygal, inlined in the page.

Offline and CSP-safe: pygal's JavaScript (``js``, from a CDN by default) is left out, and
the ``<script>`` holding its config and the comments naming its site are taken out of the
tree, so the SVG has no script and no external URL, only its own ``<style>`` (allowed:
style-src takes inline styles). Text uses the browser's fonts: the CJK ones first.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from api.console.pygal_offline import Style, pygal
from geodata.districts import District
from stations.domain.events import KIND_LABELS, EventKind
from stations.formats.report import cell_text

FONTS = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif'

STYLE = Style(
    font_family=FONTS,
    background="white",
    plot_background="white",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#999",
    colors=("#1f6fb2", "#d9822b", "#2e9e5b", "#b03a48"),
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=12,
    tooltip_font_size=13,
)

# pygal sizes label space by character count as if Latin: a Chinese name is about twice as
# wide, so bars labelled by name get this much more room on the left (px).
CJK_MARGIN = 70

CONFIG: dict[str, Any] = {
    "js": [],
    "disable_xml_declaration": True,
    "style": STYLE,
    "width": 1300,  # drawn about the size shown at 1366×768, so its text is legible
    "height": 400,
    "legend_at_bottom": True,
    "truncate_legend": -1,
    "truncate_label": -1,
}


def _svg(chart: Any) -> str:
    """The chart as SVG markup to inline: no ``<script>``, no comment."""
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            tag = child.tag
            if tag is ET.Comment or (isinstance(tag, str) and tag.rpartition("}")[2] == "script"):
                parent.remove(child)
    tree.set("role", "img")
    return ET.tostring(tree, encoding="unicode")


def mapped_history_chart(history: Sequence[dict[str, Any]], *, title: str) -> str:
    """上图 over time (one point per day with changes): active stations, those listed on all
    three providers, and precisely."""
    chart = pygal.Line(
        **CONFIG,
        title=title,
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_count=12,
        dots_size=4,
        min_scale=4,
    )
    chart.x_labels = [h["date"] for h in history]
    chart.add("运营中", [h["active"] for h in history])
    chart.add("三家均上图", [h["listed_all"] for h in history])
    chart.add("精准上图", [h["precise_all"] for h in history])
    if not history:
        chart.no_data_text = "暂无上图记录"
    return _svg(chart)


def district_rates_chart(rows: Sequence[dict[str, Any]], *, title: str) -> str:
    """Each district's rate of listing on all three providers and precisely, in percent,
    one bar pair a line (the names read across), the laggards at the top."""
    rows = sorted(
        rows, key=lambda r: (r["listed_all_rate"] is not None, -(r["listed_all_rate"] or 0))
    )
    chart = pygal.HorizontalBar(
        **{**CONFIG, "width": 650, "height": 120 + 24 * len(rows)},  # half the page wide
        title=title,
        range=(0, 100),
        value_formatter=lambda v: f"{v:.1f}%",
        margin_left=CJK_MARGIN,
    )
    chart.x_labels = [r["name"] for r in rows]

    def percent(key: str) -> list[float | None]:
        return [None if r[key] is None else round(r[key] * 100, 1) for r in rows]

    chart.add("三家均上图率", percent("listed_all_rate"))
    chart.add("精准上图率", percent("precise_rate"))
    return _svg(chart)


def rates_chart(rates: Sequence[tuple[str, float | None]], *, title: str) -> str:
    """One district's rates side by side (label, share), in percent."""
    chart = pygal.HorizontalBar(
        **CONFIG,
        title=title,
        range=(0, 100),
        show_legend=False,
        value_formatter=lambda v: f"{v:.1f}%",
        print_values=True,
        margin_left=CJK_MARGIN,
    )
    chart.x_labels = [label for label, _ in rates]
    chart.add("", [None if v is None else round(v * 100, 1) for _, v in rates])
    return _svg(chart)


# One colour per event kind (eight: the style's four would repeat).
KIND_COLOURS = (
    "#d9822b",
    "#1f6fb2",
    "#2e9e5b",
    "#8e5ea2",
    "#b03a48",
    "#e0b400",
    "#3bb3c3",
    "#888888",
)


def events_chart(
    counts: Sequence[dict[str, Any]],
    categories: Sequence[tuple[str, str]],
    *,
    of: str,
    title: str,
) -> str:
    """Occurrences of events (rows of stations.services.events.district_counts) stacked by
    kind, one bar per category (key, label), ``of`` naming the rows' key for it
    (``district_adcode``: a bar per district, read across; ``period``: a bar per month)."""
    totals: dict[tuple[str, str], int] = {}
    for row in counts:
        key = (row[of], row["kind"])
        totals[key] = totals.get(key, 0) + row["occurrences"]
    stacked: dict[str, int] = {}
    for (category, _), n in totals.items():
        stacked[category] = stacked.get(category, 0) + n
    # Whole occurrences on the axis: about five steps up to the tallest bar.
    step = max(1, math.ceil(max(stacked.values(), default=1) / 5))
    top = max(stacked.values(), default=1)
    options: dict[str, Any] = {
        **CONFIG,
        "style": Style(**{**STYLE.to_dict(), "colors": KIND_COLOURS}),
        "width": 650,  # half the page wide, as the districts' rates
        "title": title,
    }
    if totals:  # pygal cannot place labels on an empty chart
        options["y_labels"] = list(range(0, top + step, step))
    if of == "district_adcode":
        options["height"] = 160 + 24 * len(categories)
        chart = pygal.HorizontalStackedBar(**options, margin_left=CJK_MARGIN)
        categories = categories[::-1]  # pygal draws the first at the bottom: as the table reads
    else:
        chart = pygal.StackedBar(**options)
    chart.x_labels = [label for _, label in categories]
    for kind in EventKind:
        values = [totals.get((key, kind.value)) for key, _ in categories]
        if any(values):
            chart.add(KIND_LABELS[kind], values)
    if not totals:
        chart.no_data_text = "这段时间没有活动"
    return _svg(chart)


# The map's colours: five steps of 20 % from red to green (a map needs finer steps than the
# tables' three bands to tell districts apart), grey for no value.
STEPS: tuple[tuple[str, str], ...] = (
    ("0–20%", "#d73027"),
    ("20–40%", "#fc8d59"),
    ("40–60%", "#fee08b"),
    ("60–80%", "#91cf60"),
    ("80–100%", "#1a9850"),
)
NONE = "#e5e5e5"


def district_map(
    districts: Sequence[District],
    values: dict[str, float | None],
    *,
    title: str,
    width: int = 650,
) -> str:
    """A static map of ``districts`` filled by the step of each one's value (a rate, by
    adcode; grey without one, see :data:`STEPS`), each named in its tooltip: for the
    printed report, where a tiled map cannot go. Lon/lat drawn equirectangular, x scaled
    by cos(latitude)."""
    shapes = [(d, shapely.simplify(d.geometry, 0.004)) for d in districts]
    x0, y0, x1, y1 = shapely.total_bounds([g for _, g in shapes])
    squeeze = float(np.cos(np.radians((y0 + y1) / 2)))
    scale = width / ((x1 - x0) * squeeze)
    height = round((y1 - y0) * scale) + 30 + 24  # the title above, the legend below
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {width} {height}",
            "role": "img",
            "class": "district-map",
        },
    )
    ET.SubElement(svg, "title").text = title
    heading = ET.SubElement(
        svg, "text", {"x": "8", "y": "20", "font-size": "16", "font-family": FONTS}
    )
    heading.text = title
    for district, geometry in shapes:
        path = []
        polygons = getattr(geometry, "geoms", [geometry])
        for polygon in polygons:
            for ring in (polygon.exterior, *polygon.interiors):
                xy = np.asarray(ring.coords)
                px = (xy[:, 0] - x0) * squeeze * scale
                py = (y1 - xy[:, 1]) * scale + 30
                points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
                path.append(f"M{points}Z")
        value = values.get(district.adcode)
        fill = STEPS[min(int(value * len(STEPS)), len(STEPS) - 1)][1] if value is not None else NONE
        shape = ET.SubElement(
            svg,
            "path",
            {
                "d": " ".join(path),
                "fill": fill,
                "stroke": "#666",
                "stroke-width": "0.6",
                "fill-rule": "evenodd",
            },
        )
        ET.SubElement(shape, "title").text = f"{district.name}：{cell_text(value, 'rate')}"
    for i, (label, colour) in enumerate([*STEPS, ("无数据", NONE)]):
        x, y = 8 + 78 * i, height - 4
        ET.SubElement(
            svg,
            "rect",
            {
                "x": str(x),
                "y": str(y - 12),
                "width": "14",
                "height": "12",
                "fill": colour,
                "stroke": "#666",
                "stroke-width": "0.5",
            },
        )
        item = ET.SubElement(
            svg,
            "text",
            {"x": str(x + 18), "y": str(y - 2), "font-size": "12", "font-family": FONTS},
        )
        item.text = label
    return ET.tostring(svg, encoding="unicode")
