"""Demand layers: weighted points where outdoor workers are (for demand-weighted coverage).

A planner uploads a layer as CSV, XLSX or GeoJSON with a position (``lon``/``lat`` or
经度/纬度, or GeoJSON points) and an optional ``weight`` (权重, 人数; default 1), in any
coordinate system we know. Reading is all or nothing: any bad row is reported by its row
number and the layer is not stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from geodata.crs import CoordinateSystem, parse_crs, to_wgs84
from geodata.districts import Districts
from stations.domain.auth import Principal, check_demand_create, check_demand_places
from stations.domain.demand import DemandFileError, DemandLayer, RowProblem, check_layer_name
from stations.domain.uploads import file_crs
from stations.domain.validation import in_china_bounds, visible
from stations.formats.limits import FileLimits
from stations.formats.registry import format_for
from stations.formats.table import MISSING
from stations.services.demo import _CENTRAL, _points
from stations.storage.store import Store

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
    """(row number as the user sees it, cells by the file's own headers) from any format
    of the registry, read under the same ``limits`` as a station upload but for the number
    of rows, which for a layer is :data:`MAX_POINTS` (one more, so that row is reported).

    A GeoJSON point fills ``lon``/``lat`` unless the properties have them.
    """
    table = format_for(path).read(path, replace(limits, max_rows=MAX_POINTS + 1))
    keys = [str(h) for h in table.header]
    for number, values, point, problems in table.rows:
        cells = {k: v for k, v in zip(keys, values, strict=False) if v is not MISSING}
        if point is not None and not problems:
            cells.setdefault("lon", point[0])
            cells.setdefault("lat", point[1])
        yield number, cells


DEMAND_CRS_HELP = (
    "请说明需求点经纬度的坐标系：从高德地图或腾讯地图复制的位置是 gcj02，从百度地图复制的是 "
    "bd09，GPS 设备、天地图或 OpenStreetMap 的是 wgs84。命令行写 --crs gcj02，接口上传时填 "
    "crs=gcj02（GeoJSON 文件按其标准为 wgs84）"
)


def demand_crs(given: str | CoordinateSystem | None, path: Path) -> CoordinateSystem:
    """The coordinate system of a demand file's points: the rule of
    :func:`~stations.domain.uploads.file_crs`, told before the file is read, so a GeoJSON
    layer is WGS-84 (RFC 7946) whatever an old-style ``crs`` member says."""
    return file_crs(given, format=format_for(path).name, help=DEMAND_CRS_HELP)


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


def save_demand_layer(
    store: Store,
    districts: Districts,
    by: Principal,
    name: str,
    path: Path,
    *,
    crs: CoordinateSystem | str | None,
    limits: FileLimits = DEFAULT_FILE_LIMITS,
    filename: str | None = None,
) -> DemandLayer:
    """Read a demand file and store it as layer ``name`` owned by ``by``; return it as stored.

    In order: ``by`` must be a union that keeps demand layers (ForbiddenError), the name
    one a layer may have (LayerNameError), the coordinate system named unless the file is
    GeoJSON (CrsRequiredError; UnsupportedFormatError for a file type we do not read, told
    from ``filename``, the name the uploader gave, else ``path``'s); then the file is read
    all or nothing (DemandFileError, FileRefusedError), a district union's points must lie
    in its district (ForbiddenError), and only the layer's owner or the city union may
    replace it (the store's ForbiddenError).
    """
    check_demand_create(by)
    name = check_layer_name(name)
    system = demand_crs(crs, Path(filename or path.name))
    layer = read_demand(path, name=name, crs=system, districts=districts, limits=limits)
    check_demand_places(by, lambda: districts.lookup(layer.lon, layer.lat).tolist())
    layer = replace(layer, owner=by.demand_owner)
    store.save_demand(layer, actor=by.name, may_replace=by.may_change_demand)
    saved = store.find_demand(name)
    assert saved is not None
    return saved


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
