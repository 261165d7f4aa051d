"""Health and problem types: the service's own routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from api import problem_docs, problems
from api.deps import ServicesDep
from geodata import workdays
from geodata.hours import TZ

router = APIRouter(tags=["service"])


@router.get(
    "/healthz",
    summary="Liveness, registry version and holiday calendar, for load balancers",
    description=(
        "200 while this worker can answer from a current registry; 503 "
        "/problems/database_unavailable while its database cannot be reached. "
        "`holiday_calendar` says until which year China's official calendar is known "
        "(a warning when the next year is not yet)"
    ),
)
def healthz(services: ServicesDep) -> Response:
    """``holiday_calendar``: the last year of published holidays and 调休 days, and a
    ``warning`` when this year or the next must be computed by rule (README: updating
    the holiday calendar)."""
    index = services.index.current()
    body: dict[str, Any] = {"status": "ok", "stations": len(index), "version": index.version}
    body["holiday_calendar"] = workdays.calendar_status(datetime.now(TZ).date())
    if services.store.read_only:
        body["read_only"] = True  # a read replica's: writes go to the primary
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/problems/{code}",
    summary="What a problem type means",
    description=(
        "The type's title and status, and `explanation`: what happened and how to fix it, "
        "in Chinese (`zh`) and English (`en`)."
    ),
)
def problem_type(code: str) -> Response:
    if code not in problems.PROBLEMS:
        raise problems.Problem("not_found", f"no problem type {code!r}")
    status, title = problems.PROBLEMS[code]
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status}
    explained = problem_docs.EXPLANATIONS.get(code)
    if explained is not None:
        body["explanation"] = explained.as_dict()
    return Response(orjson.dumps(body), media_type="application/json")
