"""Planner endpoints: per-district figures against targets, and 上图 progress over time."""

from __future__ import annotations

import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from starlette.responses import Response

from api import schema_docs as doc
from api.auth import PrincipalDep
from api.deps import IndexDep, Services, ServicesDep, one_file_part, parse_crs_param, parse_time
from api.problems import Problem
from api.responses import json_response
from geodata import workdays
from geodata.coverage import (
    AreaTooLargeError,
    Gap,
    area_gaps,
    candidate_grid,
    gap_pairs_estimate,
    greedy_gaps,
)
from geodata.hours import TZ
from stations.domain.demand import DemandFileError, DemandLayer, LayerNameError, check_layer_name
from stations.domain.figures import (
    CITY,
    definitions_markdown,
    figures,
    load_targets,
    mapped_history,
    progress,
)
from stations.domain.model import Status
from stations.domain.uploads import CrsRequiredError
from stations.formats.io import FileRefusedError, UnsupportedFormatError
from stations.readmodel.index import StationIndex
from stations.services.demand import save_demand_layer
from stations.services.planning import CoverageOptions, coverage_figures, coverage_figures_work

router = APIRouter(prefix="/v1", tags=["planners"])


def _figures(index: IndexDep, services: ServicesDep) -> dict[str, dict[str, Any]]:
    names = {d.adcode: d.name for d in services.districts}
    out = figures(index.stations, names, threshold_m=services.settings.precise_threshold_m)
    docs = {k: f.as_dict() for k, f in out.items()}
    for d in services.districts:
        docs[d.adcode]["area_km2"] = round(d.area_m2 / 1e6, 3)
        active = docs[d.adcode]["stations_active"]
        docs[d.adcode]["stations_per_100km2"] = round(active / (d.area_m2 / 1e8), 3)
    return docs


def _targets(services: ServicesDep, docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    path = services.settings.targets_file
    if path is None:
        return []
    try:
        targets = load_targets(path)
    except ValueError as exc:
        raise Problem("internal_error", f"the targets file is broken: {exc}") from None
    return progress(targets, docs, today=datetime.now(TZ).date())


def _add_coverage(docs: dict[str, dict[str, Any]], services: Services, index: StationIndex) -> None:
    """Each district's coverage and cross coverage at the defaults; None for all of them
    when the registry is too large to measure them in one request (GET /v1/coverage with
    a district then tells the figures one district at a time), or a district too large
    to measure in one piece."""
    try:
        cover = _coverage(services, index, CoverageOptions(), at=None, demand=None)
    except AreaTooLargeError:
        cover = {}
    except Problem as exc:
        if exc.code != "too_much_work":
            raise
        cover = {}
    for key, figs in docs.items():
        c = cover.get(key)
        figs["coverage"] = c["share"] if c else None
        figs["cross_coverage"] = c["cross_share"] if c else None


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
    docs = _figures(index, services)
    _add_coverage(docs, services, index)
    targets = _targets(services, docs)
    for d in docs.values():
        d["targets"] = [t for t in targets if t["key"] == d["key"]]
    return json_response(
        {
            "city": docs[CITY],
            "districts": [docs[d.adcode] for d in services.districts],
            "precise_threshold_m": services.settings.precise_threshold_m,
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
        raise Problem("unknown_district", f"no district with adcode {adcode!r}")
    docs = _figures(index, services)
    _add_coverage(docs, services, index)
    found = docs[adcode]
    found["targets"] = [t for t in _targets(services, docs) if t["key"] == adcode]
    return json_response(found)


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
    memo = index.memo.setdefault("mapped_history", {})
    threshold_m = services.settings.precise_threshold_m
    found = memo.get(threshold_m)
    if found is None:
        days = services.store.mapped_history_days(threshold_m=threshold_m)
        found = memo[threshold_m] = orjson.dumps(mapped_history(days))
    return Response(found, media_type="application/json")


# -- coverage ------------------------------------------------------------------------------

MAX_RADIUS_M = 10_000.0


def _counted(index: StationIndex, at: datetime | None) -> tuple[np.ndarray, bytes]:
    """Positions of the stations that count: active ones, or those open at ``at``."""
    if at is None:
        mask = index.status == list(Status).index(Status.ACTIVE)
        return np.flatnonzero(mask), b"all"
    mask, key = index.open_mask(at)
    return np.flatnonzero(mask), key


def _coverage(
    services: Services,
    index: StationIndex,
    options: CoverageOptions,
    *,
    at: datetime | None,
    demand: DemandLayer | None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Coverage figures, kept for this snapshot of the registry (they take seconds)."""
    positions, open_key = _counted(index, at)
    layer_key = (demand.name, demand.updated_at) if demand is not None else None
    key = (options, open_key, layer_key, only)
    memo = index.memo.setdefault("coverage", {})
    found = memo.get(key)
    if found is None:
        lon, lat = index.nearest.lon[positions], index.nearest.lat[positions]
        _check_coverage_work(services, lon, lat, options, only=only)
        # One computation at a time per snapshot: a request that comes while the start-up
        # warm-up (or another request) computes the same figures waits for them.
        with index.memo.setdefault("coverage_lock", threading.Lock()):
            found = memo.get(key)
            if found is None:
                if len(memo) >= 64:
                    memo.clear()
                found = memo[key] = coverage_figures(
                    services.districts, lon, lat, options=options, demand=demand, only=only
                )
    return found


# One coverage request may weigh at most this much work (see coverage_work_estimate; a unit
# is 50-250 µs here: mostly under 10 s; memory stays near the discs' size). Measured over
# the whole city (area and cross coverage of all 38 districts):
#                                       5,500 sample stations    20,000 in Chongqing
#   radius 1 km, min_stations 2 (the default)   ~30,000  1.2 s       ~107,000  6.3 s
#   radius 10 km, min_stations 2                ~53,000  4.6 s       ~191,000 13 s
#   radius 10 km, min_stations 10              ~194,000 18 s         ~700,000 79 s
# One district at 10 km and min_stations 10 over 20,000 stations weighs at most ~58,000 (5 s);
# the limit, 150,000, lets the whole city at the default go to ~25,000 stations.
MAX_COVERAGE_WORK = 150_000


def _check_coverage_work(
    services: Services,
    lon: np.ndarray,
    lat: np.ndarray,
    options: CoverageOptions,
    *,
    only: str | None,
) -> None:
    work = coverage_figures_work(services.districts, lon, lat, options=options, only=only)
    if work > MAX_COVERAGE_WORK:
        where = f"district {only}" if only else "every district"
        raise Problem(
            "too_much_work",
            f"coverage of {where} at radius_m={options.radius_m:g} with "
            f"min_stations={options.min_stations} over {len(lon):,} stations would weigh about "
            f"{work:,.0f} units; one request may weigh {MAX_COVERAGE_WORK:,}: choose a "
            "district, a smaller radius_m or a smaller min_stations",
        )


def find_demand_layer(services: Services, name: str | None) -> DemandLayer | None:
    if name is None:
        return None
    try:
        check_layer_name(name)  # a name no layer can have (PostgreSQL refuses a NUL in it)
    except ValueError as exc:
        raise Problem("invalid_parameter", f"demand: {exc}") from None
    layer = services.store.find_demand(name)
    if layer is None:
        known = [d["name"] for d in services.store.list_demand()]
        raise Problem("not_found", f"no demand layer {name!r}; layers: {known}")
    return layer


RadiusParam = Annotated[
    float,
    Query(
        description="reach of a station in metres (1 km is a 15-minute walk)",
        json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_RADIUS_M},
    ),
]


def _options(radius_m: float, min_stations: int) -> CoverageOptions:
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise Problem("out_of_range", f"radius_m is more than 0 and at most {MAX_RADIUS_M:.0f}")
    if not 2 <= min_stations <= 10:
        raise Problem("out_of_range", "min_stations (cross coverage) is 2 to 10")
    return CoverageOptions(radius_m=radius_m, min_stations=min_stations)


@router.get("/coverage", summary="Service coverage (双15) per district and for the city")
def get_coverage(
    index: IndexDep,
    services: ServicesDep,
    radius_m: RadiusParam = 1000.0,
    min_stations: Annotated[
        int,
        Query(
            description="cross coverage: within reach of at least this many stations",
            json_schema_extra=doc.between(2, 10),
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
        str | None, Query(description="one district's adcode; default all and the city")
    ] = None,
    demand: Annotated[
        str | None, Query(description="a demand layer's name (GET /v1/demand) to weigh by")
    ] = None,
) -> Response:
    """Share of each district's area within `radius_m` of at least one station (`share`) and
    of at least `min_stations` (`cross_share`), measured exactly in a projection chosen for
    the district. With `at`, only stations open then count (at 02:00 on a weekday, only the
    24-hour sites). With `demand`, also the weighted share of demand points in reach."""
    options = _options(radius_m, min_stations)
    if district is not None and district not in services.districts:
        raise Problem("unknown_district", f"no district with adcode {district!r}")
    when = parse_time(at) if at else None
    layer = find_demand_layer(services, demand)
    figures_ = _coverage(services, index, options, at=when, demand=layer, only=district)
    positions, _ = _counted(index, when)
    return json_response(
        {
            "radius_m": options.radius_m,
            "min_stations": options.min_stations,
            "at": when.isoformat() if when else None,
            "demand": layer.summary() if layer else None,
            "stations_counted": len(positions),
            "city": figures_.get(CITY),
            "districts": [figures_[d.adcode] for d in services.districts if d.adcode in figures_],
        }
    )


# One gaps request may weigh at most this many (candidate, demand point) pairs: ~8 bytes
# and a few nanoseconds a greedy step each (20 million: ~160 MB, a few seconds). The whole
# city at the default 1 km grid and radius is ~1 million; a large district at 250 m, ~11.
MAX_GAP_PAIRS = 20_000_000


def _check_gap_work(candidates: int, demand: int, spacing_m: float, radius_m: float) -> None:
    pairs = gap_pairs_estimate(candidates, demand, spacing_m=spacing_m, radius_m=radius_m)
    if pairs > MAX_GAP_PAIRS:
        raise Problem(
            "too_much_work",
            f"this search would weigh about {pairs / 1e6:,.0f} million candidate-demand pairs "
            f"({candidates:,} candidates, {demand:,} demand points, radius {radius_m:g} m); "
            f"one request may weigh {MAX_GAP_PAIRS / 1e6:,.0f} million: choose a district, "
            "a wider spacing_m or a smaller radius_m",
        )


@router.get("/gaps", summary="Where the next stations would cover the most")
def get_gaps(
    index: IndexDep,
    services: ServicesDep,
    n: Annotated[
        int, Query(description="how many sites (1–50)", json_schema_extra=doc.between(1, 50))
    ] = 10,
    radius_m: RadiusParam = 1000.0,
    district: Annotated[str | None, Query(description="limit to one district")] = None,
    demand: Annotated[
        str | None,
        Query(description="a demand layer to cover; default: area (a fine grid of the district)"),
    ] = None,
    spacing_m: Annotated[
        float,
        Query(
            description="candidate grid spacing in metres (250–5000)",
            json_schema_extra=doc.between(250, 5000),
        ),
    ] = 1000.0,
) -> Response:
    """Greedy maximal covering: each suggested site (from a grid of candidates inside the
    districts) is the one covering the most demand (or area) not yet within `radius_m` of a
    station or an earlier pick; `gain` is what it adds (demand weight, or km² measured as
    `/v1/coverage` measures area: at most π·radius_m²), `share_after` the coverage after it
    (consecutive `share_after` differ by `gain` over the total demand or area)."""
    options = _options(radius_m, 2)
    if not 1 <= n <= 50:
        raise Problem("out_of_range", "n is 1 to 50")
    if not 250 <= spacing_m <= 5000:
        raise Problem("out_of_range", "spacing_m is 250 to 5000")
    if district is not None and district not in services.districts:
        raise Problem("unknown_district", f"no district with adcode {district!r}")
    areas = [d for d in services.districts if district is None or d.adcode == district]
    layer = find_demand_layer(services, demand)
    positions, _ = _counted(index, None)
    station_lon, station_lat = index.nearest.lon[positions], index.nearest.lat[positions]
    if layer is not None:
        cx, cy = _concat(candidate_grid(d.geometry, spacing_m=spacing_m) for d in areas)
        inside = np.isin(services.districts.lookup(layer.lon, layer.lat), [d.adcode for d in areas])
        dx, dy, w = layer.lon[inside], layer.lat[inside], layer.weight[inside]
        unit = "demand weight"
        _check_gap_work(len(cx), len(dx), spacing_m, options.radius_m)
        candidates = len(cx)
        gaps = greedy_gaps(
            cx,
            cy,
            demand_lon=dx,
            demand_lat=dy,
            weight=w,
            station_lon=station_lon,
            station_lat=station_lat,
            n=n,
            radius_m=options.radius_m,
        )
    else:
        # Area: measured exactly, as /v1/coverage measures it (from its figures, if kept).
        unit = "km²"
        # The same budget as when area was sampled four points per candidate cell.
        cells = int(sum(d.area_m2 for d in areas) / spacing_m**2)
        _check_gap_work(cells, 4 * cells, spacing_m, options.radius_m)
        # The whole city's figures (kept since the warm-up) hold every district's.
        city_kept = (options, b"all", None, None) in index.memo.get("coverage", {})
        only = None if city_kept else district
        cover = _coverage(services, index, options, at=None, demand=None, only=only)
        covered_m2 = sum(cover[d.adcode]["covered_km2"] for d in areas) * 1e6
        try:
            found = area_gaps(
                [d.geometry for d in areas],
                station_lon=station_lon,
                station_lat=station_lat,
                n=n,
                radius_m=options.radius_m,
                spacing_m=spacing_m,
                covered_m2=covered_m2,
            )
        except AreaTooLargeError as exc:
            raise Problem("too_much_work", str(exc)) from None
        gaps = [Gap(g.lon, g.lat, g.gain / 1e6, g.share) for g in found.sites]
        candidates = found.candidates
    lookup = services.districts.lookup
    return json_response(
        {
            "radius_m": options.radius_m,
            "unit": unit,
            "demand": layer.summary() if layer else None,
            "candidates": candidates,
            "sites": [
                {
                    "rank": i,
                    "lon": round(g.lon, 6),
                    "lat": round(g.lat, 6),
                    "district_adcode": str(lookup(g.lon, g.lat)),
                    "gain": round(g.gain, 3),
                    "share_after": round(g.share, 6),
                }
                for i, g in enumerate(gaps, start=1)
            ],
        }
    )


def _concat(pairs: Any) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*pairs, strict=True) if pairs else ((), ())
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)


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
    with tempfile.TemporaryDirectory(prefix="yizhan-demand-") as tmp:
        path = Path(tmp) / f"demand{Path(filename).suffix.lower() or '.csv'}"
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
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
