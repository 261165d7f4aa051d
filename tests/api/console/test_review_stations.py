"""Review of the console's stations pages and inbox (R1): authorization across unions,
escaping, CSRF, lost work in concurrent edits, the clerk's messages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stations.domain.changes import Delete
from stations.services.console_queries import form_values
from tests.api.console.helpers import login, make_account, post
from tests.api.console.test_stations import _form, _yuzhong


def _two_clerks(console, store, districts):
    make_account(store, districts, code="500103", username="clerk1")
    make_account(store, districts, code="500103", username="clerk2")
    csrf = login(console, "clerk1")
    other = TestClient(console.app)
    return csrf, other, login(other, "clerk2")


def test_two_clerks_recording_different_providers_listings_keep_both(console, store, districts):
    """Clerk 2 records the Baidu listing; clerk 1, on a form loaded before, records the
    Amap one and applies it on top: Baidu's must stay (the conflict page promises that
    fields the clerk did not touch keep the other person's values)."""
    station = _yuzhong(store, districts)
    csrf, other, other_csrf = _two_clerks(console, store, districts)
    loaded = form_values(station)
    answer = post(
        other,
        f"/console/stations/{station.id}",
        other_csrf,
        data=_form(loaded, baidu_listed=True, baidu_poi_id="BD-123", base_version="1"),
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:1500]
    mine = _form(loaded, amap_listed=True, amap_poi_id="B0AMAP", base_version="1")
    refused = post(console, f"/console/stations/{station.id}", csrf, data=mine)
    assert refused.status_code == 409
    assert "BD-123" in refused.text
    applied = post(
        console,
        f"/console/stations/{station.id}",
        csrf,
        data={**mine, "expected_version": "2"},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(station.id)
    assert now.listing("amap") is not None and now.listing("amap").poi_id == "B0AMAP"
    assert now.listing("baidu") is not None and now.listing("baidu").poi_id == "BD-123"
    other.close()


def test_two_clerks_ticking_different_amenities_keep_both(console, store, districts):
    """Clerk 2 ticks 厕所 and unticks 热水; clerk 1, on the older form, ticks 无线网络 and
    applies it on top: 厕所 and 无线网络 ticked, 热水 not (clerk 1 did not touch it)."""
    station = _yuzhong(store, districts, amenities=("hot_water", "phone_charging"))
    csrf, other, other_csrf = _two_clerks(console, store, districts)
    loaded = form_values(station)
    theirs = _form(loaded, amenities=["phone_charging", "toilet"], base_version="1")
    answer = post(other, f"/console/stations/{station.id}", other_csrf, data=theirs)
    assert answer.status_code == 200, answer.text[:1500]  # followed to the saved form
    mine = _form(loaded, amenities=["hot_water", "phone_charging", "wifi"], base_version="1")
    applied = post(
        console,
        f"/console/stations/{station.id}",
        csrf,
        data={**mine, "expected_version": "2"},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text[:1500]
    assert set(store.get(station.id).amenities) == {"phone_charging", "toilet", "wifi"}
    other.close()


def test_a_station_deleted_while_edited_keeps_the_clerks_input(console, store, districts):
    """Someone deletes the station while the clerk edits it: saving shows the form again
    with what the clerk typed (to create it anew), not a bare 404 page."""
    station = _yuzhong(store, districts)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    assert console.get(f"/console/stations/{station.id}").status_code == 200
    store.apply([Delete(station.id, 1)], actor="someone")
    form = _form(form_values(station), name="我刚改的名字", base_version="1")
    answer = post(console, f"/console/stations/{station.id}", csrf, data=form)
    assert answer.status_code == 409
    assert "已被删除" in answer.text and 'value="我刚改的名字"' in answer.text
    assert 'action="/console/stations"' in answer.text  # saving creates it again
    again = post(console, "/console/stations", csrf, data=form, follow_redirects=False)
    assert again.status_code == 303, again.text[:1500]
    assert store.count() == 1
