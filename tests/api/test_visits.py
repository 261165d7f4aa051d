"""Check-ins over HTTP: the contract, de-duplication, limits, refusals, privacy."""

from __future__ import annotations

import pytest

from stations.domain.codes import display_code
from tests.api.clients import api_client
from tests.builders import GUANYINQIAO, make_station
from tests.stores import stored_text

ADDRESS = "198.51.100.7"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def make_client(store, districts, db_path, *, client=(ADDRESS, 50000), **settings):
    return api_client(store, districts, db_path, client=client, **settings)


@pytest.fixture
def client(store, districts, db_path):
    with make_client(store, districts, db_path) as c:
        yield c


@pytest.fixture
def stations(store, districts):
    yz = store.create(make_station(districts, external_id="YZ1", name="渝中一站"), actor="t")
    jb = store.create(
        make_station(
            districts,
            external_id="JB1",
            name="江北一站",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    return yz, jb


def check_in(client, station_id, occupation="delivery", **body):
    return client.post(f"/v1/stations/{station_id}/visits", json={"occupation": occupation, **body})


def counted(client, station_id=None):
    q = "" if station_id is None else f"&station_id={station_id}"
    return client.get(f"/v1/usage?by=occupation{q}").json()["total"]


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code


def test_a_check_in_is_counted_then_a_repeat_is_thanked_not_counted(client, stations):
    yz, _ = stations
    r = check_in(client, yz.id)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "counted": True,
        "station_id": yz.id,
        "occupation": "delivery",
        "occupation_label": "外卖配送员",
        "message": "签到成功，谢谢！",
    }
    assert r.headers["cache-control"] == "no-store"
    again = check_in(client, yz.id, "快递员")
    assert again.status_code == 200, again.text
    assert again.json()["counted"] is False
    assert again.json()["message"] == "已签到，谢谢"
    assert again.json()["occupation"] == "courier"
    assert counted(client, yz.id) == 1


@pytest.mark.parametrize("value", ["外卖配送员", " 外卖配送员 ", "DELIVERY", "ｄｅｌｉｖｅｒｙ"])
def test_an_occupation_is_its_code_or_its_chinese_label(client, stations, value):
    r = check_in(client, stations[0].id, value)
    assert r.status_code == 201, r.text
    assert r.json()["occupation"] == "delivery"


@pytest.mark.parametrize("value", ["", "骑手", "<img src=x onerror=alert(1)>", "n_delivery"])
def test_an_unknown_occupation_is_a_422_in_chinese(client, stations, value):
    r = check_in(client, stations[0].id, value)
    assert_problem(r, 422, "invalid_visit")
    assert "外卖配送员" in r.json()["detail"]
    assert counted(client) == 0


def test_a_missing_or_non_text_occupation_is_refused(client, stations):
    url = f"/v1/stations/{stations[0].id}/visits"
    assert_problem(client.post(url, json={}), 422, "invalid_parameter")
    assert_problem(client.post(url, json={"occupation": 3}), 422, "invalid_parameter")
    assert_problem(client.post(url, json=["delivery"]), 422, "invalid_parameter")
    assert counted(client) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_cross_site_simple_form_post_is_refused_and_not_counted(client, stations, content_type):
    """A page elsewhere may send a form without CORS' permission, but only as one of these
    types: none is JSON, so none is counted."""
    r = client.post(
        f"/v1/stations/{stations[0].id}/visits",
        content=b'{"occupation": "delivery"}',
        headers={"Content-Type": content_type},
    )
    assert r.status_code in (415, 422), r.text
    assert counted(client) == 0


@pytest.mark.parametrize(("status", "says"), [("planned", "尚未开放"), ("closed", "已关闭")])
def test_a_station_that_is_not_serving_takes_no_check_in(client, store, districts, status, says):
    """Nobody can be let in: a check-in there would count as use and as proof it works."""
    shut = store.create(make_station(districts, external_id="X", status=status), actor="t")
    r = check_in(client, shut.id)
    assert_problem(r, 422, "invalid_visit")
    assert says in r.json()["detail"]
    assert counted(client, shut.id) == 0
    paused = store.create(
        make_station(districts, external_id="P", status="temporarily_closed"), actor="t"
    )
    assert check_in(client, paused.id).status_code == 201  # someone let them in: it counts


def test_an_unknown_station_is_a_404(client, stations):
    assert_problem(check_in(client, 999), 404, "station_not_found")


def test_the_poster_code_marks_the_check_in_and_must_be_this_station_s(client, store, stations):
    yz, jb = stations
    r = check_in(client, yz.id, code=display_code(yz.code).lower())
    assert r.status_code == 201, r.text
    assert store._conn().execute("SELECT via_poster FROM visits").fetchone()[0] == 1
    assert_problem(check_in(client, jb.id, code=yz.code), 422, "invalid_visit")
    assert_problem(check_in(client, jb.id, code="NOPE-NOPE"), 422, "invalid_visit")
    assert counted(client) == 1


def test_a_flood_from_one_address_counts_once(client, stations):
    yz, jb = stations
    for _ in range(30):
        assert check_in(client, yz.id).status_code in (200, 201)
    assert counted(client, yz.id) == 1
    assert counted(client, jb.id) == 0


def test_the_limit_per_address_is_a_429_with_retry_after(store, districts, db_path, stations):
    yz, jb = stations
    with make_client(store, districts, db_path, visits_per_client_per_hour=1) as c:
        assert check_in(c, yz.id).status_code == 201
        r = check_in(c, jb.id)
        assert_problem(r, 429, "too_many_check_ins")
        assert 3590 <= int(r.headers["retry-after"]) <= 3600
        assert check_in(c, yz.id).status_code == 200  # a repeat is still thanked
    with make_client(store, districts, db_path, client=("203.0.113.9", 1)) as other:
        assert check_in(other, jb.id).status_code == 201
    assert counted(other) == 2


def test_the_limit_per_station_is_a_429(store, districts, db_path, stations):
    yz, _ = stations
    with make_client(store, districts, db_path, visits_per_station_per_hour=1) as c:
        assert check_in(c, yz.id).status_code == 201
    with make_client(
        store, districts, db_path, client=("203.0.113.9", 1), visits_per_station_per_hour=1
    ) as other:
        assert_problem(check_in(other, yz.id), 429, "too_many_check_ins")


def test_the_client_address_is_not_in_the_database(store, districts, db_path, stations):
    yz, jb = stations
    v6 = "2001:db8:85a3::8a2e:370:7334"
    for address in (ADDRESS, v6):
        with make_client(store, districts, db_path, client=(address, 1)) as c:
            assert check_in(c, yz.id).status_code == 201
            assert check_in(c, jb.id, "环卫工人").status_code == 201
    text = stored_text(store)
    for needle in (ADDRESS, v6, "2001:db8:85a3", "2001:db8:85a3::/64"):
        assert needle not in text
    hashes = [r[0] for r in store._conn().execute("SELECT client_hash FROM visits").fetchall()]
    assert len(hashes) == 4 and all(len(h) == 32 and int(h, 16) >= 0 for h in hashes)


def test_no_anonymous_write_leaves_the_address_in_the_database(store, districts, db_path, stations):
    """Check-ins, ratings, reports, receipts looked up (a wrong one too): a dump of every
    table holds neither address nor its IPv6 /64, nor a receipt in the clear."""
    yz, _ = stations
    v6 = "2001:db8:85a3::8a2e:370:7334"
    receipts: list[str] = []
    for address in (ADDRESS, v6):
        with make_client(store, districts, db_path, client=(address, 1)) as c:
            assert check_in(c, yz.id).status_code == 201
            rated = c.post(f"/v1/stations/{yz.id}/ratings", json={"stars": 1, "comment": "脏"})
            assert rated.status_code == 201, rated.text
            reported = c.post(f"/v1/stations/{yz.id}/feedback", json={"kind": "locked"})
            assert reported.status_code == 201, reported.text
            receipts += [rated.json()["receipt"], reported.json()["receipt"]]
            for receipt in receipts[-2:]:
                assert c.get(f"/v1/feedback/receipts/{receipt}").status_code == 200
            assert c.get("/v1/feedback/receipts/ABCD-EFGH-JKMN").status_code == 404
    text = stored_text(store)
    for needle in (ADDRESS, v6, "2001:db8:85a3", "2001:db8:85a3::/64"):
        assert needle not in text
    for receipt in receipts:  # only their SHA-256
        assert receipt not in text and receipt.replace("-", "") not in text
