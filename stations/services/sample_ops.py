"""The sample's station operations: a fortnight of check-ins, ratings, reports, spot checks
and the stars they give, so that a new user's console shows each page at work.

Everything goes through the same services a rider or a clerk uses (limits, cases, photos
re-encoded), from made-up client addresses in 198.18.0.0/15 (the range RFC 2544 keeps for
benchmarks: never a real rider's), at past times, and is made from the seed alone.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image, ImageDraw

from geodata.hours import TZ
from stations.domain.auth import Principal, Role
from stations.domain.cases import CaseState, receipt_hash
from stations.domain.checklist import Checklist, checklist_for
from stations.domain.feedback import FEEDBACK_KIND_LABELS
from stations.domain.model import Station
from stations.domain.stars import StarRule
from stations.domain.visits import OCCUPATIONS
from stations.readmodel.index import StationIndex
from stations.services.cases import handle
from stations.services.feedback import submit_report
from stations.services.inspections import PhotoCaps, record_inspection
from stations.services.ratings import rate
from stations.services.stars import compute_stars
from stations.services.visits import check_in
from stations.storage.store import Store

SAMPLE_DISTRICT = "500103"  # 渝中区: the sample district account's own stations
DAYS = 14
_OCCUPATION_WEIGHTS = (55, 15, 10, 7, 8, 5)  # delivery … other, roughly who stops by
_COMMENTS = {
    5: ("热水随时有，微波炉好用", "工作人员很热情", "夏天有空调，歇脚很舒服"),
    4: ("位置好找，充电方便", "干净整洁"),
    3: ("还行，就是座位少了点",),
    2: ("晚上九点就关门了，和写的不一样", "饮水机坏了好几天"),
    1: ("门锁着进不去，电话也没人接",),
}
# The sample's inspector and case handler (its id names no token: nothing signs in as it).
_SAMPLE_ADMIN = Principal("sample", "重庆市总工会（示例）", Role.ADMIN, None)


@dataclass(frozen=True)
class SampleOperations:
    check_ins: int
    ratings: int
    reports: int
    inspections: int
    stars: int


@dataclass(frozen=True)
class OperationSettings:
    """What the services are told (the registry's settings for limits and deadlines)."""

    salt: bytes
    deadlines: Mapping[str, float]
    checklist: Checklist
    stars_rule: StarRule
    photo_caps: PhotoCaps


class _Addresses:
    """Made-up client addresses, a new one for each write (no two share a limit)."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self) -> str:
        self._n += 1
        return f"198.{18 + self._n // 65536 % 2}.{self._n // 256 % 256}.{self._n % 256}"


def _photo(rng: random.Random, label: str) -> bytes:
    """A small picture standing in for an inspector's photo (a coloured card)."""
    image = Image.new("RGB", (640, 480), (rng.randrange(90, 200), rng.randrange(90, 200), 160))
    ImageDraw.Draw(image).rectangle((40, 40, 600, 440), outline=(255, 255, 255), width=8)
    del label  # the default font has no CJK glyphs; the card is only a stand-in
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def load_sample_operations(
    store: Store, *, settings: OperationSettings, seed: int, now: datetime | None = None
) -> SampleOperations:
    """Two weeks of operations at the sample's 渝中区 stations (and a few elsewhere)."""
    now = now or datetime.now(TZ)
    rng = random.Random(seed)
    stations = [s for s in store.iter_all() if s.sample and s.status.value == "active"]
    local = [s for s in stations if s.district_adcode == SAMPLE_DISTRICT][:30]
    elsewhere = rng.sample(
        [s for s in stations if s.district_adcode != SAMPLE_DISTRICT], min(20, len(stations))
    )
    chosen = local + elsewhere
    address = _Addresses()
    check_ins = _check_ins(store, chosen, rng, address, settings, now)
    ratings = _ratings(store, chosen, rng, address, settings, now)
    reports = _reports(store, local[:4], rng, address, settings, now)
    inspections = _inspections(store, local[:8], rng, settings, now)
    index = StationIndex.build(store)
    stars = compute_stars(store, index, settings.stars_rule, now)
    return SampleOperations(check_ins, ratings, reports, inspections, len(stars))


def _check_ins(
    store: Store,
    stations: list[Station],
    rng: random.Random,
    address: _Addresses,
    settings: OperationSettings,
    now: datetime,
) -> int:
    n = 0
    for station in stations:
        busy = rng.choice((2, 5, 9, 16))
        for day in range(DAYS, 0, -1):
            for _ in range(rng.randint(busy // 2, busy)):
                hour = rng.choice((7, 8, 11, 11, 12, 12, 12, 13, 14, 17, 18, 18, 19, 21))
                at = (now - timedelta(days=day)).replace(
                    hour=hour, minute=rng.randrange(60), second=0, microsecond=0
                )
                done = check_in(
                    store,
                    station,
                    station.id or 0,
                    occupation=rng.choices(OCCUPATIONS, _OCCUPATION_WEIGHTS)[0],
                    code=None,
                    client_address=address(),
                    salt=settings.salt,
                    dedupe_minutes=120,
                    per_client_per_hour=12,
                    per_station_per_hour=600,
                    keep_hours=48,
                    at=at,
                )
                n += done.counted
    return n


def _ratings(
    store: Store,
    stations: list[Station],
    rng: random.Random,
    address: _Addresses,
    settings: OperationSettings,
    now: datetime,
) -> int:
    n = 0
    for station in stations[:24]:
        for _ in range(rng.randint(1, 6)):
            stars = rng.choices((5, 4, 3, 2, 1), (50, 28, 12, 6, 4))[0]
            comment = rng.choice(_COMMENTS[stars]) if rng.random() < 0.6 else ""
            rate(
                store,
                station,
                station.id or 0,
                stars=stars,
                comment=comment,
                client_address=address(),
                salt=settings.salt,
                per_client_per_hour=10,
                per_station_per_hour=60,
                dedupe_days=30,
                deadlines=settings.deadlines,
                at=now - timedelta(days=rng.randint(1, DAYS), hours=rng.randint(0, 10)),
            )
            n += 1
    return n


def _reports(
    store: Store,
    stations: list[Station],
    rng: random.Random,
    address: _Addresses,
    settings: OperationSettings,
    now: datetime,
) -> int:
    kinds = list(FEEDBACK_KIND_LABELS)
    notes = ("晚上八点半来，门已经关了", "", "充电插座没电", "饮水机不出热水")
    for i, station in enumerate(stations):
        reported = submit_report(
            store,
            station,
            station.id or 0,
            kind=kinds[i % len(kinds)],
            note=notes[i % len(notes)],
            client_address=address(),
            salt=settings.salt,
            per_client_per_hour=10,
            per_station_per_hour=30,
            at=now - timedelta(days=3 - i % 3, hours=2),
            deadlines=settings.deadlines,
        )
        if i == 0:  # one the union has answered
            case = store.find_case_by_receipt(receipt_hash(reported.receipt))
            if case is not None:
                handle(
                    store,
                    _SAMPLE_ADMIN,
                    case.id,
                    to=CaseState.RESOLVED.value,
                    reply="已联系驿站，开放时间已按公示调整，谢谢反馈",
                    expected_version=case.version,
                    at=now - timedelta(days=1),
                )
    return len(stations)


def _inspections(
    store: Store,
    stations: list[Station],
    rng: random.Random,
    settings: OperationSettings,
    now: datetime,
) -> int:
    for i, station in enumerate(stations):
        items = checklist_for(station, settings.checklist)
        failed = {items[j].code for j in rng.sample(range(len(items)), 2)} if i % 3 == 0 else set()
        record_inspection(
            store,
            _SAMPLE_ADMIN,
            station.id or 0,
            checklist=settings.checklist,
            announced=i % 2 == 1,
            results={item.code: item.code not in failed for item in items},
            note="示例抽查" + ("：有两项待整改" if failed else "：全部合格"),
            photos=[(f"现场{k + 1}.jpg", _photo(rng, station.name)) for k in range(i % 3)],
            caps=settings.photo_caps,
            inspected_at=now - timedelta(days=rng.randint(2, 40), hours=rng.randint(0, 8)),
            now=now,
        )
    return len(stations)
