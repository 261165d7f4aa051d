"""A station's printable A4 poster (PDF), whose QR code opens the station's page ``/s/{code}``."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.deps import IndexDep, ServicesDep, StationId
from api.links import site_base as base_url
from api.problems import Problem
from stations.formats.poster import PosterFontMissingError
from stations.services import posters as poster_service

router = APIRouter(prefix="/v1", tags=["stations"])

PDF = "application/pdf"


@router.get(
    "/stations/{station_id}/poster.pdf",
    summary="The station's printable A4 poster (PDF, Chinese, with its QR code)",
    description=(
        "The 工会驿站 poster: name, hours, how to get in, amenities, the owning union, the "
        "station code, and a QR code holding `YIZHAN_PUBLIC_URL` + `/s/{code}` (without the "
        "setting: this server's own address, and the poster says so in red). `download=1` "
        "asks for an attachment. Characters the font lacks are printed as 〓 and named in "
        "`X-Yizhan-Missing-Glyphs` (`U+2003E,…`). 503 `poster_font_missing` when the font "
        "(`YIZHAN_POSTER_FONT`) is not installed."
    ),
    response_class=Response,
    responses={200: {"content": {PDF: {}}}, 304: {"description": "not modified"}},
)
def poster(
    station_id: StationId,
    request: Request,
    services: ServicesDep,
    index: IndexDep,
    download: Annotated[bool, Query(description="true: as an attachment to save")] = False,
) -> Response:
    station = index.get(station_id)
    if station is None:
        raise Problem("station_not_found", f"no station with id {station_id}")
    settings = services.settings
    public_url, base = settings.public_url, base_url(request)
    etag = poster_service.poster_etag(
        station, public_url=public_url, base_url=base, font_path=settings.poster_font
    )
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    try:
        made = poster_service.station_poster(
            station,
            districts=services.districts,
            public_url=public_url,
            base_url=base,
            font_path=settings.poster_font,
        )
    except PosterFontMissingError as exc:
        raise Problem(exc.code, str(exc), headers={"Retry-After": "3600"}) from None
    name = f"驿站海报-{station.code}.pdf"
    kind = "attachment" if download else "inline"
    headers["Content-Disposition"] = (
        f"{kind}; filename=\"poster-{station.code}.pdf\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    if made.missing:
        headers["X-Yizhan-Missing-Glyphs"] = made.missing_header
    return Response(made.pdf, media_type=PDF, headers=headers)
