"""Planner endpoints: per-district figures against targets, and 上图 progress over time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from geodata.hours import TZ
from stations.figures import CITY, figures, load_targets, mapped_history, progress

from .deps import IndexDep, ServicesDep
from .problems import Problem

router = APIRouter(prefix="/v1", tags=["planners"])


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


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


@router.get("/districts", summary="Per-district figures for planners, with targets")
def districts(index: IndexDep, services: ServicesDep) -> Response:
    """For each district and the city: stations by status; 上图 rates (listed with the
    keyword 工会驿站 on each provider, on all three, and precisely on all three) as shares
    of active stations; 24-hour self-service sites; signage rate; and progress against the
    targets file (YIZHAN_TARGETS_FILE), with what is overdue."""
    docs = _figures(index, services)
    targets = _targets(services, docs)
    for doc in docs.values():
        doc["targets"] = [t for t in targets if t["key"] == doc["key"]]
    return _json(
        {
            "city": docs[CITY],
            "districts": [docs[d.adcode] for d in services.districts],
            "precise_threshold_m": services.settings.precise_threshold_m,
        }
    )


@router.get("/districts/{adcode}", summary="One district's figures")
def district(adcode: str, index: IndexDep, services: ServicesDep) -> Response:
    if adcode != CITY and adcode not in services.districts:
        raise Problem("unknown_district", f"no district with adcode {adcode!r}")
    docs = _figures(index, services)
    doc = docs[adcode]
    doc["targets"] = [t for t in _targets(services, docs) if t["key"] == adcode]
    return _json(doc)


@router.get("/history/mapped", summary="上图 progress over time (from the audit trail)")
def history(services: ServicesDep) -> Response:
    """Per day with changes: active stations, those listed with the keyword on all three
    providers, and those listed precisely."""
    return _json(
        mapped_history(services.store.audit(), threshold_m=services.settings.precise_threshold_m)
    )
