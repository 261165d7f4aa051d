"""The spot-check checklist: one data file (checklist.toml, shipped; a union's own replaces
it), read and checked once at start-up, and expanded for a station with one item per
amenity its record claims."""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stations.domain.model import AMENITY_LABELS, Station

SHIPPED = Path(__file__).with_name("checklist.toml")
GROUPS: tuple[str, ...] = ("六有", "设施", "运营", "安全")
# The 六有 every checklist must keep (the city union's standard), and the item the hours
# suggest a result for.
SIX_MUSTS: tuple[str, ...] = (
    "signage",
    "siting",
    "facilities",
    "functions",
    "rules_posted",
    "findable_on_map",
)
OPEN_AS_POSTED = "open_as_posted"
AMENITY_PREFIX = "amenity."
MAX_DEADLINE_DAYS = 365
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ChecklistError(ValueError):
    """The checklist file cannot be used; the message names the file, item and field."""


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    code: str
    label: str
    group: str
    deadline_days: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label,
            "group": self.group,
            "deadline_days": self.deadline_days,
        }


@dataclass(frozen=True, slots=True)
class Checklist:
    """The items every station is checked on, and the rule for its amenities' items."""

    items: tuple[ChecklistItem, ...]
    amenity_template: str
    amenity_group: str
    amenity_deadline_days: int
    version: str  # the SHA-256 (first 16 hex digits) of the file's bytes

    def amenity_item(self, amenity: str) -> ChecklistItem:
        label = self.amenity_template.replace("{amenity}", AMENITY_LABELS[amenity])
        return ChecklistItem(
            AMENITY_PREFIX + amenity, label, self.amenity_group, self.amenity_deadline_days
        )


def checklist_for(station: Station | None, checklist: Checklist) -> tuple[ChecklistItem, ...]:
    """The items a check of ``station`` records: the file's, then one per amenity the
    station's record claims (present and working), in the amenities' order."""
    if station is None:
        return checklist.items
    claimed = [a for a in AMENITY_LABELS if a in station.amenities]
    return checklist.items + tuple(checklist.amenity_item(a) for a in claimed)


def _field(where: str, table: dict[str, Any], name: str, kind: type) -> Any:
    if name not in table:
        msg = f"{where}: field {name!r} is missing"
        raise ChecklistError(msg)
    value = table[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        msg = f"{where}: field {name!r} must be a whole number of days, not {value!r}"
        raise ChecklistError(msg)
    if kind is str and (not isinstance(value, str) or not value.strip()):
        msg = f"{where}: field {name!r} must be non-empty text, not {value!r}"
        raise ChecklistError(msg)
    return value.strip() if isinstance(value, str) else value


def _days(where: str, table: dict[str, Any]) -> int:
    days: int = _field(where, table, "deadline_days", int)
    if not 1 <= days <= MAX_DEADLINE_DAYS:
        msg = f"{where}: deadline_days must be 1 to {MAX_DEADLINE_DAYS}, not {days}"
        raise ChecklistError(msg)
    return days


def _group(where: str, table: dict[str, Any]) -> str:
    group: str = _field(where, table, "group", str)
    if group not in GROUPS:
        msg = f"{where}: group must be one of {'、'.join(GROUPS)}, not {group!r}"
        raise ChecklistError(msg)
    return group


def parse_checklist(data: bytes, *, name: str = "checklist.toml") -> Checklist:
    """The checklist in ``data`` (TOML); ChecklistError naming the line or the item and
    field when it is broken or incomplete."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        msg = f"{name}: not UTF-8 text (byte {exc.start})"
        raise ChecklistError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{name}: not valid TOML: {exc}"  # tomllib names the line and column
        raise ChecklistError(msg) from None
    unknown = sorted(set(doc) - {"item", "amenities"})
    if unknown:
        msg = f"{name}: unknown top-level key(s) {', '.join(unknown)}"
        msg += " (expected [[item]] and [amenities])"
        raise ChecklistError(msg)
    raw_items = doc.get("item")
    if not isinstance(raw_items, list) or not raw_items:
        msg = f"{name}: no [[item]] tables"
        raise ChecklistError(msg)
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_items, 1):
        where = f"{name}: item {n}"
        code = _field(where, raw, "code", str)
        where = f"{name}: item {n} ({code})"
        if not _CODE.fullmatch(code):
            msg = f"{where}: code must be lower-case letters, digits and _, starting with a letter"
            raise ChecklistError(msg)
        if code in seen:
            msg = f"{where}: code {code!r} appears twice"
            raise ChecklistError(msg)
        extra = sorted(set(raw) - {"code", "label", "group", "deadline_days"})
        if extra:
            msg = f"{where}: unknown field(s) {', '.join(extra)}"
            raise ChecklistError(msg)
        seen.add(code)
        items.append(
            ChecklistItem(
                code, _field(where, raw, "label", str), _group(where, raw), _days(where, raw)
            )
        )
    missing = [c for c in (*SIX_MUSTS, OPEN_AS_POSTED) if c not in seen]
    if missing:
        msg = f"{name}: the item(s) {', '.join(missing)} are missing"
        msg += " (the 六有 and open_as_posted are kept in every checklist)"
        raise ChecklistError(msg)
    amenities = doc.get("amenities")
    where = f"{name}: [amenities]"
    if not isinstance(amenities, dict):
        msg = f"{where} is missing"
        raise ChecklistError(msg)
    template = _field(where, amenities, "label_template", str)
    if "{amenity}" not in template:
        msg = f"{where}: label_template must contain {{amenity}}"
        raise ChecklistError(msg)
    return Checklist(
        items=tuple(items),
        amenity_template=template,
        amenity_group=_group(where, amenities),
        amenity_deadline_days=_days(where, amenities),
        version=hashlib.sha256(data).hexdigest()[:16],
    )


@functools.cache
def load_checklist(path: Path | None = None) -> Checklist:
    """The checklist in ``path`` (None: the shipped one), read once per path."""
    source = path or SHIPPED
    try:
        data = source.read_bytes()
    except OSError as exc:
        msg = f"the checklist file {source} cannot be read: {exc.strerror or exc}"
        raise ChecklistError(msg) from None
    return parse_checklist(data, name=str(source))
