"""RFC 9457 problem details: one table maps every domain error to an HTTP status and type."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from geodata.coverage import AreaTooLargeError
from geodata.districts import UnknownDistrictError
from geodata.hours import HoursError
from stations.domain.errors import (
    BusyError,
    InvalidOptionError,
    StoreError,
    TooManyAtOnceError,
    UnknownCrsError,
)
from stations.domain.feedback import InvalidFeedbackError, TooManyRequestsError
from stations.domain.inspections import InvalidInspectionError
from stations.domain.travel import NetworkError, OffNetworkError
from stations.domain.uploads import ClosuresUnconfirmedError, CrsRequiredError
from stations.domain.validation import ValidationError
from stations.formats.io import FileRefusedError, SheetChoiceError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("yizhan.api")

# code -> (HTTP status, title). The type URI is /problems/<code>; codes never change.
PROBLEMS: dict[str, tuple[int, str]] = {
    "station_not_found": (404, "No such station"),
    "not_found": (404, "Not found"),
    "unknown_collection": (404, "No such collection"),
    "unknown_district": (404, "No such district"),
    "bad_coordinates": (422, "Coordinates are not valid"),
    "outside_china": (422, "The point is outside China"),
    "unknown_amenity": (422, "Unknown amenity"),
    "unknown_status": (422, "Unknown station status"),
    "out_of_range": (422, "A parameter is out of range"),
    "too_much_work": (422, "The request asks for more work than one request may do"),
    "network_not_loaded": (409, "No street network is loaded for this way of travel"),
    "point_off_network": (422, "The point is too far from every way of the street network"),
    "bad_time": (422, "The time could not be read"),
    "time_out_of_range": (422, "The time is outside the years this service answers for"),
    "bad_bbox": (422, "The bounding box is not valid"),
    "bad_crs": (422, "Unknown coordinate system"),
    "bad_format": (422, "Unknown output format"),
    "invalid_parameter": (422, "A request parameter is not valid"),
    "bad_request": (400, "The request could not be read"),
    "bad_cursor": (400, "The cursor is not one this change feed gives"),
    "cursor_expired": (410, "The cursor has expired: re-sync from the export"),
    "validation_failed": (422, "The station record is not valid"),
    "hours_unparseable": (422, "The opening hours could not be read"),
    "unauthorized": (401, "A valid bearer token is needed"),
    "forbidden": (403, "This union may not do that"),
    "database_unavailable": (503, "The database is unavailable; try again shortly"),
    "busy": (503, "Other figures are being computed; try again in a few seconds"),
    "too_many_at_once": (429, "This address has costly requests running; wait for them"),
    # 504, not 503: a proxy that retries 503s on the next worker (nginx's
    # proxy_next_upstream http_503) would only make the client wait out the same timeout
    # again, against the same lock or the same slow query.
    "database_timeout": (504, "The database did not answer in time; try again shortly"),
    "too_many_requests": (429, "Too many failed attempts; wait and try again"),
    "upload_not_found": (404, "No such upload"),
    "upload_state": (409, "The upload cannot do that now"),
    "payload_too_large": (413, "The file is too large"),
    "length_required": (411, "The request must say its length"),
    "precondition_required": (428, "Say which version you are changing"),
    "unsupported_file": (415, "The file type is not supported"),
    "bad_file": (422, "The file could not be read"),
    "spreadsheet_too_large": (413, "The spreadsheet is too large once unpacked"),
    "too_many_rows": (413, "The file has too many rows"),
    "too_many_columns": (422, "The spreadsheet has too many columns"),
    "cell_too_long": (422, "A cell of the file is too long"),
    "choose_sheet": (422, "Choose the workbook's sheet to read"),
    "crs_required": (422, "Say which coordinate system the file's positions are in"),
    "closures_unconfirmed": (409, "The full list would close many stations: confirm it"),
    "stale_write": (409, "The station was changed by someone else"),
    "duplicate_external_id": (409, "The union already has a station with this code"),
    "method_not_allowed": (405, "Method not allowed"),
    "feedback_not_found": (404, "No such report"),
    "feedback_resolved": (409, "The report was resolved already"),
    "invalid_feedback": (422, "The report is not valid"),
    "too_many_reports": (429, "Too many reports; wait and try again"),
    "too_many_check_ins": (429, "Too many check-ins; wait and try again"),
    "too_many_ratings": (429, "Too many ratings; wait and try again"),
    "inspection_not_found": (404, "No such spot check (or photo)"),
    "invalid_inspection": (422, "The spot check is not valid"),
    "photo_refused": (422, "A photo cannot be kept"),
    "photo_too_large": (413, "A photo is too large"),
    "invalid_rating": (422, "The rating is not valid"),
    "invalid_event": (422, "The event is not valid"),
    "event_not_found": (404, "No such event"),
    "stale_event": (409, "The event was changed by someone else since it was read"),
    "invalid_case_request": (422, "The case cannot be moved on so"),
    "case_not_found": (404, "No such case"),
    "receipt_not_found": (404, "No case has this receipt"),
    "stale_case": (409, "The case was changed by someone else"),
    "case_transition_refused": (409, "The case cannot go to that state now"),
    "poster_font_missing": (503, "The poster font is not installed"),
    "invalid_visit": (422, "The check-in is not valid"),
    "invalid_range": (400, "The date range is not valid"),
    "schema_incompatible": (503, "The registry database cannot be used"),
    "read_only": (503, "This server reads from a replica; writes go to the primary"),
    "account_invalid": (422, "The account cannot be made or changed so"),
    "account_exists": (409, "The username is taken"),
    "account_not_found": (404, "No such account"),
    "csrf_failed": (403, "The form is stale or came from another site"),
    "bad_route": (422, "The route is not a line that can be searched"),
    "route_too_long": (422, "The route is longer than one search may be"),
    "bad_page_token": (400, "The page token belongs to another request"),
    "store_error": (500, "The registry failed"),
    "internal_error": (500, "Internal error"),
}


class Problem(Exception):  # noqa: N818 - RFC 9457 calls it a problem
    """An error to report as problem+json; ``code`` names its type."""

    def __init__(
        self, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        if code not in PROBLEMS:
            msg = f"unknown problem code {code!r}"
            raise ValueError(msg)
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


# The Chinese lead of every too_much_work refused by a work budget (coverage, gaps, maps):
# the planner reads what to do first; the figures that decided it follow in the message.
TOO_MUCH_WORK_LEAD = (
    "计算量超过了单次请求的上限：请缩小范围（选择一个省份或区县，district=2 位省份代码或区县代码）"
    "或放宽参数后重试。"
)


def problem_response(
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    status, title = PROBLEMS[code]
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _from_domain(exc: Exception) -> tuple[str, str, dict[str, Any]]:
    """The one mapping from domain errors (which know nothing of HTTP) to problem codes."""
    if isinstance(exc, Problem):
        return exc.code, exc.detail, exc.extra
    if isinstance(exc, ValidationError):
        return (
            "validation_failed",
            "the record has problems; see errors",
            {"errors": [p.as_dict() for p in exc.problems]},
        )
    if isinstance(exc, InvalidInspectionError):
        return exc.code, str(exc), {"errors": exc.problems}
    if isinstance(exc, InvalidFeedbackError):  # and its kin: ratings', cases' requests
        code = exc.code if exc.code in PROBLEMS else "invalid_feedback"
        return code, f"{exc} (see errors)", {"errors": exc.problems}
    if isinstance(exc, SheetChoiceError):
        return exc.code, str(exc), {"sheets": exc.sheets}
    if isinstance(exc, FileRefusedError | CrsRequiredError | UnknownCrsError):
        code = exc.code if exc.code in PROBLEMS else "bad_file"
        return code, str(exc), {}
    if isinstance(exc, HoursError):
        return "hours_unparseable", exc.reason, {}
    if isinstance(exc, UnknownDistrictError):
        return "unknown_district", f"没有行政区划代码为 {exc.adcode!r} 的区县或省份：{exc}", {}
    if isinstance(exc, InvalidOptionError):
        return exc.code, str(exc), {}
    if isinstance(exc, AreaTooLargeError):
        return "too_much_work", TOO_MUCH_WORK_LEAD + str(exc), {}
    if isinstance(exc, BusyError | TooManyAtOnceError):
        return exc.code, str(exc), {}
    if isinstance(exc, OffNetworkError):
        snap_m = None if exc.snap_m is None else round(exc.snap_m, 1)
        return (
            exc.code,
            str(exc),
            {"travel": exc.travel.value, "snap_m": snap_m, "max_m": exc.max_m},
        )
    if isinstance(exc, NetworkError) and exc.code in PROBLEMS:
        return exc.code, str(exc), {}
    if isinstance(exc, ClosuresUnconfirmedError):
        return exc.code, str(exc), {"upload_id": exc.upload_id, **exc.check.as_dict()}
    if isinstance(exc, StoreError):
        code = exc.code if exc.code in PROBLEMS else "store_error"
        return code, str(exc), {}
    return "internal_error", "an unexpected error occurred; it has been logged", {}


# A page to answer with instead of problem+json (the console's, on its own paths): given the
# request, the error, its code, status and detail; None for problem+json.
PageFor = Callable[[Request, Exception, str, int, str], Response | None]


def install(app: FastAPI, *, page_for: PageFor | None = None) -> None:
    """Register handlers so every error leaves as problem+json (or ``page_for``'s page)."""

    async def domain(request: Request, exc: Exception) -> Response:
        code, detail, extra = _from_domain(exc)
        if code == "internal_error":
            log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        page = page_for(request, exc, code, PROBLEMS[code][0], detail) if page_for else None
        if page is not None:
            return page
        headers = exc.headers if isinstance(exc, Problem) else None
        if code == "database_unavailable":
            log.warning(
                "database unavailable on %s %s: %s", request.method, request.url.path, detail
            )
            # The cause (host, port, driver message) is for the operator's log only.
            detail = "the registry's database cannot be reached just now; try again shortly"
            headers = {"Retry-After": "5"}
        if code == "database_timeout":
            log.warning("database timeout on %s %s: %s", request.method, request.url.path, detail)
            # Which statement and which lock is for the operator's log (and the database's
            # own, which names the statement); the client hears what it can do.
            detail = (
                "the registry's database did not answer in time; a change this request was "
                "making was not saved. Try again shortly"
            )
            headers = {"Retry-After": "5"}
        if isinstance(exc, TooManyRequestsError | BusyError | TooManyAtOnceError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        if isinstance(exc, ClosuresUnconfirmedError) and exc.upload_id is not None:
            headers = {"Location": f"/v1/uploads/{exc.upload_id}"}
        return problem_response(code, detail, instance=request.url.path, headers=headers, **extra)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body")),
                "code": e.get("type", "invalid"),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        names = ", ".join(e["field"] for e in errors)
        page = page_for(request, exc, "invalid_parameter", 422, names) if page_for else None
        if page is not None:
            return page
        return problem_response(
            "invalid_parameter", f"not valid: {names}", instance=request.url.path, errors=errors
        )

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        # 400: FastAPI's answer to a body it cannot parse (a broken multipart form).
        code = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(exc.status_code)
        if code is None:
            return Response(str(exc.detail), status_code=exc.status_code)
        page = (
            page_for(request, exc, code, PROBLEMS[code][0], str(exc.detail)) if page_for else None
        )
        if page is not None:
            return page
        return problem_response(code, str(exc.detail), instance=request.url.path)

    app.add_exception_handler(Problem, domain)
    app.add_exception_handler(ValidationError, domain)
    app.add_exception_handler(HoursError, domain)
    app.add_exception_handler(FileRefusedError, domain)
    app.add_exception_handler(CrsRequiredError, domain)
    app.add_exception_handler(UnknownCrsError, domain)
    app.add_exception_handler(InvalidFeedbackError, domain)
    app.add_exception_handler(UnknownDistrictError, domain)
    app.add_exception_handler(InvalidOptionError, domain)
    app.add_exception_handler(AreaTooLargeError, domain)
    app.add_exception_handler(BusyError, domain)
    app.add_exception_handler(TooManyAtOnceError, domain)
    app.add_exception_handler(NetworkError, domain)
    app.add_exception_handler(StoreError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, domain)
