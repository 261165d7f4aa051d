"""Map tile providers: one table (URL templates, subdomains, coordinate system, credit, zoom).

A map draws every point in its tiles' coordinate system: OpenStreetMap and Tianditu
(天地图, CGCS2000, within a metre of WGS-84) take positions as stored; Amap (高德) tiles
are GCJ-02, so every point drawn on them is shifted with :func:`geodata.crs.from_wgs84`.
A new provider is a new row of :data:`TILE_PROVIDERS`, not a new branch anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote, urlsplit

from geodata.crs import CoordinateSystem

_KEY = "{key}"
# Systems whose tiles are drawn shifted from WGS-84: points are converted to them.
_SHIFTED = (CoordinateSystem.GCJ02, CoordinateSystem.BD09)


@dataclass(frozen=True, slots=True)
class TileProvider:
    """A tile service: ``urls`` are Leaflet URL templates, the base layer first and then
    any layers drawn over it (Tianditu's labels); ``{s}`` takes one of ``subdomains``.
    ``attribution`` is plain text, linked to ``attribution_url``. ``key_setting`` names
    the setting holding the key the service needs (``{key}`` in the templates), if any."""

    name: str
    label: str
    urls: tuple[str, ...]
    subdomains: str
    crs: CoordinateSystem
    attribution: str
    attribution_url: str
    max_zoom: int
    key_setting: str | None = None

    @property
    def drawn_in(self) -> CoordinateSystem:
        """The system points must be in to land right on these tiles: the tiles' own when
        shifted (GCJ-02, BD-09), else WGS-84 (CGCS2000 differs from it by centimetres)."""
        return self.crs if self.crs in _SHIFTED else CoordinateSystem.WGS84

    @property
    def needs_key(self) -> bool:
        return any(_KEY in u for u in self.urls)

    def with_key(self, key: str) -> TileProvider:
        """This provider with its key filled in (the key is URL-quoted)."""
        return replace(self, urls=tuple(u.replace(_KEY, quote(key, safe="")) for u in self.urls))

    def hosts(self) -> tuple[str, ...]:
        """Every origin the tiles come from (``scheme://host``), subdomains spelt out: the
        exact list a Content-Security-Policy needs. ``'self'`` for same-site templates."""
        out: list[str] = []
        for url in self.urls:
            if url.startswith("/"):
                names = ["'self'"]
            else:
                split = urlsplit(url)
                netlocs = (
                    [split.netloc.replace("{s}", s) for s in self.subdomains]
                    if "{s}" in split.netloc
                    else [split.netloc]
                )
                names = [f"{split.scheme}://{n}" for n in netlocs]
            out += [n for n in names if n not in out]
        return tuple(out)

    def as_json(self) -> dict[str, object]:
        """What a page's script needs to draw this provider's layers."""
        return {
            "name": self.name,
            "label": self.label,
            "urls": list(self.urls),
            "subdomains": self.subdomains,
            "crs": self.crs.value,
            # The system to ask the server for positions in (the page never converts).
            "drawn_in": self.drawn_in.value,
            "attribution": self.attribution,
            "attribution_url": self.attribution_url,
            "max_zoom": self.max_zoom,
        }


_TIANDITU = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)

TILE_PROVIDERS: dict[str, TileProvider] = {
    p.name: p
    for p in (
        TileProvider(
            name="osm",
            label="OpenStreetMap",
            urls=("https://tile.openstreetmap.org/{z}/{x}/{y}.png",),
            subdomains="",
            crs=CoordinateSystem.WGS84,
            attribution="© OpenStreetMap 贡献者",
            attribution_url="https://www.openstreetmap.org/copyright",
            max_zoom=19,
        ),
        TileProvider(
            name="amap",
            label="高德地图",
            urls=(
                "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                "&x={x}&y={y}&z={z}",
            ),
            subdomains="1234",
            crs=CoordinateSystem.GCJ02,
            attribution="© 高德地图 AutoNavi",
            attribution_url="https://www.amap.com/",
            max_zoom=18,
        ),
        TileProvider(
            name="tianditu",
            label="天地图",
            # The vector map has no names on it: its label layer (cva) goes on top.
            urls=(
                _TIANDITU.replace("{layer}", "vec"),
                _TIANDITU.replace("{layer}", "cva"),
            ),
            subdomains="01234567",
            crs=CoordinateSystem.CGCS2000,
            attribution="© 天地图 国家地理信息公共服务平台",
            attribution_url="https://www.tianditu.gov.cn/",
            max_zoom=18,
            key_setting="YIZHAN_TIANDITU_KEY",
        ),
    )
}


def custom_provider(url: str, attribution: str, *, subdomains: str = "abc") -> TileProvider:
    """A deployment's own WGS-84 (OpenStreetMap-like) tiles, named ``custom``."""
    return TileProvider(
        name="custom",
        label="地图",
        urls=(url,),
        subdomains=subdomains,
        crs=CoordinateSystem.WGS84,
        attribution=attribution,
        attribution_url="",
        max_zoom=19,
    )


def usable_providers(
    keys: Mapping[str, str | None], extra: tuple[TileProvider, ...] = ()
) -> dict[str, TileProvider]:
    """The providers that can be drawn now, keys filled in from ``keys`` (by setting name);
    one whose key is missing is left out."""
    out: dict[str, TileProvider] = {}
    for p in (*TILE_PROVIDERS.values(), *extra):
        if p.needs_key:
            key = keys.get(p.key_setting or "")
            if not key:
                continue
            p = p.with_key(key)
        out[p.name] = p
    return out


def drawn_in(provider: TileProvider) -> CoordinateSystem:
    """:attr:`TileProvider.drawn_in` of ``provider``."""
    return provider.drawn_in


KEY_PATTERN = re.compile(r"^[A-Za-z0-9]{8,64}$")

# A tile URL template a page can use and a Content-Security-Policy can list: nothing that
# ends a source expression or a directive (space, ";", ","), quotes, tags, control
# characters; a host of letters, digits, "-" and "{s}" labels (no "*", no user:password@).
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()+=%{}]+")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+|\{s\})(?:\.(?:[A-Za-z0-9-]+|\{s\}))*(?::[0-9]{1,5})?")


def template_problem(url: str) -> str | None:
    """Why ``url`` is no tile URL template for our pages (English, for the operator), or
    None: ``https://`` or ``http://`` and a plain host, or a path on this site (``/...``),
    with ``{z}``, ``{x}`` and ``{y}``."""
    if not _URL_CHARS.fullmatch(url):
        return "it holds a space, quote, ';', ',', '<', '>' or another character a URL cannot"
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        return "it lacks {z}, {x} or {y}"
    if url.startswith("/"):
        return "a path on this site starts with a single '/'" if url.startswith("//") else None
    split = urlsplit(url)
    if split.scheme not in ("https", "http"):
        return "it is neither https:// nor http:// nor a path on this site"
    if not split.netloc or not _HOST.fullmatch(split.netloc):
        return "its host is not a plain name (no '*', no user:password@)"
    return None
