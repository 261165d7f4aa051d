"""Spot checks through the service, on every store: rectifications opened, kept, closed;
who may check and read; one transaction."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from PIL import Image

from geodata.hours import TZ
from stations.domain.auth import Principal, Role
from stations.domain.checklist import checklist_for, load_checklist
from stations.domain.errors import ForbiddenError, StationNotFoundError
from stations.domain.inspections import (
    InspectionNotFoundError,
    InspectionQuery,
    InvalidInspectionError,
    NewInspection,
    Photo,
    PhotoRefusedError,
)
from stations.services import inspections as svc
from tests.builders import GUANYINQIAO, make_station

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=TZ)  # a Monday, 10:00
CAPS = svc.PhotoCaps(max_bytes=5_000_000, max_pixels=20_000_000, per_inspection=3)
CITY = Principal("t1", "重庆市总工会", Role.ADMIN, None)
YUZHONG = Principal("t2", "渝中区总工会", Role.DISTRICT, "500103")
JIANGBEI = Principal("t3", "江北区总工会", Role.DISTRICT, "500105")
POST = Principal("t4", "邮政工会", Role.INDUSTRY, "post")
RAIL = Principal("t5", "铁路工会", Role.INDUSTRY, "rail")
CHECKLIST = load_checklist()


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def station(store, districts):
    """An industry union's station in 渝中区 (checked by 渝中区's union and the city's)."""
    return store.create(make_station(districts, owner="industry:post", amenities="热水"), actor="t")


def jpeg(color=(10, 120, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), color).save(out, "JPEG")
    return out.getvalue()


def all_pass(station, **failed: object) -> dict[str, object]:
    results: dict[str, object] = {i.code: True for i in checklist_for(station, CHECKLIST)}
    results.update(failed)
    return results


def check(store, station, results, *, by=YUZHONG, at=T0, photos=()):
    return svc.record_inspection(
        store,
        by,
        station.id,
        checklist=CHECKLIST,
        announced=False,
        results=results,
        note="暗访",
        photos=list(photos),
        caps=CAPS,
        inspected_at=at,
        now=at + timedelta(minutes=1),
    )


def test_a_failed_item_opens_a_rectification_due_its_deadline(store, station):
    done = check(store, station, all_pass(station, hygiene=False, **{"amenity.hot_water": False}))
    assert done.failed == ["hygiene", "amenity.hot_water"]
    open_ = svc.list_rectifications(store, CITY, now=T0)
    by_code = {r.item_code: r for r in open_}
    assert set(by_code) == {"hygiene", "amenity.hot_water"}
    hygiene = by_code["hygiene"]
    assert hygiene.item_label == "环境整洁卫生"
    assert hygiene.due_at == T0 + timedelta(days=7)
    assert hygiene.inspection_id == done.id and hygiene.failed_again == 0
    assert by_code["amenity.hot_water"].item_label == "设施：热水 在且可用"
    assert by_code["amenity.hot_water"].due_at == T0 + timedelta(days=14)
    late = T0 + timedelta(days=8)
    overdue = svc.list_rectifications(store, CITY, overdue=True, now=late)
    assert [r.item_code for r in overdue] == ["hygiene"]
    assert overdue[0].overdue(late)


def test_a_later_pass_closes_it_and_a_later_fail_keeps_one_open(store, station):
    check(store, station, all_pass(station, hygiene=False, fire_safety=False))
    second = check(store, station, all_pass(station, hygiene=False), at=T0 + timedelta(days=3))
    open_ = svc.list_rectifications(store, CITY, now=T0)
    assert [(r.item_code, r.failed_again) for r in open_] == [("hygiene", 1)]
    assert open_[0].due_at == T0 + timedelta(days=7)  # the first deadline stands
    closed = store.list_rectifications(station_id=station.id, open_only=False)
    fire = next(r for r in closed if r.item_code == "fire_safety")
    assert fire.closed_by == second.id and fire.closed_at == T0 + timedelta(days=3)
    check(store, station, all_pass(station), at=T0 + timedelta(days=5))
    assert svc.list_rectifications(store, CITY, now=T0) == []
    again = check(store, station, all_pass(station, hygiene=False), at=T0 + timedelta(days=9))
    reopened = svc.list_rectifications(store, CITY, now=T0)
    assert [(r.inspection_id, r.failed_again) for r in reopened] == [(again.id, 0)]
    assert store.last_inspection_at([station.id, 999]) == {station.id: T0 + timedelta(days=9)}


def test_who_may_check_and_who_may_read(store, station):
    with pytest.raises(ForbiddenError):
        check(store, station, all_pass(station), by=JIANGBEI)
    with pytest.raises(ForbiddenError):
        check(store, station, all_pass(station), by=POST)  # the owner reads, not checks
    done = check(store, station, all_pass(station, hygiene=False), by=CITY)
    for reader in (CITY, YUZHONG, POST):
        assert svc.get_inspection(store, reader, done.id).id == done.id
        assert [i.id for i in svc.list_inspections(store, reader)[0]] == [done.id]
        assert len(svc.list_rectifications(store, reader, now=T0)) == 1
    for outsider in (JIANGBEI, RAIL):
        with pytest.raises(ForbiddenError):
            svc.get_inspection(store, outsider, done.id)
        assert svc.list_inspections(store, outsider) == ([], 0)
        assert svc.list_rectifications(store, outsider, now=T0) == []
    assert svc.list_inspections(store, YUZHONG, district="500105") == ([], 0)


def test_a_district_union_checks_a_station_of_its_district_whoever_owns_it(
    store, station, districts
):
    other = store.create(
        make_station(
            districts,
            external_id="JB",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    check(store, other, all_pass(other), by=JIANGBEI)
    with pytest.raises(ForbiddenError):
        check(store, other, all_pass(other), by=YUZHONG)


def test_unknown_and_missing_items_are_listed(store, station):
    results = all_pass(station, bogus=True)
    del results["signage"], results["amenity.hot_water"]
    with pytest.raises(InvalidInspectionError) as refused:
        check(store, station, results)
    by_code = {p["code"]: p for p in refused.value.problems}
    assert by_code["unknown_items"]["items"] == ["bogus"]
    assert by_code["missing_items"]["items"] == ["signage", "amenity.hot_water"]
    assert "有统一标识和名称" in by_code["missing_items"]["message"]
    assert "设施：热水 在且可用" in by_code["missing_items"]["message"]
    with pytest.raises(InvalidInspectionError, match="true 或 false"):
        check(store, station, all_pass(station, hygiene="yes"))
    with pytest.raises(InvalidInspectionError, match="JSON 对象"):
        check(store, station, ["signage"])
    with pytest.raises(InvalidInspectionError, match="不能晚于现在"):
        svc.record_inspection(
            store, CITY, station.id, checklist=CHECKLIST, announced=True,
            results=all_pass(station), note="", photos=[], caps=CAPS,
            inspected_at=T0 + timedelta(days=1), now=T0,
        )  # fmt: skip
    with pytest.raises(StationNotFoundError):
        check(store, replace(station, id=999), {})
    assert store.list_inspections(InspectionQuery()) == ([], 0)


def test_photos_are_kept_and_served_to_readers_only(store, station):
    done = check(store, station, all_pass(station), photos=[("a.jpg", jpeg()), ("b.jpg", jpeg())])
    assert done.photo_count == 2 and len(done.photo_hashes) == 2
    data, content_type, digest = svc.photo(store, POST, done.id, 2, thumb=False)
    assert content_type == "image/jpeg" and data.startswith(b"\xff\xd8")
    assert digest == done.photo_hashes[1]
    thumb, _, thumb_digest = svc.photo(store, POST, done.id, 2, thumb=True)
    assert thumb != data and thumb_digest.endswith("-thumb")
    with pytest.raises(InspectionNotFoundError):
        svc.photo(store, POST, done.id, 3, thumb=False)
    with pytest.raises(ForbiddenError):
        svc.photo(store, RAIL, done.id, 1, thumb=False)
    with pytest.raises(PhotoRefusedError, match="最多 3 张"):
        check(store, station, all_pass(station), photos=[("a.jpg", jpeg())] * 4)


def test_a_check_is_all_or_nothing(store, station):
    check(store, station, all_pass(station, hygiene=False))
    with pytest.raises(PhotoRefusedError, match=r"c\.txt"):
        check(store, station, all_pass(station), photos=[("a.jpg", jpeg()), ("c.txt", b"hi")])
    good = Photo(b"\xff\xd8", b"\xff\xd8", 1, 1, "0" * 64)
    # No driver stores an object: the second photo's insert fails, inside the transaction.
    broken = replace(good, data=object())  # type: ignore[arg-type]
    first = store.list_inspections(InspectionQuery())[0][0]
    new = NewInspection(
        station_id=station.id, owner=first.owner, district_adcode=first.district_adcode,
        inspected_at=T0 + timedelta(days=1), recorded_at=T0 + timedelta(days=1),
        actor="x", announced=False, results={"signage": True, "fire_safety": False},
        labels={}, checklist_version="v", station_version=1,
    )  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        store.add_inspection(new, [good, broken], rectification_due={"fire_safety": T0})
    inspections, total = store.list_inspections(InspectionQuery())
    assert total == 1 and [i.id for i in inspections] == [first.id]
    open_ = store.list_rectifications(station_id=station.id)
    assert [(r.item_code, r.failed_again) for r in open_] == [("hygiene", 0)]
    assert store.get_photo(first.id + 1, 1, thumb=False) is None


def test_the_hours_suggest_whether_it_should_be_open(station):
    assert svc.open_suggestion(station, T0) is True  # Mon-Fri 9-18
    assert svc.open_suggestion(station, T0.replace(hour=20)) is False
    assert svc.open_suggestion(replace(station, hours="nonsense"), T0) is None


def test_a_check_recorded_late_does_not_close_what_a_later_check_opened(store, station):
    check(store, station, all_pass(station, hygiene=False), at=T0)
    check(store, station, all_pass(station), at=T0 - timedelta(days=2))  # from paper notes
    assert [r.item_code for r in svc.list_rectifications(store, CITY, now=T0)] == ["hygiene"]
    latest = svc.list_inspections(store, CITY)[0]
    assert [i.inspected_at for i in latest] == [T0, T0 - timedelta(days=2)]  # newest first


def test_two_checks_at_once_failing_one_item_leave_one_open_rectification(store, station):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            barrier.wait()
            check(store, station, all_pass(station, hygiene=False), at=T0 + timedelta(minutes=n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (open_,) = svc.list_rectifications(store, CITY, now=T0)
    assert open_.item_code == "hygiene" and open_.failed_again == 3
    assert store.list_inspections(InspectionQuery())[1] == 4


def test_figures_per_district_for_the_planners(store, station):
    check(store, station, all_pass(station, hygiene=False, fire_safety=False))
    check(store, station, all_pass(station, hygiene=False), at=T0 + timedelta(days=1))
    figures = store.inspection_figures(since=T0 - timedelta(days=1), now=T0 + timedelta(days=8))
    assert figures == {
        "500103": {
            "checks": 2,
            "stations_checked": 1,
            "rectifications_open": 1,
            "rectifications_overdue": 1,
        }
    }
    assert store.inspection_figures(since=T0 + timedelta(days=2), now=T0)["500103"] == {
        "checks": 0,
        "stations_checked": 0,
        "rectifications_open": 1,
        "rectifications_overdue": 0,
    }
