"""Spot checks (抽查暗访): a check as recorded, its photos, and the rectifications its failed
items open until a later check passes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stations.domain.errors import StoreError

NOTE_MAX_CHARS = 2000


class InspectionNotFoundError(StoreError, LookupError):
    code = "inspection_not_found"

    def __init__(self, inspection_id: int) -> None:
        self.inspection_id = inspection_id
        super().__init__(f"没有编号为 {inspection_id} 的抽查记录")


class InvalidInspectionError(StoreError):
    """A check's results do not fit the station's checklist (or its other fields are
    wrong); ``problems`` says each, in Chinese."""

    code = "invalid_inspection"

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__("；".join(str(p["message"]) for p in problems))


class PhotoRefusedError(StoreError):
    """A photo that is not a usable JPEG, PNG or WebP image (the message, Chinese, names
    the file)."""

    code = "photo_refused"


class PhotoTooLargeError(PhotoRefusedError):
    code = "photo_too_large"


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo re-encoded for keeping: JPEG without metadata, and its thumbnail."""

    data: bytes
    thumb: bytes
    width: int
    height: int
    sha256: str
    content_type: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class NewInspection:
    """A check as received and checked against the station's checklist."""

    station_id: int
    owner: str
    district_adcode: str
    inspected_at: datetime
    recorded_at: datetime
    actor: str
    announced: bool
    results: dict[str, bool]
    labels: dict[str, str]  # every result's item label, for the rectifications it opens
    checklist_version: str
    station_version: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class Inspection:
    id: int
    station_id: int
    owner: str
    district_adcode: str
    inspected_at: datetime
    recorded_at: datetime
    actor: str
    announced: bool
    results: dict[str, bool]
    checklist_version: str
    station_version: int
    note: str
    photo_count: int = 0
    photo_hashes: tuple[str, ...] = field(default=())  # by seq, 1-based

    @property
    def failed(self) -> list[str]:
        return [code for code, ok in self.results.items() if not ok]


@dataclass(frozen=True, slots=True)
class Rectification:
    id: int
    station_id: int
    district_adcode: str
    inspection_id: int
    item_code: str
    item_label: str
    opened_at: datetime
    due_at: datetime
    closed_at: datetime | None
    closed_by: int | None
    failed_again: int

    def overdue(self, at: datetime) -> bool:
        return self.closed_at is None and self.due_at < at


@dataclass(frozen=True, slots=True)
class InspectionQuery:
    station_id: int | None = None
    district: str | None = None
    owner: str | None = None  # the station's owner (an industry union reads its own)
    since: datetime | None = None
    limit: int = 100
    offset: int = 0
