"""GeoJSON (RFC 7946): a FeatureCollection of points in WGS-84, read and exported."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from stations.domain.model import Station
from stations.domain.records import station_to_dict
from stations.domain.validation import Problem
from stations.formats.limits import FileLimits, FileRefusedError, too_many_rows
from stations.formats.table import MISSING, Row, Table


def _json_type(value: Any) -> str:
    names = {dict: "对象", list: "列表", str: "文字", bool: "真假值", type(None): "null"}
    return names.get(type(value), "数字")


def _geojson_default_crs(doc: dict[str, Any]) -> str | None:
    """RFC 7946: positions are WGS-84. A file with the old (2008) ``crs`` member says its own."""
    named = doc.get("crs")
    if named is None:
        return "wgs84"
    text = json.dumps(named).upper()
    if "CRS84" in text or "4326" in text:
        return "wgs84"
    if "4490" in text:
        return "cgcs2000"
    return None  # something else: the uploader must say


def _check_features(name: str, features: list[Any]) -> None:
    """Refuse a FeatureCollection that breaks RFC 7946's shapes, naming the feature."""
    for i, feature in enumerate(features, start=1):
        where = f"{name}: 第 {i} 个要素（features[{i - 1}]）"
        if not isinstance(feature, dict):
            msg = f"{where}应是对象（Feature），而不是{_json_type(feature)}"
            raise FileRefusedError("bad_file", msg)
        props = feature.get("properties")
        if props is not None and not isinstance(props, dict):
            msg = f"{where}的 properties 应是对象或 null，而不是{_json_type(props)}"
            raise FileRefusedError("bad_file", msg)
        geometry = feature.get("geometry")
        if geometry is not None and not isinstance(geometry, dict):
            msg = f"{where}的 geometry 应是对象或 null，而不是{_json_type(geometry)}"
            raise FileRefusedError("bad_file", msg)
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coords = geometry.get("coordinates")
            if not isinstance(coords, list):
                msg = f"{where}的点坐标应是 [经度, 纬度] 列表，而不是{_json_type(coords)}"
                raise FileRefusedError("bad_file", msg)


def _not_a_point(geometry_type: Any) -> Problem:
    kind = str(geometry_type)[:40]
    return Problem("geometry", "not_a_point", f"几何类型须为点（Point），而不是 {kind}")


def read_geojson(path: Path, limits: FileLimits, sheet: str | None = None) -> Table:
    """The features' property names (in order of appearance) as the header, and a row per
    feature: its properties, its point apart, and a geometry that is not a point as the
    row's problem. Refused as a whole if not a FeatureCollection of RFC 7946's shapes.
    ``sheet``: a GeoJSON file has none, ignored."""
    del sheet
    try:
        with path.open(encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except RecursionError:
        msg = f"{path.name}: JSON 嵌套过深，不是驿站的 GeoJSON 文件"
        raise FileRefusedError("bad_file", msg) from None
    except UnicodeDecodeError:
        msg = f"{path.name}: GeoJSON 须为 UTF-8 编码（RFC 7946）"
        raise FileRefusedError("bad_file", msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{path.name}: 不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列 {exc.msg}"
        raise FileRefusedError("bad_file", msg) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        example = '{"type": "FeatureCollection", "features": [...]}'
        msg = f"{path.name}: 不是 GeoJSON 要素集（应为 {example}）"
        raise ValueError(msg)
    if len(features) > limits.max_rows:
        raise too_many_rows(path.name, limits)
    _check_features(path.name, features)
    headers: list[str] = []
    seen: set[str] = set()
    for feature in features:
        for key in feature.get("properties") or {}:
            if key not in seen:
                seen.add(key)
                headers.append(key)
    if len(headers) > limits.max_columns:
        msg = (
            f"{path.name}: 要素的属性有 {len(headers):,} 种，超过上限 {limits.max_columns} 列；"
            "请只保留驿站登记的属性"
        )
        raise FileRefusedError("too_many_columns", msg)

    def body() -> Iterator[Row]:
        for number, feature in enumerate(features, start=1):
            props = feature.get("properties") or {}
            values = [props.get(k, MISSING) for k in headers]
            geometry = feature.get("geometry") or {}
            if geometry.get("type") == "Point":
                coords = geometry["coordinates"]
                point = (coords[0], coords[1]) if len(coords) >= 2 else None
                yield Row(number, values, point)
            elif geometry:
                yield Row(number, values, (None, None), (_not_a_point(geometry.get("type")),))
            else:
                yield Row(number, values)

    return Table("geojson", headers, body(), "utf-8", default_crs=_geojson_default_crs(doc))


def write_geojson(stations: Iterable[Station], out: IO[str]) -> int:
    """Write a GeoJSON FeatureCollection in WGS-84 (RFC 7946), streamed feature by feature."""
    out.write('{"type":"FeatureCollection","features":[\n')
    n = 0
    for station in stations:
        props = station_to_dict(station)
        feature = {
            "type": "Feature",
            "id": station.id,
            "geometry": {"type": "Point", "coordinates": [station.lon, station.lat]},
            "properties": props,
        }
        out.write(("," if n else "") + json.dumps(feature, ensure_ascii=False) + "\n")
        n += 1
    out.write("]}\n")
    return n


def export_geojson(stations: Iterable[Station], path: Path) -> int:
    """Export to a GeoJSON file (UTF-8, as RFC 7946 requires)."""
    with path.open("w", encoding="utf-8") as fh:
        return write_geojson(stations, fh)
