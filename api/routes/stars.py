"""Star ratings (星级评定): the stars for everyone, the score and reasons for the station's
union and the city union, 最美驿站 candidates, a new computation (the city union)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import IndexDep, ServicesDep, StationId
from api.problems import Problem
from api.responses import json_response
from geodata.hours import TZ
from stations.domain.stars import StarRule
from stations.readmodel.ops import OpsModel
from stations.services import stars as stars_service

router = APIRouter(prefix="/v1", tags=["stars"])

Adcode = Annotated[str, Path(description="6-digit adcode", pattern=r"^\d{6}$")]


def rule_of(request: Request) -> StarRule:
    """The star-rating rule the app started with (stars.toml or ``stars_file``)."""
    rule: StarRule = request.app.state.stars_rule
    return rule


def _district(services: ServicesDep, district: str | None) -> str | None:
    if district is not None and services.districts.find(district) is None:
        raise Problem(
            "unknown_district",
            f"没有行政区划代码为 {district} 的区县（no district with adcode {district}）",
        )
    return district


@router.get(
    "/stars",
    summary="Each station's stars (1–5, null: not yet rated)",
    description="Public: the stars only; the score and reasons are the station's union's.",
)
def list_stars(
    index: IndexDep,
    services: ServicesDep,
    district: Annotated[str | None, Query(description="6-digit adcode", pattern=r"^\d{6}$")] = None,
) -> Response:
    chosen = _district(services, district)
    items = stars_service.public_stars(services.store, index, chosen)
    return json_response({"count": len(items), "items": items})


@router.get(
    "/stations/{station_id}/stars",
    summary="A station's stars with the score and reasons (its union, the city union)",
)
def get_station_stars(
    station_id: StationId, index: IndexDep, services: ServicesDep, by: PrincipalDep
) -> Response:
    doc = stars_service.station_stars(by, services.store, index, station_id)
    if doc is None:
        station = index.get(station_id)
        doc = {
            "station_id": station_id,
            "name": station.name if station else None,
            "stars": None,
            "score": None,
            "reasons": [],
            "computed_at": None,
        }
    return json_response(doc)


def _candidate(c: stars_service.Candidate) -> dict[str, Any]:
    return {
        "station_id": c.station_id,
        "name": c.name,
        "district_adcode": c.district_adcode,
        "stars": c.stars,
        "score": c.score,
    }


@router.get(
    "/districts/{adcode}/candidates",
    summary="A district's 最美驿站 candidates",
    description=(
        "5 stars at the latest rating, no open rectification, an unannounced spot check "
        f"passed in the last year; the {stars_service.CANDIDATES_TOP} best scores."
    ),
)
def district_candidates(adcode: Adcode, index: IndexDep, services: ServicesDep) -> Response:
    chosen = _district(services, adcode)
    found = stars_service.candidates(services.store, index, datetime.now(TZ), district=chosen)
    items = [_candidate(c) for c in found.get(adcode, [])]
    return json_response({"district_adcode": adcode, "count": len(items), "items": items})


@router.post(
    "/stars/compute",
    summary="Compute every station's stars again (the city union)",
)
def compute(request: Request, index: IndexDep, services: ServicesDep, by: PrincipalDep) -> Response:
    rows = stars_service.compute_stars_as(
        by, services.store, index, rule_of(request), datetime.now(TZ)
    )
    model: OpsModel = request.app.state.ops
    model.invalidate()
    by_stars = {str(n): sum(1 for r in rows if r.stars == n) for n in range(1, 6)}
    return json_response(
        {"computed": len(rows), "by_stars": by_stars, "rules_version": rule_of(request).version}
    )
