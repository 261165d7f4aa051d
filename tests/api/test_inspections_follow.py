"""A station's checks and open rectifications follow it to its new owner and district,
as its reports and cases do (tests/api/test_feedback.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.changes import Delete
from tests.api.clients import api_client, bearer
from tests.api.test_inspections import jpeg, post_check, results_for
from tests.builders import GUANYINQIAO, make_station

YUZHONG, JIANGBEI = "500103", "500105"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def test_checks_and_rectifications_follow_a_station(store, districts, db_path):
    post = store.create(make_station(districts, owner="industry:post", name="邮政驿站"), actor="t")
    with api_client(store, districts, db_path) as client:
        yuzhong = bearer(store, "district", YUZHONG)
        done = post_check(
            client,
            yuzhong,
            post.id,
            results_for(client, post.id, signage=False),
            photos=[("a.jpg", jpeg())],
            inspected_at=(datetime.now(TZ) - timedelta(days=60)).isoformat(),
        )
        assert done.status_code == 201, done.text
        check = done.json()["id"]
        handed = store.update(
            post.with_changes(owner=make_station(districts, owner="industry:transport").owner),
            expected_version=post.version,
            actor="t",
        )
        transport = bearer(store, "industry", "transport")
        due = client.get("/v1/rectifications", headers=transport).json()["items"]
        assert [r["item_code"] for r in due] == ["signage"]
        assert client.get(f"/v1/inspections/{check}", headers=transport).status_code == 200
        assert (
            client.get(f"/v1/inspections/{check}/photos/1.jpg", headers=transport).status_code
            == 200
        )
        assert client.get("/v1/inspections", headers=transport).json()["total"] == 1
        old = bearer(store, "industry", "post")
        assert client.get("/v1/rectifications", headers=old).json()["items"] == []
        assert client.get(f"/v1/inspections/{check}", headers=old).status_code == 403
        assert client.get("/v1/inspections", headers=old).json()["total"] == 0

        # Moved across the river: Jiangbei's union now checks it and sees what is due.
        there = make_station(
            districts, owner="industry:transport", lon=GUANYINQIAO[0], lat=GUANYINQIAO[1]
        )
        store.update(
            handed.with_changes(
                lon=there.lon, lat=there.lat, district_adcode=there.district_adcode
            ),
            expected_version=handed.version,
            actor="t",
        )
        assert there.district_adcode == JIANGBEI
        jiangbei = bearer(store, "district", JIANGBEI)
        due = client.get("/v1/rectifications", headers=jiangbei).json()["items"]
        assert [(r["item_code"], r["district_adcode"]) for r in due] == [("signage", JIANGBEI)]
        assert client.get(f"/v1/inspections/{check}", headers=jiangbei).status_code == 200
        assert client.get("/v1/rectifications", headers=yuzhong).json()["items"] == []
        assert client.get(f"/v1/inspections/{check}", headers=yuzhong).status_code == 403
        overdue = client.get("/v1/rectifications?overdue=true", headers=jiangbei).json()
        assert len(overdue["items"]) == 1
        now = datetime.now(TZ)
        figures = store.ops_figures_by_district(now - timedelta(days=365), now)
        assert figures[JIANGBEI].rectifications_overdue == 1
        assert YUZHONG not in figures or figures[YUZHONG].rectifications_overdue == 0
        by_district = store.inspection_figures(since=now - timedelta(days=365), now=now)
        assert by_district[JIANGBEI]["rectifications_overdue"] == 1


def test_a_deleted_stations_rectifications_are_no_longer_due(store, districts, db_path):
    station = store.create(make_station(districts), actor="t")
    with api_client(store, districts, db_path) as client:
        city = bearer(store, "admin")
        done = post_check(
            client,
            city,
            station.id,
            results_for(client, station.id, hygiene=False),
            inspected_at=(datetime.now(TZ) - timedelta(days=60)).isoformat(),
        )
        assert done.status_code == 201, done.text
        assert len(client.get("/v1/rectifications?overdue=true", headers=city).json()["items"]) == 1
        store.apply([Delete(station.id, station.version)], actor="t")
        # Nothing can check it again, so nothing would ever close them.
        assert client.get("/v1/rectifications", headers=city).json()["items"] == []
        assert client.get("/v1/rectifications?overdue=true", headers=city).json()["items"] == []
        now = datetime.now(TZ)
        figures = store.ops_figures_by_district(now - timedelta(days=365), now)
        assert YUZHONG not in figures or figures[YUZHONG].rectifications_overdue == 0
        by_district = store.inspection_figures(since=now - timedelta(days=365), now=now)
        assert by_district[YUZHONG]["rectifications_overdue"] == 0
        assert by_district[YUZHONG]["checks"] == 1  # the check itself was done
        assert client.get(f"/v1/inspections/{done.json()['id']}", headers=city).status_code == 200


def test_an_item_that_no_longer_applies_has_its_rectification_closed(store, districts, db_path):
    station = store.create(make_station(districts, amenities="热水、厕所"), actor="t")
    with api_client(store, districts, db_path) as client:
        city = bearer(store, "admin")
        results = results_for(client, station.id, **{"amenity.hot_water": False})
        first = post_check(client, city, station.id, results)
        assert first.status_code == 201, first.text
        due = client.get("/v1/rectifications", headers=city).json()["items"]
        assert [r["item_code"] for r in due] == ["amenity.hot_water"]
        # The union takes the broken water heater off the record: the item is gone from
        # the station's list, so no later check can pass it.
        without = make_station(districts, amenities="厕所")
        store.update(
            station.with_changes(amenities=without.amenities),
            expected_version=station.version,
            actor="t",
        )
        results = results_for(client, station.id)
        assert "amenity.hot_water" not in results
        again = post_check(client, city, station.id, results)
        assert again.status_code == 201, again.text
        assert client.get("/v1/rectifications", headers=city).json()["items"] == []
