"""Planner endpoints: per-district figures against targets, and 上图 progress over time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from api import schema_docs as doc
from api.auth import PrincipalDep
from api.deps import (
    IndexDep,
    Services,
    ServicesDep,
    networks_of,
    one_file_part,
    parse_crs_param,
    parse_time,
)
from api.problems import Problem
from api.responses import json_response
from api.uploaded import uploaded_copy
from geodata import workdays
from geodata.hours import TZ
from stations.domain.demand import DemandFileError, DemandLayer, LayerNameError
from stations.domain.figures import CITY, definitions_markdown, mapped_history
from stations.domain.jsonbytes import kept_json
from stations.domain.uploads import CrsRequiredError
from stations.formats.io import FileRefusedError, UnsupportedFormatError
from stations.readmodel.index import CacheName, StationIndex
from stations.services import planning
from stations.services.demand import save_demand_layer
from stations.services.gaps import (
    MAX_GAP_SITES,
    MAX_SPACING_M,
    MIN_SPACING_M,
    find_gaps,
    find_travel_gaps,
    gap_options,
    gaps_document,
)
from stations.services.planning import (
    TargetsFileError,
    check_area,
    counted_points,
    coverage_options,
    headline_figures,
    index_coverage,
)

router = APIRouter(prefix="/v1", tags=["planners"])


def _headline(index: StationIndex, services: Services) -> dict[str, dict[str, Any]]:
    try:
        return headline_figures(
            index,
            services.districts,
            targets_file=services.settings.targets_file,
            today=datetime.now(TZ).date(),
        )
    except TargetsFileError as exc:
        raise Problem("internal_error", f"the targets file is broken: {exc}") from None


FIGURES_DOC = (
    "The headline figures, the same in `yizhan summary`, here and (by day) in "
    "`/v1/history/mapped`:\n\n" + definitions_markdown()
)


@router.get(
    "/districts",
    summary="Per-district figures for planners, with targets",
    description=(
        "For each district and the city: stations by status; 上图 counts and rates (listed "
        "with the keyword 工会驿站 on each provider, on all three, and precisely on all three; "
        "rates are shares of `stations_active`); 24-hour self-service sites; signage rate; "
        "1 km coverage and cross coverage; and progress against the targets file "
        "(YIZHAN_TARGETS_FILE), with what is overdue. `holiday_calendar` says until which "
        'year "open" follows published holidays, with a warning where it does not.\n\n'
        + FIGURES_DOC
    ),
)
def districts(index: IndexDep, services: ServicesDep) -> Response:
    docs = _headline(index, services)
    return json_response(
        {
            "city": docs[CITY],
            "districts": [docs[d.adcode] for d in services.districts],
            "precise_threshold_m": index.threshold_m,
            "holiday_calendar": workdays.calendar_status(datetime.now(TZ).date()),
        }
    )


@router.get(
    "/districts/{adcode}",
    summary="One district's figures",
    description="One district's (or, for `city`, the city's) figures.\n\n" + FIGURES_DOC,
)
def district(adcode: str, index: IndexDep, services: ServicesDep) -> Response:
    if adcode != CITY and adcode not in services.districts:
        raise Problem(
            "unknown_district",
            f"没有行政区划代码为 {adcode!r} 的区县或省份（no district with adcode {adcode!r}）",
        )
    return json_response(_headline(index, services)[adcode])


# The serialised /v1/history/mapped answer of a snapshot, by precise threshold.
MAPPED_HISTORY = CacheName[float, bytes]("mapped_history", max_entries=4)


@router.get(
    "/history/mapped",
    summary="上图 progress over time (from the audit trail)",
    description=(
        "Per day with changes: `active`, `listed_all` and `precise_all` as they stood at the "
        "end of that day; the last day's are today's `/v1/districts` city figures.\n\n"
        + definitions_markdown(("stations_active", "listed_all", "precise_all"))
    ),
)
def history(index: IndexDep, services: ServicesDep) -> Response:
    # Kept per day in the store (updated by every write); the answer once per snapshot.
    def answer() -> bytes:
        days = services.store.mapped_history_days(threshold_m=index.threshold_m)
        return kept_json(mapped_history(days))

    found = index.cache(MAPPED_HISTORY).get_or_compute(index.threshold_m, answer)
    return Response(found, media_type="application/json")


# -- coverage ------------------------------------------------------------------------------


def find_demand_layer(services: Services, name: str | None) -> DemandLayer | None:
    return planning.find_demand_layer(services.store, name)


RadiusParam = Annotated[
    float,
    Query(
        description="reach of a station in metres (1 km is a 15-minute walk)",
        json_schema_extra=doc.RADIUS_M,
    ),
]


RadiusOrNone = Annotated[
    float | None,
    Query(
        description="reach of a station in metres along the straight line (default 1000: "
        "1 km stands in for a 15-minute walk); not with `travel`",
        json_schema_extra=doc.RADIUS_M,
    ),
]
TravelParam = Annotated[
    str | None,
    Query(
        description="walk | ebike: coverage by travel time along the street network "
        "(`yizhan network import`); default: the straight line (`radius_m`)",
        json_schema_extra=doc.enum("walk", "ebike", "straight"),
    ),
]
MinutesParam = Annotated[
    int | None,
    Query(
        description="with `travel`: the travel time, minutes (default 15)",
        json_schema_extra=doc.between(planning.MIN_MINUTES, planning.MAX_MINUTES),
    ),
]


@router.get("/coverage", summary="Service coverage (双15) per district and for the city")
def get_coverage(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    radius_m: RadiusOrNone = None,
    min_stations: Annotated[
        int,
        Query(
            description="cross coverage: within reach of at least this many stations",
            json_schema_extra=doc.between(planning.MIN_CROSS, planning.MAX_CROSS),
        ),
    ] = 2,
    at: Annotated[
        str | None,
        Query(
            description="count only stations open at this time (ISO 8601, Asia/Shanghai); "
            "default: every active station, whatever its hours",
            json_schema_extra=doc.TIME,
        ),
    ] = None,
    district: Annotated[
        str | None,
        Query(
            description="one district's adcode, or a province's 2-digit code (its districts "
            "and `province`, their sum); default all and the city"
        ),
    ] = None,
    demand: Annotated[
        str | None, Query(description="a demand layer's name (GET /v1/demand) to weigh by")
    ] = None,
    travel: TravelParam = None,
    minutes: MinutesParam = None,
) -> Response:
    """Share of each district's area within `radius_m` of at least one station (`share`) and
    of at least `min_stations` (`cross_share`), measured exactly in a projection chosen for
    the district. With `at`, only stations open then count (at 02:00 on a weekday, only the
    24-hour sites). With `demand`, also the weighted share of demand points in reach.

    With `travel=walk` (or `ebike`) and `minutes`: the share within that travel time along
    the street network instead (cells of `cell_m` snapped to their nearest way within
    `walk_in_m`, the walk-in counted in the time); 409 `network_not_loaded` without one.
    `network_km2` is the part of a district inside the network's extent: a district wholly
    outside has `share` null (unknown, not 0), and the city's share is over the others."""
    chosen = planning.travel_options(
        travel,
        minutes=minutes,
        radius_m=radius_m,
        min_stations=min_stations,
        cell_m=services.settings.network_cell_m,
    )
    check_area(services.districts, district)
    when = parse_time(at) if at else None
    layer = find_demand_layer(services, demand)
    if chosen is not None:
        networks = networks_of(request)
        return json_response(
            planning.travel_coverage_document(
                index, services.districts, networks, chosen, at=when, demand=layer, only=district
            )
        )
    options = coverage_options(1000.0 if radius_m is None else radius_m, min_stations)
    figures_ = index_coverage(
        index, services.districts, options, at=when, demand=layer, only=district
    )
    return json_response(
        {
            "radius_m": options.radius_m,
            "min_stations": options.min_stations,
            "at": when.isoformat() if when else None,
            "demand": layer.summary() if layer else None,
            "stations_counted": counted_points(index, when).stations,
            "city": figures_.get(CITY),
            **({"province": figures_[district]} if district and len(district) == 2 else {}),
            "districts": [figures_[d.adcode] for d in services.districts if d.adcode in figures_],
        }
    )


@router.get("/gaps", summary="Where the next stations would cover the most")
def get_gaps(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    n: Annotated[
        int,
        Query(description="how many sites (1–50)", json_schema_extra=doc.between(1, MAX_GAP_SITES)),
    ] = 10,
    radius_m: RadiusOrNone = None,
    district: Annotated[
        str | None,
        Query(description="limit to one district, or a province's districts (2-digit code)"),
    ] = None,
    demand: Annotated[
        str | None,
        Query(description="a demand layer to cover; default: area (a fine grid of the district)"),
    ] = None,
    spacing_m: Annotated[
        float,
        Query(
            description="candidate grid spacing in metres (250–5000)",
            json_schema_extra=doc.between(MIN_SPACING_M, MAX_SPACING_M),
        ),
    ] = 1000.0,
    travel: TravelParam = None,
    minutes: MinutesParam = None,
) -> Response:
    """Greedy maximal covering: each suggested site (from a grid of candidates inside the
    districts) is the one covering the most demand (or area) not yet within `radius_m` of a
    station or an earlier pick; `gain` is what it adds (demand weight, or km² measured as
    `/v1/coverage` measures area: at most π·radius_m²), `share_after` the coverage after it
    (consecutive `share_after` differ by `gain` over the total demand or area).

    With `travel=walk|ebike` and `minutes`: candidates are network cells about `spacing_m`
    apart, and each pick covers the most area (or demand) not yet within that travel time
    along the street network (one bounded search per candidate)."""
    options = gap_options(
        services.districts,
        n=n,
        radius_m=radius_m,
        spacing_m=spacing_m,
        district=district,
        travel=travel,
        minutes=minutes,
        cell_m=services.settings.network_cell_m,
    )
    layer = find_demand_layer(services, demand)
    if options.travel is not None:
        networks = networks_of(request)
        found = find_travel_gaps(index, services.districts, networks, options, demand=layer)
    else:
        found = find_gaps(index, services.districts, options, demand=layer)
    return json_response(gaps_document(found, options, layer, services.districts))


# -- demand layers -------------------------------------------------------------------------


@router.get("/demand", summary="Demand layers (where outdoor workers are)")
def list_demand(services: ServicesDep) -> Response:
    return json_response({"layers": services.store.list_demand()})


@router.get("/demand/{name}", summary="One demand layer, as GeoJSON points")
def get_demand(name: str, services: ServicesDep) -> Response:
    layer = find_demand_layer(services, name)
    assert layer is not None
    labels = layer.labels or ("",) * len(layer)
    return Response(
        orjson.dumps(
            {
                "type": "FeatureCollection",
                "name": layer.name,
                "summary": layer.summary(),
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [x, y]},
                        "properties": {"weight": w, "label": label},
                    }
                    for x, y, w, label in zip(
                        layer.lon.tolist(),
                        layer.lat.tolist(),
                        layer.weight.tolist(),
                        labels,
                        strict=True,
                    )
                ],
            }
        ),
        media_type="application/geo+json",
    )


@router.put(
    "/demand/{name}",
    summary="Upload a demand layer (replaces one of that name)",
    dependencies=[Depends(one_file_part)],
)
def put_demand(
    name: str,
    by: PrincipalDep,
    services: ServicesDep,
    file: Annotated[
        UploadFile,
        File(description="CSV/XLSX with lon,lat[,weight][,label] (经度,纬度,权重) or GeoJSON"),
    ],
    crs: Annotated[
        str | None,
        Form(
            description="wgs84 | gcj02 (copied from Amap/Tencent) | bd09 (Baidu) | cgcs2000; "
            "required unless the file is GeoJSON (WGS-84 by RFC 7946)"
        ),
    ] = None,
) -> Response:
    """All or nothing: a file with any bad row is refused with every problem listed by row
    (missing or non-numeric positions, negative weights, points outside the districts, or
    for a district union outside its own district), and the stored layer is unchanged.
    A layer belongs to the union that made it: only it or the city union may replace it."""
    system = parse_crs_param(crs) if crs else None
    filename = Path(file.filename or "demand.csv").name
    stored_as = f"demand{Path(filename).suffix.lower() or '.csv'}"
    with uploaded_copy(file, stored_as, prefix="yizhan-demand-") as path:
        try:
            saved = save_demand_layer(
                services.store,
                services.districts,
                by,
                name,
                path,
                crs=system,
                limits=services.settings.file_limits,
                filename=filename,
            )
        except LayerNameError as exc:
            raise Problem("invalid_parameter", str(exc)) from None
        except CrsRequiredError as exc:
            raise Problem("crs_required", str(exc)) from None
        except UnsupportedFormatError as exc:
            raise Problem("unsupported_file", f"{filename}: {exc}") from None
        except DemandFileError as exc:
            raise Problem(
                "validation_failed",
                f"{filename}: {len(exc.problems)} row(s) have problems; nothing was stored",
                errors=[p.as_dict() for p in exc.problems[:1000]],
            ) from None
        except FileRefusedError as exc:
            raise Problem(exc.code, str(exc)) from None
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise Problem("bad_file", f"{filename}: 文件无法读取：{exc}") from None
    return json_response(saved.summary())


@router.delete("/demand/{name}", status_code=204, summary="Remove a demand layer")
def delete_demand(name: str, by: PrincipalDep, services: ServicesDep) -> Response:
    """Only the layer's owner or the city union may remove it."""
    find_demand_layer(services, name)  # a bad name is refused the same way on both stores
    if not services.store.delete_demand(name, may_delete=by.may_change_demand):
        raise Problem("not_found", f"no demand layer {name!r}")
    return Response(status_code=204)
