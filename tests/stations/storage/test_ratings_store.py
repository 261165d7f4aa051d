"""Ratings in the store: one vote per address and station, the low ones' cases opened in
the same transaction, limits, the address hashes cleared after the window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.cases import CaseState, receipt_hash
from stations.domain.feedback import RateLimit, TooManyRatingsError
from stations.domain.ratings import NewRating
from stations.storage import ratings_repo
from tests.builders import make_station

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=TZ)
DAY = 86400.0
WINDOW = 30 * DAY


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def rating(stars=4, *, station_id=1, client="c1", at=T0, comment="", receipt=None):
    return NewRating(
        station_id=station_id,
        owner="district:500103",
        district_adcode="500103",
        stars=stars,
        comment=comment,
        client_hash=client,
        created_at=at,
        case_due_at=at + timedelta(hours=72) if receipt else None,
        receipt_sha256=receipt_hash(receipt) if receipt else None,
    )


def test_a_second_rating_from_one_address_within_the_window_replaces_the_first(store):
    first, replaced = store.add_rating(rating(5), dedupe_s=WINDOW)
    assert not replaced
    second, replaced = store.add_rating(
        rating(2, at=T0 + timedelta(days=1), comment="变差了"), dedupe_s=WINDOW
    )
    assert replaced and second.id == first.id
    assert second.stars == 2 and second.comment == "变差了"
    assert second.updated_at > second.created_at
    assert store.rating_summary() == {1: (2.0, 1)}


def test_a_flood_from_one_address_is_one_vote(store):
    for i in range(4):
        store.add_rating(rating(4, client=f"rider{i}"), dedupe_s=WINDOW)
    assert store.rating_summary([1]) == {1: (4.0, 4)}
    for minute in range(50):
        store.add_rating(
            rating(1, client="flood", at=T0 + timedelta(minutes=minute)), dedupe_s=WINDOW
        )
    average, count = store.rating_summary([1])[1]
    assert count == 5  # the average moved by one vote, not fifty
    assert average == pytest.approx((4 * 4 + 1) / 5)


def test_after_the_window_a_new_rating_counts_and_the_old_hash_is_cleared(store):
    store.add_rating(rating(5), dedupe_s=WINDOW)
    _, replaced = store.add_rating(rating(3, at=T0 + timedelta(days=31)), dedupe_s=WINDOW)
    assert not replaced
    assert store.rating_summary()[1] == (4.0, 2)
    rows = store._conn().execute("SELECT client_hash FROM ratings ORDER BY id")
    hashes = [r[0] for r in rows]
    assert hashes == [None, "c1"]


def test_other_clients_hashes_past_the_window_are_cleared_by_any_write(store):
    store.add_rating(rating(5, client="old"), dedupe_s=WINDOW)
    store.add_rating(rating(4, client="new", at=T0 + timedelta(days=40)), dedupe_s=WINDOW)
    rows = store._conn().execute("SELECT client_hash FROM ratings")
    hashes = {r[0] for r in rows}
    assert hashes == {None, "new"}


def test_limits_count_ratings_and_replacements(store):
    limits = [RateLimit("client", 2, 3600)]
    store.add_rating(rating(station_id=1), dedupe_s=WINDOW, limits=limits)
    store.add_rating(
        rating(station_id=2, at=T0 + timedelta(minutes=1)), dedupe_s=WINDOW, limits=limits
    )
    with pytest.raises(TooManyRatingsError) as caught:
        store.add_rating(
            rating(station_id=3, at=T0 + timedelta(minutes=2)), dedupe_s=WINDOW, limits=limits
        )
    assert caught.value.retry_after_s == 58 * 60
    per_station = [RateLimit("station", 1, 3600)]
    with pytest.raises(TooManyRatingsError):
        store.add_rating(
            rating(station_id=1, client="c2", at=T0 + timedelta(minutes=3)),
            dedupe_s=WINDOW,
            limits=per_station,
        )


def test_a_low_rating_with_a_comment_opens_a_case_in_the_same_transaction(store):
    stored, _ = store.add_rating(
        rating(1, comment="厕所很脏", receipt="ABCDEFGHJKMN"), dedupe_s=WINDOW
    )
    assert stored.case_id is not None
    case = store.find_case_by_receipt(receipt_hash("ABCD-EFGH-JKMN"))
    assert case is not None and case.id == stored.case_id
    assert case.source == "rating" and case.kind == "low_rating" and case.stars == 1
    assert case.text == "厕所很脏" and case.state is CaseState.OPEN
    # Replaced while open: the case stays, with the new comment and its first receipt (the
    # one the rider was shown; the replacement's opens nothing).
    again, replaced = store.add_rating(
        rating(2, comment="还是很脏", receipt="NMKJHGFEDCBA", at=T0 + timedelta(hours=1)),
        dedupe_s=WINDOW,
    )
    assert replaced and again.case_id == case.id
    kept = store.find_case_by_receipt(receipt_hash("ABCDEFGHJKMN"))
    assert kept is not None and kept.id == case.id and kept.text == "还是很脏"
    assert store.find_case_by_receipt(receipt_hash("NMKJHGFEDCBA")) is None


def test_a_failing_case_leaves_no_rating(store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the case could not be written")

    monkeypatch.setattr(ratings_repo, "open_case", broken)
    with pytest.raises(RuntimeError):
        store.add_rating(rating(1, comment="脏", receipt="ABCDEFGHJKMN"), dedupe_s=WINDOW)
    assert store.rating_summary() == {}


def test_ratings_with_comments_for_the_owner(store, districts):
    mine = store.create(make_station(districts, external_id="A"), actor="t")
    store.add_rating(rating(5, station_id=mine.id, comment="很好"), dedupe_s=WINDOW)
    store.add_rating(rating(4, station_id=mine.id, client="c2"), dedupe_s=WINDOW)
    items, total = store.list_ratings(owner="district:500103")
    assert total == 1 and items[0].comment == "很好"
    assert store.list_ratings(owner="district:500105") == ([], 0)
    assert store.list_ratings(owner=None, with_comments=False)[1] == 2


def test_replacements_from_one_address_are_paced(store):
    limits = [RateLimit("client", 10, 3600)]  # one every six minutes
    store.add_rating(rating(5), dedupe_s=WINDOW, limits=limits)
    # A mistaken tap is corrected at once; the next change waits its turn.
    store.add_rating(rating(4, at=T0 + timedelta(seconds=5)), dedupe_s=WINDOW, limits=limits)
    with pytest.raises(TooManyRatingsError) as caught:
        store.add_rating(
            rating(1, at=T0 + timedelta(minutes=1, seconds=5)), dedupe_s=WINDOW, limits=limits
        )
    assert caught.value.retry_after_s == 5 * 60
    _, replaced = store.add_rating(
        rating(1, at=T0 + timedelta(minutes=6, seconds=5)), dedupe_s=WINDOW, limits=limits
    )
    assert replaced and store.rating_summary()[1] == (1.0, 1)
