"""What the ratings', receipts' and cases' API tests share: two districts' stations."""

from __future__ import annotations

from tests.api.clients import api_client
from tests.builders import GUANYINQIAO, make_station

YUZHONG, JIANGBEI = "500103", "500105"
XSS = "<img src=x onerror=alert(1)>"


def two_stations(store, districts):
    """One station of 渝中区's union and one of 江北区's."""
    yz = store.create(make_station(districts, external_id="YZ1", name="渝中一站"), actor="t")
    jb = store.create(
        make_station(
            districts,
            external_id="JB1",
            name="江北一站",
            owner=f"district:{JIANGBEI}",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    return yz, jb


def client_at(store, districts, db_path, address="198.51.100.7", **settings):
    return api_client(store, districts, db_path, client=(address, 50000), **settings)


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    return r.json()
