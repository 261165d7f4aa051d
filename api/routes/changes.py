"""The change feed for mirrors and the export it starts from (stations.services.feed).

Fixed paths under /v1/stations/: this router is included before the one that declares
``/v1/stations/{station_id}``, which would otherwise take ``changes`` and ``export`` for ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from api.deps import ServicesDep
from api.representation import stations_json
from api.responses import json_response
from geodata.districts import Districts
from stations.domain.feed import DEFAULT_LIMIT, MAX_LIMIT
from stations.domain.records import station_from_dict
from stations.services import feed as feed_service
from stations.services.feed import Changes

router = APIRouter(prefix="/v1", tags=["stations"])

NDJSON = "application/x-ndjson"
EXPORT_PATH = "/v1/stations/export"
# A full page below the head never changes (the trail is append-only, in commit order).
IMMUTABLE = "public, max-age=31536000, immutable"
# Stations rendered and sent at a time by the export.
EXPORT_CHUNK = 1000

_CHANGES_EXAMPLE = {
    "changed": [{"id": 42, "name": "解放碑工会驿站", "version": 3, "...": "..."}],
    "deleted": [57],
    "next": "v1.3f9c0a7e21d4b655.1234.9a0b1c2d",
    "more": False,
}


def records(
    docs: list[dict[str, Any]], *, districts: Districts, threshold_m: float
) -> list[dict[str, Any]]:
    """Stored records (station_to_dict) as ``GET /v1/stations/{id}`` gives them, without its
    operations (rating, stars, last_confirmed: they change outside the registry's writes)."""
    stations = [station_from_dict(d) for d in docs]
    return stations_json(stations, districts=districts, threshold_m=threshold_m)


def changes_body(answer: Changes, *, districts: Districts, threshold_m: float) -> dict[str, Any]:
    body: dict[str, Any] = {
        "changed": records(answer.changed, districts=districts, threshold_m=threshold_m),
        "deleted": answer.deleted,
        "next": answer.next,
        "more": answer.more,
    }
    if answer.first:
        body["export"] = EXPORT_PATH
    return body


def changes_headers(answer: Changes) -> dict[str, str]:
    if answer.ahead:  # this database is behind the cursor (a replica): the rows will come
        return {"Cache-Control": "no-cache", "Retry-After": "1"}
    # Only a page of `limit` rows below the head is the same for ever: a shorter one ended
    # where its snapshot did, and the same URL may give more rows later.
    return {"Cache-Control": IMMUTABLE if answer.full and answer.more else "no-cache"}


@router.get(
    "/stations/changes",
    summary="Changes since a cursor, for mirrors",
    description=(
        "Every station created, changed or deleted after `since`, in commit order: "
        "`changed` holds each station's record after the page (as GET /v1/stations/{id} "
        "gives it, without rating, stars and last_confirmed), `deleted` the ids removed; "
        "each station appears once per page. Follow `next` while `more` is true; a mirror "
        "equals the registry when `more` is false (a page may end inside a batch). Without "
        "`since`: no changes, `next` = the cursor of now, and `export`, the full export to "
        "start from. A deleted id may come back (a revert puts stations back with their "
        "ids). Changes are kept as long as the audit trail (today: for ever). 410 "
        "`cursor_expired`: re-sync from the export and follow from its cursor. A cursor "
        "ahead of this server's database (a replica behind): 200, empty, `Retry-After`. "
        "Full pages below the head are immutable (cacheable for ever); the last is not."
    ),
    responses={
        200: {"content": {"application/json": {"example": _CHANGES_EXAMPLE}}},
        400: {"description": "`bad_cursor`: since is not a cursor of this feed"},
        410: {"description": "`cursor_expired`: re-sync from the export"},
    },
)
def station_changes(
    services: ServicesDep,
    since: Annotated[
        str | None,
        Query(description="a cursor: `next` of an earlier answer, or the export's"),
    ] = None,
    limit: Annotated[
        int,
        Query(
            description=f"audit rows to read, 1–{MAX_LIMIT}",
            json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT},
        ),
    ] = DEFAULT_LIMIT,
) -> Response:
    answer = feed_service.changes(services.store, since, limit=limit)
    body = changes_body(
        answer, districts=services.districts, threshold_m=services.settings.precise_threshold_m
    )
    return json_response(body, headers=changes_headers(answer))


@router.get(
    "/stations/export",
    summary="Every station, for a mirror to start from (NDJSON)",
    description=(
        "One station record per line (as GET /v1/stations/{id} gives it, without rating, "
        "stars and last_confirmed), by id, all read from one snapshot of the registry. "
        "`X-Yizhan-Cursor` is the change feed's cursor of exactly that state: follow "
        "GET /v1/stations/changes?since=<it> from there. `X-Total-Count`: the stations."
    ),
    responses={200: {"content": {NDJSON: {}}}},
)
def export_stations(services: ServicesDep) -> Response:
    stack = ExitStack()
    export = stack.enter_context(feed_service.export(services.store))
    lines = _ndjson(
        export.snapshot.stations,
        districts=services.districts,
        threshold_m=services.settings.precise_threshold_m,
        done=stack,
    )
    return StreamingResponse(
        lines,
        media_type=NDJSON,
        headers={
            "X-Yizhan-Cursor": export.cursor,
            "X-Total-Count": str(export.count),
            "Cache-Control": "no-cache",
            "Content-Disposition": 'attachment; filename="stations.ndjson"',
        },
        # Also when the client goes away before the end: the snapshot is let go.
        background=BackgroundTask(stack.close),
    )


def _ndjson(
    stations: Iterator[Any], *, districts: Districts, threshold_m: float, done: ExitStack
) -> Iterator[bytes]:
    """The export's lines, a chunk of stations at a time (memory: one chunk)."""
    try:
        while True:
            chunk = [s for _, s in zip(range(EXPORT_CHUNK), stations, strict=False)]
            if not chunk:
                return
            docs = stations_json(chunk, districts=districts, threshold_m=threshold_m)
            yield b"".join(orjson.dumps(d) + b"\n" for d in docs)
    finally:
        done.close()
