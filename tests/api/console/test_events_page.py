"""The console's 活动 page: a clerk's events, a form whose refusals keep what was typed and
say what is wrong beside each field, changes and deletes of the union's own events only."""

from __future__ import annotations

import pytest

from stations.domain.events import check_event
from tests.api.console.helpers import login, make_account, post
from tests.builders import GUANYINQIAO, make_station


@pytest.fixture
def stations(store, districts):
    yz = store.create(make_station(districts, external_id="YZ1", name="解放碑驿站"), actor="t")
    jb = store.create(
        make_station(
            districts,
            external_id="JB1",
            name="观音桥驿站",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    make_account(store, districts, code="500103")
    return yz, jb


FORM = {
    "title": "冬日送温暖",
    "kind": "warmth",
    "start": "2026-12-20T09:00",
    "end": "2026-12-20T12:00",
    "repeat": "none",
    "offer": "暖宝宝",
    "audience": "外卖骑手",
    "while_supplies_last": "1",
    "skip_holidays": "1",
}


def test_a_clerk_creates_an_event_at_the_unions_station(console, store, stations):
    yz, _ = stations
    csrf = login(console, "yz500103")
    page = console.get("/console/events").text
    assert "解放碑驿站" in page and "观音桥驿站" not in page  # only the union's own stations
    r = post(
        console,
        "/console/events",
        csrf,
        data={**FORM, "station_ids": str(yz.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:800]
    [event] = store.list_events()
    assert (event.title, event.station_ids, event.owner) == (
        "冬日送温暖",
        (yz.id,),
        "district:500103",
    )
    assert event.while_supplies_last and event.offer == "暖宝宝"
    listing = console.get("/console/events").text
    assert "冬日送温暖" in listing and "送完即止" in listing


def test_a_refused_form_keeps_everything_and_says_why_beside_each_field(console, store, stations):
    yz, _ = stations
    csrf = login(console, "yz500103")
    bad = {
        **FORM,
        "title": "",
        "end": "2026-12-20T08:00",
        "repeat": "weekly",
        "offer": "姜茶<script>",
        "station_ids": str(yz.id),
    }
    r = post(console, "/console/events", csrf, data=bad, follow_redirects=False)
    assert r.status_code == 422
    html = r.text
    assert "请填写活动名称" in html and "结束时间应晚于开始时间" in html
    assert "每周重复的活动请选择星期几" in html and "每周重复的活动请填写截止日期" in html
    assert 'value="姜茶&lt;script&gt;"' in html  # kept, escaped
    assert f'<option value="{yz.id}" selected>' in html
    assert 'value="2026-12-20T08:00"' in html
    assert store.list_events() == []


def test_another_unions_event_cannot_be_changed_or_deleted(console, store, stations):
    _, jb = stations
    spec = check_event({**FORM, "station_ids": [jb.id], "while_supplies_last": True})
    theirs = store.add_event(spec, owner="district:500105", actor="t", at=spec.start)
    csrf = login(console, "yz500103")
    assert console.get(f"/console/events/{theirs.id}").status_code == 403
    r = post(console, f"/console/events/{theirs.id}/delete", csrf, follow_redirects=False)
    assert r.status_code == 403
    assert store.find_event(theirs.id) is not None


def test_a_clerk_edits_then_deletes_an_event(console, store, stations):
    yz, _ = stations
    csrf = login(console, "yz500103")
    post(
        console,
        "/console/events",
        csrf,
        data={**FORM, "station_ids": str(yz.id)},
        follow_redirects=False,
    )
    [event] = store.list_events()
    form = console.get(f"/console/events/{event.id}").text
    assert 'value="冬日送温暖"' in form and 'name="version" value="1"' in form
    changed = {
        **FORM,
        "title": "每周理发",
        "kind": "haircut",
        "repeat": "weekly",
        "weekdays": ["Mo", "Th"],
        "until": "2027-03-01",
        "station_ids": str(yz.id),
        "version": "1",
    }
    r = post(console, f"/console/events/{event.id}", csrf, data=changed, follow_redirects=False)
    assert r.status_code == 303, r.text[:800]
    got = store.get_event(event.id)
    assert got.title == "每周理发" and got.recurrence.weekdays == (0, 3)
    stale = post(
        console,
        f"/console/events/{event.id}",
        csrf,
        data={**changed, "title": "旧"},
        follow_redirects=False,
    )
    assert stale.status_code == 409 and "别人修改了它" in stale.text
    assert (
        post(
            console, f"/console/events/{event.id}/delete", csrf, follow_redirects=False
        ).status_code
        == 303
    )
    assert store.list_events() == []
