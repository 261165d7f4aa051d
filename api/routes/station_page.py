"""The station's phone page ``/s/{code}`` (its poster's QR code opens it), the reporter's
receipt page ``/s/receipt/{receipt}``, and their script and style files."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from api.deps import IndexDep, ServicesDep
from api.problems import Problem
from api.representation import station_json
from api.routes.stations import ops_of
from api.station_page import (
    RECEIPTS_KEY,
    asset_response,
    mobile_context,
    page,
    station_context,
)
from geodata.hours import TZ
from stations.domain.cases import ReceiptNotFoundError, display_receipt, parse_receipt
from stations.domain.codes import InvalidCodeError, display_code
from stations.services import posters as poster_service
from stations.services.events import station_page_events

router = APIRouter(include_in_schema=False)


def _not_found(title: str, *lines: str, status: int = 404) -> Response:
    return page("message.html", status, title=title, lines=lines)


@router.get("/s/receipt/{receipt}")
def receipt_page(receipt: str) -> Response:
    """The reporter's receipt: state, the union's reply, deadline, history; confirm or
    reopen (the page's script asks /v1/feedback/receipts/{receipt})."""
    try:  # read as the API reads it: any case, full-width, hyphens and spaces optional
        canonical = display_receipt(parse_receipt(receipt))
    except ReceiptNotFoundError:
        return _not_found("回执号有误", "请核对回执号：形如 ABCD-EFGH-JKMN。")
    if canonical != receipt:
        return RedirectResponse(f"/s/receipt/{canonical}", status_code=301)
    data = {"receipt": canonical, "receiptsKey": RECEIPTS_KEY}
    return page("receipt.html", receipt=canonical, data=data)


@router.get("/s/assets/{name}")
def station_asset(name: str, request: Request) -> Response:
    found = asset_response(name, request)
    if found is None:
        raise Problem("not_found", f"no file {name!r} here")
    return found


@router.get("/s/{code}")
def station_page(code: str, request: Request, services: ServicesDep, index: IndexDep) -> Response:
    """The station's page: state now, hours, entry, amenities, navigation, and 签到 /
    评价 / 报告问题. Any case, with or without the hyphen (301 to the canonical form)."""
    try:
        found = poster_service.station_for_code(services.store, index, code)
    except InvalidCodeError:
        return _not_found("编号有误", "这个驿站编号不对，请核对海报上的 8 位编号，或重新扫码。")
    if found.code != code:
        return RedirectResponse(f"/s/{found.code}", status_code=301)
    if found.deleted:
        lines = ["这个驿站已不再登记，附近的其他驿站可在下面查找。"]
        if found.former is not None:
            union = poster_service.union_name(found.former, services.districts)
            lines.insert(0, f"“{found.former.name}”原由{union}管理，现已撤销。")
        return _not_found("这个驿站已撤销", *lines, status=410)
    station = found.station
    if station is None:
        return _not_found("没有这个驿站", f"没有编号为 {display_code(found.code)} 的驿站。")
    now = datetime.now(TZ)
    open_now, next_change = poster_service.open_state(station, now)
    doc = station_json(
        station,
        districts=services.districts,
        threshold_m=services.settings.precise_threshold_m,
        ops=ops_of(request),  # its stars, rating and last confirmation
    )
    context = station_context(doc, open_now=open_now, next_change=next_change, now=now)
    context["mobile"] = mobile_context(station, now)
    assert station.id is not None  # a stored station (from the index)
    events = station_page_events(request.app.state.events.current(), station.id, now)
    return page("page.html", display_code=display_code(found.code), events=events, **context)
