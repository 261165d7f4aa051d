"""Demand layers: weighted points where outdoor workers are (for demand-weighted coverage).

A planner uploads a layer as CSV, XLSX or GeoJSON with a position (``lon``/``lat`` or
经度/纬度, or GeoJSON points) and an optional ``weight`` (权重, 人数; default 1), in any
coordinate system we know. Reading is all or nothing: any bad row is reported by its row
number and the layer is not stored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from geodata.crs import CoordinateSystem, parse_crs, to_wgs84
from geodata.districts import Districts
from stations.domain.demand import DemandFileError, DemandLayer, RowProblem, check_layer_name
from stations.domain.uploads import CrsRequiredError
from stations.domain.validation import in_china_bounds, visible
from stations.formats.io import FileLimits, _xlsx_rows, detect_encoding, detect_format
from stations.services.demo import _CENTRAL, _points

DEFAULT_FILE_LIMITS = FileLimits()

MAX_POINTS = 500_000
_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")
_WEIGHT = ("weight", "权重", "人数", "count", "riders", "骑手数")
_LABEL = ("label", "name", "名称", "地点", "说明")


def _pick(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    lowered = {str(k).strip().lower(): k for k in row}
    for n in names:
        key = lowered.get(n)
        if key is not None:
            return str(key), row[key]
    return None, None


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _rows(path: Path, limits: FileLimits) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number as the user sees it, raw cells) from CSV/XLSX/GeoJSON; a spreadsheet is
    checked against ``limits`` before it is read, as a station upload is."""

    fmt = detect_format(path)
    if fmt == "geojson":
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            msg = f"{path.name}: 不是有效的 GeoJSON：{exc}"
            raise ValueError(msg) from None
        features = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(features, list):
            msg = f"{path.name}: GeoJSON 须为含 features 列表的 FeatureCollection"
            raise ValueError(msg)
        for i, feat in enumerate(features, start=1):
            props = feat.get("properties") if isinstance(feat, dict) else None
            geom = feat.get("geometry") if isinstance(feat, dict) else None
            if not (
                isinstance(feat, dict)
                and isinstance(props, dict | None)
                and isinstance(geom, dict | None)
            ):
                msg = (
                    f"{path.name}: 第 {i} 个要素不是 GeoJSON 要素（properties、geometry 须为对象）"
                )
                raise ValueError(msg)
            props, geom = dict(props or {}), geom or {}
            coords = geom.get("coordinates")
            if geom.get("type") == "Point" and isinstance(coords, list) and len(coords) >= 2:
                props.setdefault("lon", coords[0])
                props.setdefault("lat", coords[1])
            yield i, props
    elif fmt == "xlsx":
        header, body = _xlsx_rows(path, limits)
        for n, values in body:
            yield n, dict(zip([str(h) for h in header], values, strict=False))
    else:
        with path.open(encoding=detect_encoding(path), newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                yield n, row


DEMAND_CRS_HELP = (
    "请说明需求点经纬度的坐标系：从高德地图或腾讯地图复制的位置是 gcj02，从百度地图复制的是 "
    "bd09，GPS 设备、天地图或 OpenStreetMap 的是 wgs84。命令行写 --crs gcj02，接口上传时填 "
    "crs=gcj02（GeoJSON 文件按其标准为 wgs84）"
)


def demand_crs(given: str | CoordinateSystem | None, path: Path) -> CoordinateSystem:
    """The coordinate system of a demand file's points: as named, or WGS-84 for GeoJSON
    (RFC 7946); nothing else is assumed (CrsRequiredError, saying how to tell)."""
    if given is not None and str(given).strip():
        return parse_crs(given)
    if detect_format(path) == "geojson":
        return CoordinateSystem.WGS84
    raise CrsRequiredError(DEMAND_CRS_HELP)


def read_demand(
    path: str | Path,
    *,
    name: str,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    districts: Districts | None = None,
    limits: FileLimits = DEFAULT_FILE_LIMITS,
) -> DemandLayer:
    """Read and check a demand file; raise DemandFileError listing every bad row, or
    FileRefusedError for a spreadsheet past ``limits`` (checked before it is read).

    With ``districts``, points must also lie inside them (a point outside the city is
    almost always a swapped or mistyped coordinate).
    """
    system = parse_crs(crs)
    name = check_layer_name(name)
    problems: list[RowProblem] = []
    lons: list[float] = []
    lats: list[float] = []
    weights: list[float] = []
    labels: list[str] = []
    rows: list[int] = []
    for n, row in _rows(Path(path), limits):
        if not any(v not in (None, "") for v in row.values()):
            continue
        lon_col, lon_raw = _pick(row, _LON)
        lat_col, lat_raw = _pick(row, _LAT)
        w_col, w_raw = _pick(row, _WEIGHT)
        _, label = _pick(row, _LABEL)
        lon, lat = _number(lon_raw), _number(lat_raw)
        bad = False
        if lon is None or lat is None:
            problems.append(
                RowProblem(
                    n,
                    lon_col or lat_col or "lon",
                    "missing_position",
                    "经纬度缺失或不是数字（需要 lon/lat 或 经度/纬度 列）",
                    f"{lon_raw}, {lat_raw}",
                )
            )
            bad = True
        weight = 1.0 if w_raw in (None, "") else _number(w_raw)
        if weight is None or weight < 0:
            problems.append(
                RowProblem(n, w_col or "weight", "invalid_weight", "权重必须是非负数字", w_raw)
            )
            bad = True
        if bad or lon is None or lat is None or weight is None:
            continue
        if len(lons) >= MAX_POINTS:
            problems.append(
                RowProblem(n, "", "too_many_points", f"一个需求图层最多 {MAX_POINTS:,} 个点", None)
            )
            break
        rows.append(n)
        lons.append(lon)
        lats.append(lat)
        weights.append(weight)
        labels.append("" if label is None else visible(str(label)[:100]))
    x, y = np.asarray(lons, np.float64), np.asarray(lats, np.float64)
    if len(x):
        x, y = (np.asarray(v, np.float64) for v in to_wgs84(x, y, crs=system))
        outside = ~np.array([in_china_bounds(a, b) for a, b in zip(x, y, strict=True)])
        if districts is not None:
            # lookup keeps prepared geometries per thread (GEOS's are not thread-safe).
            outside |= districts.lookup(x, y) == ""
        for i in np.flatnonzero(outside):
            problems.append(
                RowProblem(
                    rows[i],
                    "lon",
                    "outside_area",
                    "位置不在服务范围内（经纬度是否写反，或坐标系选错？）",
                    f"{lons[i]}, {lats[i]}",
                )
            )
    if problems:
        raise DemandFileError(problems)
    if not len(x):
        raise DemandFileError([RowProblem(0, "", "empty", "文件里没有需求点")])
    return DemandLayer(
        name,
        x,
        y,
        np.asarray(weights, np.float64),
        tuple(labels),
        source={"file": Path(path).name, "crs": system.value},
    )


def sample_demand(districts: Districts, *, seed: int = 20241, points: int = 3_000) -> DemandLayer:
    """A sample (示例) demand layer: where riders gather, dense in the urban cores.

    Invented, like the sample stations: clustered around each district's core, weighted
    more in the central districts, every point labelled 示例.
    """

    rng = np.random.default_rng(seed + 7)
    weights_by = {
        d.adcode: math.sqrt(d.area_m2 / 1e6) * _CENTRAL.get(d.adcode, 1.0) ** 2 for d in districts
    }
    total = sum(weights_by.values())
    lon: list[np.ndarray] = []
    lat: list[np.ndarray] = []
    weight: list[np.ndarray] = []
    for d in districts:
        n = max(10, round(points * weights_by[d.adcode] / total))
        pts = _points(d, n, rng)
        lon.append(pts[:, 0])
        lat.append(pts[:, 1])
        weight.append(np.round(rng.gamma(2.0, 5.0 * _CENTRAL.get(d.adcode, 1.0), len(pts)), 1))
    x = np.concatenate(lon)
    return DemandLayer(
        "示例",
        x,
        np.concatenate(lat),
        np.concatenate(weight),
        tuple("示例：骑手聚集点" for _ in range(len(x))),
        sample=True,
        source={"file": "sample", "crs": "wgs84"},
    )
