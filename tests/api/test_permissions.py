"""Who may do what, as the API answers it: role × action × owner -> allowed or 403.

Every permission lives in stations/domain/auth.py; this table checks each one through
HTTP, against a station, an upload and a report owned by the Yuzhong district union.
"""

from __future__ import annotations

import csv
import io

import pytest

from geodata.crs import from_wgs84
from tests.api.clients import bearer
from tests.builders import JIEFANGBEI, make_station

YUZHONG, JIANGBEI = "500103", "500105"
OWNER = f"district:{YUZHONG}"

# role name -> (token role, code)
ROLES = {
    "city": ("admin", None),
    "own district": ("district", YUZHONG),
    "other district": ("district", JIANGBEI),
    "industry": ("industry", "transport"),
}
# Only the owner and the city union touch what is Yuzhong's.
ALLOWED = {"city", "own district"}


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def owned(store, districts):
    """A station of the Yuzhong district union, at Jiefangbei."""
    return store.create(make_station(districts, external_id="P1", owner=OWNER), actor="t")


def _expect(role: str, allowed_status: int) -> int:
    return allowed_status if role in ALLOWED else 403


def _check(r, status: int) -> None:
    assert r.status_code == status, r.text
    if status == 403:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "forbidden"
        # Chinese first, the English after it in brackets (中文（English）).
        detail = r.json()["detail"]
        assert "\u4e00" <= detail[0] <= "\u9fff" and "（" in detail, detail


@pytest.mark.parametrize("role", ROLES)
def test_create_a_station_of_the_owner(client, store, role):
    doc = {
        "external_id": "P2",
        "name": "民族路工会驿站",
        "owner": OWNER,
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "每天 8:00-20:00",
    }
    r = client.post("/v1/stations", json=doc, headers=bearer(store, *ROLES[role]))
    _check(r, _expect(role, 201))


@pytest.mark.parametrize("role", ROLES)
def test_change_a_station_of_the_owner(client, store, owned, role):
    r = client.patch(
        f"/v1/stations/{owned.id}",
        json={"name": "新名字", "version": owned.version},
        headers=bearer(store, *ROLES[role]),
    )
    _check(r, _expect(role, 200))


@pytest.mark.parametrize("role", ROLES)
def test_delete_a_station_of_the_owner(client, store, owned, role):
    r = client.delete(
        f"/v1/stations/{owned.id}?version={owned.version}", headers=bearer(store, *ROLES[role])
    )
    _check(r, _expect(role, 204))


def _owners_upload(client, store) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["编号", "名称", "经度", "纬度", "开放时间"])
    w.writerow(["U1", "驿站U1", *from_wgs84(*JIEFANGBEI, crs="gcj02"), "周一至周五 9:00-18:00"])
    r = client.post(
        "/v1/uploads",
        headers=bearer(store, "district", YUZHONG),
        files={"file": ("stations.csv", out.getvalue().encode("gbk"))},
        data={"crs": "gcj02"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.parametrize("role", ROLES)
def test_see_commit_and_revert_an_upload_of_the_owner(client, store, role):
    upload_id = _owners_upload(client, store)
    headers = bearer(store, *ROLES[role])
    _check(client.get(f"/v1/uploads/{upload_id}", headers=headers), _expect(role, 200))
    _check(client.post(f"/v1/uploads/{upload_id}/commit", headers=headers), _expect(role, 200))
    _check(client.post(f"/v1/uploads/{upload_id}/revert", headers=headers), _expect(role, 200))


@pytest.mark.parametrize("role", ROLES)
def test_resolve_a_report_on_a_station_of_the_owner(client, store, owned, role):
    r = client.post(f"/v1/stations/{owned.id}/feedback", json={"kind": "locked"})
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/feedback/{r.json()['id']}/resolve", headers=bearer(store, *ROLES[role]))
    _check(r, _expect(role, 200))


@pytest.mark.parametrize("role", ROLES)
def test_reports_listed_are_the_roles_own(client, store, owned, role):
    client.post(f"/v1/stations/{owned.id}/feedback", json={"kind": "locked"})
    r = client.get("/v1/feedback", headers=bearer(store, *ROLES[role]))
    assert r.status_code == 200
    seen = [i["station_id"] for i in r.json()["items"]]
    assert seen == ([owned.id] if role in ALLOWED else [])
