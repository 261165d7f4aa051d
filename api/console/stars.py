"""星级评定: each station's stars, score and reasons (the union's own stations; the city
union every one, by district), 最美驿站 candidates per district, and 重新评定 (the city
union). Parse → stations.services.stars (the rules of /v1/stars) → render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import Services, ServicesDep
from api.routes.stars import rule_of
from geodata.hours import TZ
from stations.domain.errors import ForbiddenError
from stations.readmodel.ops import OpsModel
from stations.services import stars as stars_service

router = APIRouter(include_in_schema=False)
MAX_ROWS = 300  # stations listed at once; beyond, the page asks for a district


def stars_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    district: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    index = services.index.current()
    chosen = district if district and services.districts.find(district) else None
    ratings = [
        r
        for r in stars_service.union_ratings(user.principal, services.store, index)
        if chosen is None or r["district_adcode"] == chosen
    ]
    names = {d.adcode: d.name for d in services.districts}
    scope = chosen if chosen else user.principal.planning_scope
    found = stars_service.candidates(services.store, index, datetime.now(TZ), district=scope)
    return render(
        request,
        "stars.html",
        user=user,
        status_code=status_code,
        ratings=ratings[:MAX_ROWS],
        total=len(ratings),
        max_rows=MAX_ROWS,
        candidates=found,
        district=chosen,
        district_names=names,
        districts=sorted(names.items()) if user.is_city else [],
        computed_at=max((r["computed_at"] for r in ratings), default=None),
        rules_version=rule_of(request).version,
        **context,
    )


@router.get("/console/stars")
def stars(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    district: str | None = None,
    notice: str | None = None,
) -> Response:
    shown = {"computed": "已重新评定全部驿站的星级"}.get(notice or "")
    return stars_page(request, services, user, district=district, notice=shown)


@router.post("/console/stars/compute")
def compute(request: Request, services: ServicesDep, user: FormUserDep) -> Response:
    """重新评定 (the city union): every station's stars now; back to the page."""
    try:
        stars_service.compute_stars_as(
            user.principal,
            services.store,
            services.index.current(),
            rule_of(request),
            datetime.now(TZ),
        )
    except ForbiddenError as exc:
        return stars_page(request, services, user, district=None, status_code=403, error=str(exc))
    model: OpsModel = request.app.state.ops
    model.invalidate()
    return RedirectResponse("/console/stars?notice=computed", status_code=303)
