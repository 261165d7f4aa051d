"""The rider's phone page and the files it loads, all served by yizhan itself (no CDN)."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import html
import importlib.metadata
import importlib.resources
import re
from dataclasses import dataclass

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from geodata.crs import CoordinateSystem, from_wgs84
from geodata.districts import Districts
from geodata.maps import leaflet_file
from geodata.tiles import TileProvider
from stations.domain.feedback import FEEDBACK_KIND_LABELS, NOTE_MAX_CHARS
from stations.domain.model import AMENITY_LABELS, ENTRY_METHOD_LABELS

# Leaflet comes from a package as plain files (django-js-lib-leaflet ships Leaflet 1.9.4 and
# needs no Django), like the planners' maps; never copied into this repository.
LEAFLET_DISTRIBUTION = "django-js-lib-leaflet"
LEAFLET_FILES = {
    "leaflet.js": "text/javascript; charset=utf-8",
    "leaflet.js.map": "application/json",
    "leaflet.css": "text/css; charset=utf-8",
    "images/layers.png": "image/png",
    "images/layers-2x.png": "image/png",
    "images/marker-icon.png": "image/png",
    "images/marker-icon-2x.png": "image/png",
    "images/marker-shadow.png": "image/png",
}
APP_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
PAGE_FILES = ("index.html", *APP_FILES)
# Versioned URLs never change content, so browsers may keep them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True, slots=True)
class Asset:
    """A file to serve, with its ETag and a gzipped copy made once (for weak networks)."""

    body: bytes
    media_type: str
    etag: str
    gzipped: bytes | None

    @classmethod
    def of(cls, body: bytes, media_type: str, *, compresslevel: int = 9) -> Asset:
        compressible = not media_type.startswith("image/")
        packed = gzip.compress(body, compresslevel=compresslevel, mtime=0) if compressible else None
        return cls(
            body=body,
            media_type=media_type,
            etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
            gzipped=packed if packed is not None and len(packed) < len(body) else None,
        )

    @property
    def version(self) -> str:
        """A short fingerprint of the content, for cache-busting URLs."""
        return self.etag.strip('"')[:10]

    def response(
        self, request: Request, *, cache_control: str, headers: dict[str, str] | None = None
    ) -> Response:
        common = {"ETag": self.etag, "Cache-Control": cache_control, **(headers or {})}
        if self.gzipped is not None and "Accept-Encoding" not in common.get("Vary", ""):
            common["Vary"] = ", ".join(
                v for v in (common.get("Vary"), "Accept-Encoding") if v is not None
            )
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=common)
        if self.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                self.gzipped,
                media_type=self.media_type,
                headers={**common, "Content-Encoding": "gzip"},
            )
        return Response(self.body, media_type=self.media_type, headers=common)


def leaflet_version() -> str:
    """The version of the package that ships Leaflet (part of its URLs)."""
    return importlib.metadata.version(LEAFLET_DISTRIBUTION)


@functools.cache
def leaflet_asset(name: str) -> Asset | None:
    """A Leaflet file from the installed package, or None if it is not one we serve."""
    media_type = LEAFLET_FILES.get(name)
    if media_type is None:
        return None
    return Asset.of(leaflet_file(name), media_type)


def _page_file(name: str) -> bytes:
    return (importlib.resources.files("api") / "rider" / name).read_bytes()


@functools.cache
def app_asset(name: str) -> Asset | None:
    """The page's own script or style sheet, or None."""
    media_type = APP_FILES.get(name)
    return None if media_type is None else Asset.of(_page_file(name), media_type)


def page_bytes() -> int:
    """The size of the page's own files (HTML, JS, CSS; not Leaflet, not tiles), in bytes."""
    return sum(len(_page_file(name)) for name in PAGE_FILES)


def _labels_json() -> str:
    labels = {
        "amenities": AMENITY_LABELS,
        "entry": ENTRY_METHOD_LABELS,
        "feedback": FEEDBACK_KIND_LABELS,
        "noteMax": NOTE_MAX_CHARS,
    }
    return _json_for_script(labels)


def _json_for_script(value: object) -> str:
    # Safe inside <script type="application/json">: no "</script>" can be formed.
    return orjson.dumps(value).decode().replace("<", "\\u003c")


@functools.lru_cache(maxsize=8)
def page_asset(tiles: tuple[TileProvider, ...]) -> Asset:
    """The page's HTML, pointing at versioned script and style URLs, with ``tiles`` (the
    first shown first) for its map."""
    leaflet = f"/static/leaflet/{leaflet_version()}"
    js, css = app_asset("app.js"), app_asset("app.css")
    assert js is not None
    assert css is not None
    values = {
        "leaflet_css": f"{leaflet}/leaflet.css",
        "leaflet_js": f"{leaflet}/leaflet.js",
        "app_css": f"/app/app.css?v={css.version}",
        "app_js": f"/app/app.js?v={js.version}",
    }
    text = _page_file("index.html").decode()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    text = text.replace("{{labels_json}}", _labels_json())
    text = text.replace("{{tiles_json}}", _json_for_script([t.as_json() for t in tiles]))
    leftover = re.search(r"\{\{\w+\}\}", text)
    if leftover:  # pragma: no cover - a template edit without a value
        msg = f"index.html has an unfilled {leftover.group(0)}"
        raise RuntimeError(msg)
    return Asset.of(text.encode(), "text/html; charset=utf-8")


_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL)


def inline_script_hashes(page: bytes) -> tuple[str, ...]:
    """The CSP hash sources (``'sha256-…'``) of every inline script of ``page``, in order."""
    return tuple(
        dict.fromkeys(
            "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
            for m in _INLINE_SCRIPT.finditer(page)
        )
    )


def content_security_policy(
    tiles: tuple[TileProvider, ...], *, script_hashes: tuple[str, ...] = ()
) -> str:
    """Only our own scripts run: those we serve and, by their hashes (``script_hashes``, as
    :func:`inline_script_hashes` gives), those in the page itself, never one injected into
    it (no ``'unsafe-inline'``); images may also come from exactly the tiles' hosts,
    nothing else from outside."""
    hosts = [h for t in tiles for h in t.hosts() if h != "'self'"]
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *script_hashes]),
            # Leaflet positions tiles and markers with inline styles.
            "style-src 'self' 'unsafe-inline'",
            " ".join(["img-src 'self' data: blob:", *dict.fromkeys(hosts)]),
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def page_response(request: Request, *, tiles: tuple[TileProvider, ...]) -> Response:
    """The rider page for ``request`` (304 when the browser's copy is current)."""
    return page_asset(tiles).response(
        request,
        cache_control=REVALIDATE,
        headers={
            "Content-Security-Policy": content_security_policy(tiles),
            "X-Content-Type-Options": "nosniff",
            # Only the origin goes out (strict-origin): map providers check a browser key
            # (Tianditu's) against the site named in their console; no path or query.
            "Referrer-Policy": "strict-origin",
            "Permissions-Policy": "geolocation=(self)",
            "Vary": "Accept",
        },
    )


def _accepted(accept: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        out[media.lower()] = max(q, out.get(media.lower(), 0.0))
    return out


def prefers_html(request: Request) -> bool:
    """Whether a request to ``/`` is a browser's: HTML named and preferred over JSON.

    ``f=json`` always means JSON and ``f=html`` HTML. Clients that accept anything
    (``*/*``: curl, GDAL, scripts) get JSON, as OGC API clients expect; only an explicit
    ``text/html`` ranked above JSON (as browsers send) gets the page.
    """
    f = request.query_params.get("f")
    if f is not None:
        return f == "html"
    accepted = _accepted(request.headers.get("accept", ""))
    html_q = accepted.get("text/html", 0.0)
    json_q = max(
        accepted.get("application/json", 0.0),
        accepted.get("application/*", 0.0),
        accepted.get("*/*", 0.0),
    )
    return html_q > 0 and html_q > json_q


def district_centres(
    districts: Districts, *, drawn_in: tuple[CoordinateSystem, ...] = ()
) -> list[dict[str, object]]:
    """Each district's name and a WGS-84 point inside it (its centroid, if that is inside),
    with that point in each of the systems ``drawn_in`` under ``drawn`` (``{"gcj02":
    {"lon", "lat"}}``), for a map on tiles in them: the page converts nothing itself."""
    names, lons, lats = [], [], []
    for d in districts:
        point = d.geometry.centroid
        if not d.geometry.contains(point):
            point = d.geometry.representative_point()
        names.append((d.adcode, d.name))
        lons.append(round(point.x, 6))
        lats.append(round(point.y, 6))
    drawn: dict[str, tuple[list[float], list[float]]] = {}
    for system in dict.fromkeys(drawn_in):
        x, y = from_wgs84(lons, lats, crs=system)
        drawn[system.value] = (np.round(x, 7).tolist(), np.round(y, 7).tolist())
    return [
        {
            "adcode": adcode,
            "name": name,
            "lon": lon,
            "lat": lat,
            "drawn": {s: {"lon": x[i], "lat": y[i]} for s, (x, y) in drawn.items()},
        }
        for i, ((adcode, name), lon, lat) in enumerate(zip(names, lons, lats, strict=True))
    ]
