"""Ratings over HTTP: the contract's shapes, replacement, a low rating's receipt, the
comments for the owning union only."""

from __future__ import annotations

import pytest

from tests.api.cases_helpers import (
    JIANGBEI,
    XSS,
    YUZHONG,
    assert_problem,
    client_at,
    two_stations,
)
from tests.api.clients import bearer


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def stations(store, districts):
    return two_stations(store, districts)


def rate(client, station_id, stars, comment=None):
    body = {"stars": stars} if comment is None else {"stars": stars, "comment": comment}
    return client.post(f"/v1/stations/{station_id}/ratings", json=body)


def test_a_rating_then_its_replacement(client, stations):
    yz, _ = stations
    first = rate(client, yz.id, 5)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "station_id": yz.id,
        "stars": 5,
        "replaced": False,
        "receipt": None,
        "message": "评价已收到，谢谢！",
    }
    again = rate(client, yz.id, 4, "还行")
    assert again.status_code == 200 and again.json()["replaced"] is True
    assert again.json()["receipt"] is None
    assert again.headers["cache-control"] == "no-store"


def test_a_low_rating_with_a_comment_gets_a_receipt(client, stations):
    yz, _ = stations
    r = rate(client, yz.id, 1, "没有热水")
    assert r.status_code == 201
    receipt = r.json()["receipt"]
    assert receipt and len(receipt) == 14 and receipt.count("-") == 2
    seen = client.get(f"/v1/feedback/receipts/{receipt}").json()
    assert seen["source"] == "rating" and seen["kind_label"] == "差评"
    assert seen["state"] == "open" and "没有热水" not in str(seen)


def test_bad_ratings_are_refused_in_chinese(client, stations):
    yz, _ = stations
    problem = assert_problem(rate(client, yz.id, 6), 422, "invalid_rating")
    assert problem["errors"][0]["message"] == "星级应是 1 到 5 的整数"
    assert_problem(rate(client, yz.id, 3, "长" * 301), 422, "invalid_rating")
    assert_problem(rate(client, 999999, 3), 404, "station_not_found")


def test_a_flood_is_limited_per_address(store, districts, db_path, stations):
    yz, jb = stations
    with client_at(store, districts, db_path, ratings_per_client_per_hour=1) as c:
        assert rate(c, yz.id, 5).status_code == 201
        limited = assert_problem(rate(c, jb.id, 5), 429, "too_many_ratings")
        assert limited
    with client_at(store, districts, db_path, address="198.51.100.8") as other:
        assert rate(other, jb.id, 5).status_code == 201


def test_comments_go_to_the_owning_union_only(client, store, stations):
    yz, jb = stations
    rate(client, yz.id, 2, XSS)
    rate(client, jb.id, 5, "江北很好")
    mine = client.get("/v1/ratings/comments", headers=bearer(store, "district", YUZHONG))
    assert mine.status_code == 200
    assert [(i["station_id"], i["comment"]) for i in mine.json()["items"]] == [(yz.id, XSS)]
    one = client.get(
        f"/v1/ratings/comments?station_id={yz.id}", headers=bearer(store, "district", YUZHONG)
    )
    assert one.json()["total"] == 1
    other = client.get(
        f"/v1/ratings/comments?station_id={yz.id}", headers=bearer(store, "district", JIANGBEI)
    )
    assert_problem(other, 403, "forbidden")
    assert_problem(client.get("/v1/ratings/comments"), 401, "unauthorized")
    city = client.get("/v1/ratings/comments", headers=bearer(store, "admin")).json()
    assert city["total"] == 2
    # The public record never shows a comment.
    record = client.get(f"/v1/stations/{yz.id}").text
    assert XSS not in record and "onerror" not in record


def test_a_receipt_keeps_working_when_its_rating_is_replaced(client, stations):
    """A second low rating from the same address (the rider correcting it, or another rider
    on the station's Wi-Fi) replaces the rating; the receipt shown first, kept in 我的反馈,
    still follows the case (it was a 404 once the replacement took the case)."""
    yz, _ = stations
    first = rate(client, yz.id, 1, "热水器坏了").json()["receipt"]
    again = rate(client, yz.id, 2, "空调也坏了")
    assert again.status_code == 200 and again.json()["replaced"] is True
    assert again.json()["receipt"] is None  # it opened no case: the first one stays
    seen = client.get(f"/v1/feedback/receipts/{first}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["state"] == "open"
