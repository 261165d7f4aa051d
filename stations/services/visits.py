"""Workers' check-ins (签到) at a station, without login: the use case behind
POST /v1/stations/{id}/visits and the poster page's buttons.

A check-in names the occupation only; the address it came from is kept as a keyed hash for
``visit_keep_hours`` (de-duplication and the limits), then only the hourly counts remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stations.domain.codes import InvalidCodeError, parse_code
from stations.domain.errors import StationNotFoundError
from stations.domain.feedback import RateLimit, client_hash
from stations.domain.model import Station
from stations.domain.visits import (
    OCCUPATION_LABELS,
    InvalidVisitError,
    NewVisit,
    check_occupation,
    check_serving,
)
from stations.storage.store import Store

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class CheckIn:
    """What a check-in did: ``counted`` False when it repeated one of the last
    ``visit_dedupe_minutes`` (same address, same station)."""

    station_id: int
    occupation: str
    counted: bool

    @property
    def occupation_label(self) -> str:
        return OCCUPATION_LABELS[self.occupation]

    @property
    def message(self) -> str:
        return "签到成功，谢谢！" if self.counted else "已签到，谢谢"


def check_in(
    store: Store,
    station: Station | None,
    station_id: int,
    *,
    occupation: object,
    code: object,
    client_address: str,
    salt: bytes,
    dedupe_minutes: int,
    per_client_per_hour: int,
    per_station_per_hour: int,
    keep_hours: int,
    at: datetime,
) -> CheckIn:
    """Count a worker's check-in at ``station`` (None: there is no station ``station_id``).

    ``code``, the station code printed on the poster, is optional; given, it must be this
    station's (a poster of another station is refused, not counted here)."""
    if station is None:
        raise StationNotFoundError(station_id)
    check_serving(station.status.value)
    checked = check_occupation(occupation)
    via_poster = False
    if code is not None and code != "":
        if not isinstance(code, str):
            raise InvalidVisitError("code", "驿站编号应为文字，如 K7MQ-3XPA")
        try:
            canonical = parse_code(code)
        except InvalidCodeError:
            raise InvalidVisitError("code", "驿站编号不正确，请重新扫码") from None
        if store.station_for_code(canonical) != station_id:
            raise InvalidVisitError("code", "驿站编号与这个驿站不符，请重新扫码")
        via_poster = True
    counted = store.add_visit(
        NewVisit(
            station_id=station_id,
            occupation=checked,
            client_hash=client_hash(client_address, salt),
            at=at,
            via_poster=via_poster,
            district_adcode=station.district_adcode,
        ),
        dedupe_s=dedupe_minutes * 60,
        limits=(
            RateLimit("client", per_client_per_hour, HOUR_S),
            RateLimit("station", per_station_per_hour, HOUR_S),
        ),
        # Never shorter than what the de-duplication and the limits look back over.
        keep_s=max(keep_hours * HOUR_S, dedupe_minutes * 60, HOUR_S),
    )
    return CheckIn(station_id=station_id, occupation=checked, counted=counted)
