"""What a write is made of (create, update, delete in one batch) and what a query asks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stations.domain.model import Station, Status


@dataclass(frozen=True, slots=True)
class Create:
    """Add a new station. ``record``: its record as station_to_dict gives it, when the caller
    holds it already (an upload's planned row, read back as planned): the store writes that
    instead of making it again from ``station``; it must be the same record."""

    station: Station
    record: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CreateRecord:
    """Add a new station given by its record, as station_to_dict gives it with no id (an
    upload's planned row, read back as planned): stored exactly as ``Create`` of the
    station it is, without making the Station (a commit of 100,000 rows need not)."""

    record: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Update:
    """Replace a stored station; refused unless it is still at ``expected_version``."""

    station: Station
    expected_version: int


@dataclass(frozen=True, slots=True)
class Delete:
    station_id: int
    expected_version: int | None = None


Change = Create | CreateRecord | Update | Delete


@dataclass(frozen=True, slots=True)
class Batch:
    """One atomic write: who made it, when, what kind (api, import, demo, revert), how big."""

    id: int
    actor: str
    at: datetime
    kind: str
    note: str
    changes: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One station's change inside a batch, with the record before and after."""

    id: int
    station_id: int
    batch_id: int
    actor: str
    at: datetime
    action: str  # create | update | delete
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class WriteResult:
    batch: Batch
    ids: tuple[int, ...]  # per change, the id of the station it touched


@dataclass(frozen=True, slots=True)
class StationQuery:
    """Filters for listing stations; every given filter must match."""

    district: str | None = None
    owner: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # WGS-84 minlon, minlat, maxlon, maxlat
    status: tuple[Status, ...] = ()
    self_service: bool | None = None
    amenities: tuple[str, ...] = ()
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Station] = field(default_factory=list)
    total: int = 0
