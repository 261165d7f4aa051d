"""OGC API – Features (Part 1: Core) for the stations and districts collections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

import shapely
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api import schema_docs as doc
from api.deps import (
    MAX_LIMIT,
    IndexDep,
    Services,
    ServicesDep,
    parse_bbox,
    parse_time,
)
from api.links import site_base
from api.problems import Problem
from api.representation import feature, placed_fields, station_json, stations_json
from api.responses import json_response
from api.rider_page import page_response, prefers_html
from geodata.hours import TZ
from stations.domain.model import Station
from stations.readmodel.index import StationIndex

router = APIRouter(tags=["OGC API – Features"])

Feature = dict[str, Any]

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
# The names of CRS84 a client may send in crs= or bbox-crs= (OGC API – Features Part 2);
# every position here is CRS84, so any other value is refused, not silently ignored.
CRS84_NAMES = frozenset({CRS84, "[OGC:CRS84]", "OGC:CRS84"})
# -- the collections: each is one entry of COLLECTIONS --------------------------------------

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Collection:
    """A feature collection: what /collections says of it, and how its features are found.

    ``items(services, index, bbox, offset, limit, at)`` -> (how many match, that page of
    features; ``at`` an instant of ``datetime``, or None); ``item(services, index,
    feature_id)`` -> the feature, or a Problem.
    """

    id: str
    title: str
    description: str
    items: Callable[
        [Services, StationIndex, Box | None, int, int, datetime | None],
        tuple[int, list[Feature]],
    ]
    item: Callable[[Services, StationIndex, str], Feature]
    credit: Callable[[Services], str] | None = None  # appended to the description

    def describe(self, services: Services) -> str:
        if self.credit is None:
            return self.description
        return f"{self.description} {self.credit(services)}"


def _station_feature(services: Services, index: StationIndex, station: Station) -> Feature:
    doc = station_json(station, districts=services.districts, threshold_m=index.threshold_m)
    return feature(doc, station)


def _station_items(
    services: Services,
    index: StationIndex,
    box: Box | None,
    offset: int,
    limit: int,
    at: datetime | None,
) -> tuple[int, list[Feature]]:
    """With ``at``, the stations present then: a mobile one at the stop where it stands
    (with its ``stop_name``, ``stop_until``), left out between stops."""
    positions = index.select(bbox=box, at=at)
    shown = positions[offset : offset + limit]
    if at is None:
        page = [index.stations[p] for p in shown]
        docs = stations_json(page, districts=services.districts, threshold_m=index.threshold_m)
        return len(positions), [feature(d, s) for d, s in zip(docs, page, strict=True)]
    placed = [index.placement(p, at) for p in shown]
    page = [index.placed_station(p, at) for p in shown]
    docs = stations_json(page, districts=services.districts, threshold_m=index.threshold_m)
    for d, s, p in zip(docs, page, placed, strict=True):
        d.update(placed_fields(s, p))
    return len(positions), [feature(d, s) for d, s in zip(docs, page, strict=True)]


def _station_item(services: Services, index: StationIndex, feature_id: str) -> Feature:
    # ASCII digits only: str.isdigit also takes '²' and '٣', which int() refuses or reads.
    is_id = feature_id.isascii() and feature_id.isdigit() and len(feature_id) <= 19
    station = index.get(int(feature_id)) if is_id else None
    if station is None:
        raise Problem("station_not_found", f"no station with id {feature_id}")
    return _station_feature(services, index, station)


def _district_features(services: Services, index: StationIndex) -> list[Feature]:
    counts: dict[str, int] = {}
    for s in index.stations:
        counts[s.district_adcode] = counts.get(s.district_adcode, 0) + 1
    return [
        {
            "type": "Feature",
            "id": d.adcode,
            "geometry": shapely.geometry.mapping(d.geometry),
            "properties": {
                "adcode": d.adcode,
                "name": d.name,
                "kind": d.kind,
                "area_km2": round(d.area_m2 / 1e6, 3),
                "stations": counts.get(d.adcode, 0),
            },
        }
        for d in services.districts
    ]


def _district_items(
    services: Services,
    index: StationIndex,
    box: Box | None,
    offset: int,
    limit: int,
    at: datetime | None,  # districts are there at every instant
) -> tuple[int, list[Feature]]:
    features = _district_features(services, index)
    if box is not None:
        area = shapely.box(*box)
        features = [
            f
            for f, d in zip(features, services.districts, strict=True)
            if d.geometry.intersects(area)
        ]
    return len(features), features[offset : offset + limit]


def _district_item(services: Services, index: StationIndex, feature_id: str) -> Feature:
    found = [f for f in _district_features(services, index) if f["id"] == feature_id]
    if not found:
        raise Problem(
            "unknown_district",
            f"没有行政区划代码为 {feature_id!r} 的区县（no district with adcode {feature_id!r}）",
        )
    return found[0]


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "stations",
            "工会驿站 Union rest stations",
            "Rest stations run by trade unions, WGS-84.",
            items=_station_items,
            item=_station_item,
        ),
        Collection(
            "districts",
            "区县 Districts",
            "District boundaries with per-district station counts.",
            items=_district_items,
            item=_district_item,
            credit=lambda services: str(services.districts.source),  # the layer in use
        ),
    )
}
CollectionId = Annotated[
    str,
    Path(description="stations or districts", json_schema_extra={"enum": list(COLLECTIONS)}),
]


# Parameters that take one value: given twice, which one counts is a guess.
_SINGLE = ("f", "crs", "bbox-crs", "bbox", "limit", "offset", "datetime", "at")


def _check_query(request: Request, formats: tuple[str, ...]) -> None:
    """Refuse an ``f``, ``crs`` or ``bbox-crs`` this API does not offer (OGC: never ignore
    a parameter value the server cannot honour)."""
    query = request.query_params
    for name in _SINGLE:
        values = query.getlist(name)
        if len(values) > 1:  # the last would be taken, where a cache or proxy may read the first
            raise Problem(
                "invalid_parameter",
                f"{name} is given {len(values)} times ({', '.join(map(repr, values[:5]))}); "
                "give it once",
                errors=[{"field": name, "code": "repeated", "message": "give it once"}],
            )
    f = query.get("f")
    if f is not None and f not in formats:
        raise Problem("bad_format", f"f={f!r} is not offered here; use f={' or f='.join(formats)}")
    for name in ("crs", "bbox-crs"):
        value = query.get(name)
        if value is not None and value not in CRS84_NAMES:
            raise Problem(
                "bad_crs", f"{name}={value!r} is not offered: positions here are {CRS84} only"
            )


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


@router.get(
    "/",
    summary="OGC API landing page (JSON, or HTML with f=html); the rider page for browsers",
    description=(
        "`f=json` gets the landing page as JSON and `f=html` as an HTML page of its links. "
        "Without `f`: JSON, unless the client prefers HTML (a browser: `Accept: text/html` "
        "ranked above JSON), which gets the rider's phone page (as `/app`)."
    ),
)
def landing(request: Request, services: ServicesDep) -> Response:
    _check_query(request, ("json", "html"))
    f = request.query_params.get("f")
    if f is None and prefers_html(request):
        return page_response(request, tiles=services.settings.rider_tile_providers)
    body = _landing(site_base(request))
    response = _landing_html(body) if f == "html" else json_response(body)
    response.headers["Vary"] = "Accept"
    return response


def _landing(base: str) -> dict[str, Any]:
    return {
        "title": "yizhan 工会驿站",
        "description": "The open registry of trade-union rest stations (工会驿站).",
        "links": [
            _link(f"{base}/", "self", "application/json", "this document"),
            _link(f"{base}/?f=html", "alternate", "text/html", "this document as HTML"),
            _link(
                f"{base}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "the API definition",
            ),
            _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            _link(f"{base}/conformance", "conformance", "application/json"),
            _link(f"{base}/collections", "data", "application/json"),
            _link(f"{base}/app", "related", "text/html", "the rider's phone page"),
        ],
    }


def _landing_html(body: dict[str, Any]) -> Response:
    """The landing page as a plain HTML page of its links (nothing loaded from elsewhere)."""
    items = "".join(
        f'<li><a href="{escape(link["href"])}">{escape(link.get("title") or link["rel"])}</a> '
        f"<small>({escape(link['rel'])}, {escape(link['type'])})</small></li>"
        for link in body["links"]
    )
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(body['title'])} – OGC API</title></head><body>"
        f"<h1>{escape(body['title'])}</h1><p>{escape(body['description'])}</p>"
        "<p>OGC API – Features：GIS 软件（QGIS、GDAL）可直接读取。"
        "For GIS clients (QGIS, GDAL).</p>"
        f"<ul>{items}</ul></body></html>"
    )
    return Response(page, media_type="text/html; charset=utf-8")


@router.get("/conformance", summary="OGC API conformance classes")
def conformance(request: Request) -> Response:
    _check_query(request, ("json",))
    return json_response({"conformsTo": CONFORMANCE})


def _collection(base: str, kind: Collection, services: Services) -> dict[str, Any]:
    return {
        "id": kind.id,
        "title": kind.title,
        "description": kind.describe(services),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [_bbox(services)], "crs": CRS84}},
        "links": [
            _link(f"{base}/collections/{kind.id}", "self", "application/json"),
            _link(f"{base}/collections/{kind.id}/items", "items", GEOJSON),
        ],
    }


def _bbox(services: Services) -> list[float]:
    return [float(v) for v in services.districts.bounds]


@router.get("/collections", summary="The feature collections")
def collections(request: Request, services: ServicesDep) -> Response:
    _check_query(request, ("json",))
    base = site_base(request)
    return json_response(
        {
            "links": [_link(f"{base}/collections", "self", "application/json")],
            "collections": [_collection(base, kind, services) for kind in COLLECTIONS.values()],
        }
    )


def _find(cid: str) -> Collection:
    kind = COLLECTIONS.get(cid)
    if kind is None:
        raise Problem(
            "unknown_collection", f"no collection {cid!r}; there are: {', '.join(COLLECTIONS)}"
        )
    return kind


@router.get("/collections/{collection_id}", summary="One feature collection")
def collection(collection_id: CollectionId, request: Request, services: ServicesDep) -> Response:
    kind = _find(collection_id)
    _check_query(request, ("json",))
    return json_response(_collection(site_base(request), kind, services))


def _instant(datetime_: str | None, at: str | None) -> datetime | None:
    """The instant of ``datetime`` (OGC's name) or ``at`` (ours); an interval is refused:
    a mobile station is at no one place over one."""
    if datetime_ is not None and at is not None and datetime_ != at:
        raise Problem("invalid_parameter", "datetime and at name the same time: give one")
    text = datetime_ if datetime_ is not None else at
    if not text:
        return None
    if "/" in text:
        raise Problem(
            "invalid_parameter",
            f"datetime={text!r}: 只接受一个时刻（不接受时间段）; an instant only, not an interval",
            errors=[{"field": "datetime", "code": "interval", "message": "give one instant"}],
        )
    return parse_time(text)


@router.get("/collections/{collection_id}/items", summary="Features of a collection")
def items(
    collection_id: CollectionId,
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (CRS84)")] = None,
    limit: Annotated[
        int, Query(description=f"1–{MAX_LIMIT}", json_schema_extra=doc.between(1, MAX_LIMIT))
    ] = 100,
    offset: Annotated[int, Query(description="0 or more", json_schema_extra={"minimum": 0})] = 0,
    f: Annotated[str | None, Query(description="json or geojson (the same)")] = None,
    crs: Annotated[str | None, Query(description=f"only {CRS84}")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description=f"only {CRS84}")] = None,
    datetime_: Annotated[
        str | None,
        Query(
            alias="datetime",
            description=(
                "an instant (ISO 8601; naive: Asia/Shanghai; no intervals): the features "
                "present then. A mobile station (流动驿站) is at the stop where it stands, "
                "with `stop_name` and `stop_until`, or left out between stops"
            ),
        ),
    ] = None,
    at: Annotated[str | None, Query(description="the same as datetime (this API's name)")] = None,
) -> Response:
    kind = _find(collection_id)
    _check_query(request, ("json", "geojson"))
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise Problem("out_of_range", f"limit is 1 to {MAX_LIMIT} and offset 0 or more")
    instant = _instant(datetime_, at)
    matched, features = kind.items(services, index, parse_bbox(bbox), offset, limit, instant)
    base = f"{site_base(request)}/collections/{collection_id}/items"
    extra = f"&bbox={bbox}" if bbox else ""
    if instant is not None:
        extra += f"&datetime={quote(instant.isoformat(), safe='')}"
    links = [_link(f"{base}?limit={limit}&offset={offset}{extra}", "self", GEOJSON)]
    if offset + limit < matched:
        links.append(_link(f"{base}?limit={limit}&offset={offset + limit}{extra}", "next", GEOJSON))
    if offset > 0:
        links.append(
            _link(f"{base}?limit={limit}&offset={max(0, offset - limit)}{extra}", "prev", GEOJSON)
        )
    return json_response(
        {
            "type": "FeatureCollection",
            "timeStamp": datetime.now(TZ).isoformat(timespec="seconds"),
            "numberMatched": matched,
            "numberReturned": len(features),
            "features": features,
            "links": links,
        },
        media_type=GEOJSON,
    )


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
def item(
    collection_id: CollectionId,
    feature_id: str,
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    f: Annotated[str | None, Query(description="json or geojson (the same)")] = None,
    crs: Annotated[str | None, Query(description=f"only {CRS84}")] = None,
) -> Response:
    kind = _find(collection_id)
    _check_query(request, ("json", "geojson"))
    base = f"{site_base(request)}/collections/{collection_id}"
    doc = kind.item(services, index, feature_id)
    doc["links"] = [
        _link(f"{base}/items/{feature_id}", "self", GEOJSON),
        _link(base, "collection", "application/json"),
    ]
    return json_response(doc, media_type=GEOJSON)
