"""Events over HTTP: a union writes at its own stations only, field-by-field 422s in
Chinese, what is on near a point nearest first (against brute-force ellipsoidal distances),
positions in the request's crs, and the current/next event on nearest results."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from pyproj import Geod

from geodata.crs import from_wgs84
from geodata.hours import TZ
from tests.api.cases_helpers import JIANGBEI, YUZHONG, assert_problem, two_stations
from tests.api.clients import bearer
from tests.builders import JIEFANGBEI, make_station


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def stations(store, districts):
    return two_stations(store, districts)


def soon(hours=0.0, *, length_h=2.0):
    start = (datetime.now(TZ) + timedelta(hours=hours)).replace(second=0, microsecond=0)
    return start.isoformat(), (start + timedelta(hours=length_h)).isoformat()


def body(station_id, **changes):
    start, end = soon(-1)
    doc = {
        "station_id": station_id,
        "title": "冬日送温暖",
        "kind": "送温暖",
        "start": start,
        "end": end,
        "offer": "暖宝宝、姜茶",
        "audience": "户外劳动者",
        "while_supplies_last": True,
    }
    doc.update(changes)
    return doc


def test_a_union_creates_reads_changes_and_deletes_its_event(client, store, stations):
    yz, _ = stations
    auth = bearer(store, "district", YUZHONG)
    r = client.post("/v1/events", json=body(yz.id), headers=auth)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["kind"] == "warmth" and made["kind_label"] == "送温暖"
    assert made["station_ids"] == [yz.id] and made["owner"] == f"district:{YUZHONG}"
    assert made["current"] is not None  # started an hour ago, two hours long
    got = client.get(f"/v1/events/{made['id']}")
    assert got.status_code == 200 and got.json()["title"] == "冬日送温暖"
    etag = got.headers["etag"]
    r = client.patch(
        f"/v1/events/{made['id']}",
        json={"title": "送温暖：姜茶"},
        headers={**auth, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "送温暖：姜茶" and r.json()["version"] == 2
    stale = client.patch(
        f"/v1/events/{made['id']}", json={"title": "x"}, headers={**auth, "If-Match": etag}
    )
    assert_problem(stale, 409, "stale_event")
    assert client.delete(f"/v1/events/{made['id']}", headers=auth).status_code == 204
    assert_problem(client.get(f"/v1/events/{made['id']}"), 404, "event_not_found")


def test_an_event_read_by_anyone_names_its_union_not_who_wrote_it(client, store, stations):
    """The public answer gives no clerk's username nor token id (what a sign-in lockout
    aims at), in the event, the list or the answer to a write."""
    yz, _ = stations
    r = client.post("/v1/events", json=body(yz.id), headers=bearer(store, "district", YUZHONG))
    assert r.status_code == 201, r.text
    read = [r, client.get(f"/v1/events/{r.json()['id']}"), client.get("/v1/events")]
    for answer in read:
        assert answer.status_code == 200 or answer.status_code == 201
        assert "created_by" not in answer.text and "token" not in answer.text
    assert read[1].json()["owner"] == f"district:{YUZHONG}"


def test_writing_needs_a_token_and_a_union_only_at_its_own_stations(client, store, stations):
    yz, jb = stations
    assert_problem(client.post("/v1/events", json=body(yz.id)), 401, "unauthorized")
    jiangbei = bearer(store, "district", JIANGBEI)
    assert_problem(client.post("/v1/events", json=body(yz.id), headers=jiangbei), 403, "forbidden")
    made = client.post("/v1/events", json=body(yz.id), headers=bearer(store, "district", YUZHONG))
    event_id = made.json()["id"]
    assert_problem(
        client.patch(f"/v1/events/{event_id}", json={"title": "抢"}, headers=jiangbei),
        403,
        "forbidden",
    )
    assert_problem(client.delete(f"/v1/events/{event_id}", headers=jiangbei), 403, "forbidden")
    assert client.get(f"/v1/events/{event_id}").json()["title"] == "冬日送温暖"
    # The city union may write at any union's station, but one event keeps to one union.
    admin = bearer(store, "admin")
    mixed = client.post("/v1/events", json=body(None, station_ids=[yz.id, jb.id]), headers=admin)
    assert_problem(mixed, 422, "invalid_event")
    assert client.post("/v1/events", json=body(jb.id), headers=admin).status_code == 201


def test_refusing_another_unions_event_says_why_in_chinese_first(client, store, stations):
    yz, _ = stations
    made = client.post("/v1/events", json=body(yz.id), headers=bearer(store, "district", YUZHONG))
    event_id = made.json()["id"]
    jiangbei = bearer(store, "district", JIANGBEI)
    for r in (
        client.patch(f"/v1/events/{event_id}", json={"title": "抢"}, headers=jiangbei),
        client.delete(f"/v1/events/{event_id}", headers=jiangbei),
    ):
        detail = assert_problem(r, 403, "forbidden")["detail"]
        assert "\u4e00" <= detail[0] <= "\u9fff", detail  # a clerk reads Chinese first
        assert "工会" in detail


def test_a_bad_event_says_what_is_wrong_field_by_field_in_chinese(client, store, stations):
    yz, _ = stations
    auth = bearer(store, "district", YUZHONG)
    bad = body(
        yz.id,
        title="",
        kind="party",
        end=soon(-5)[0],
        recurrence={"kind": "weekly", "weekdays": []},
    )
    problem = assert_problem(
        client.post("/v1/events", json=bad, headers=auth), 422, "invalid_event"
    )
    fields = {e["field"]: e for e in problem["errors"]}
    assert set(fields) >= {"title", "kind", "end", "recurrence.weekdays", "recurrence.until"}
    assert fields["end"]["message"] == "结束时间应晚于开始时间"
    assert "免费餐" in fields["kind"]["message"]
    unknown = assert_problem(
        client.post("/v1/events", json=body(987654), headers=auth), 422, "invalid_event"
    )
    assert "987654" in unknown["errors"][0]["message"]
    assert client.get("/v1/events").json()["total"] == 0  # nothing was kept


def test_near_lists_nearest_first_by_ellipsoidal_distance_in_the_asked_crs(
    client, store, districts
):
    rng = random.Random(19)
    made = []
    for i in range(12):
        lon = JIEFANGBEI[0] + rng.uniform(-0.01, 0.01)
        lat = JIEFANGBEI[1] + rng.uniform(-0.006, 0.006)
        made.append(
            store.create(
                make_station(districts, external_id=f"E{i}", name=f"站{i}", lon=lon, lat=lat),
                actor="t",
            )
        )
    auth = bearer(store, "district", YUZHONG)
    for s in made:
        start, end = soon(rng.uniform(-1, 48))
        r = client.post(
            "/v1/events", json=body(s.id, title=f"活动{s.id}", start=start, end=end), headers=auth
        )
        assert r.status_code == 201, r.text
    here = (JIEFANGBEI[0] + 0.002, JIEFANGBEI[1] - 0.001)
    glon, glat = (float(v) for v in from_wgs84(here[0], here[1], crs="gcj02"))
    r = client.get("/v1/events", params={"near": f"{glon},{glat}", "crs": "gcj02", "radius_m": 900})
    assert r.status_code == 200, r.text
    doc = r.json()
    geod = Geod(ellps="WGS84")
    expected = sorted((geod.inv(here[0], here[1], s.lon, s.lat)[2], s.id) for s in made)
    expected = [(d, sid) for d, sid in expected if d <= 900]
    assert [i["stations"][0]["id"] for i in doc["items"]] == [sid for _, sid in expected]
    for item, (d, _) in zip(doc["items"], expected, strict=True):
        assert item["distance_m"] == pytest.approx(d, abs=0.1)
        station = item["stations"][0]
        assert station["crs"] == "gcj02"
        wanted = store.get(station["id"])
        gx, gy = from_wgs84(wanted.lon, wanted.lat, crs="gcj02")
        assert (station["lon"], station["lat"]) == pytest.approx((float(gx), float(gy)), abs=1e-9)
    # Without near: by start time; a kind filter by code or Chinese name.
    starts = [i["start"] for i in client.get("/v1/events").json()["items"]]
    assert starts == sorted(starts) and len(starts) == 12
    assert client.get("/v1/events", params={"kind": "免费餐"}).json()["total"] == 0
    assert client.get("/v1/events", params={"kind": "warmth"}).json()["total"] == 12
    assert_problem(client.get("/v1/events", params={"kind": "party"}), 422, "invalid_parameter")


def test_nearest_results_and_the_window_carry_the_current_and_next_event(client, store, stations):
    yz, jb = stations
    auth = bearer(store, "district", YUZHONG)
    now_start, now_end = soon(-1)
    later_start, later_end = soon(30)
    on = client.post("/v1/events", json=body(yz.id, start=now_start, end=now_end), headers=auth)
    nxt = client.post(
        "/v1/events",
        json=body(yz.id, title="义诊", kind="health", start=later_start, end=later_end),
        headers=auth,
    )
    r = client.get("/v1/stations/nearest", params={"lon": yz.lon, "lat": yz.lat, "k": 2})
    assert r.status_code == 200, r.text
    by_id = {res["id"]: res for res in r.json()["results"]}
    assert by_id[yz.id]["event"]["id"] == on.json()["id"]
    assert by_id[yz.id]["next_event"]["id"] == nxt.json()["id"]
    assert by_id[yz.id]["next_event"]["kind"] == "health"
    assert by_id[jb.id]["event"] is None and by_id[jb.id]["next_event"] is None
    # The default window is 7 days from now: the health check (in 30 h) is in it, on_now not.
    items = {i["id"]: i for i in client.get("/v1/events").json()["items"]}
    assert items[on.json()["id"]]["on_now"] is True
    assert items[nxt.json()["id"]]["on_now"] is False
    two_h = client.get("/v1/events", params={"until": soon(2)[0]}).json()
    assert [i["id"] for i in two_h["items"]] == [on.json()["id"]]


def test_a_station_passed_to_another_union_takes_its_events_with_it(client, store, stations):
    """The city union hands 渝中一站 to the transport union: its event is then the transport
    union's to change or delete (not 渝中's any more), still shown on the station at once."""
    yz, _ = stations
    yuzhong = bearer(store, "district", YUZHONG)
    made = client.post("/v1/events", json=body(yz.id), headers=yuzhong).json()
    station = client.get(f"/v1/stations/{yz.id}").json()
    r = client.patch(
        f"/v1/stations/{yz.id}",
        json={"owner": "industry:transport", "version": station["version"]},
        headers=bearer(store, "admin"),
    )
    assert r.status_code == 200, r.text
    got = client.get(f"/v1/events/{made['id']}").json()
    assert got["owner"] == "industry:transport" and got["station_ids"] == [yz.id]
    assert_problem(
        client.patch(f"/v1/events/{made['id']}", json={"title": "旧工会改"}, headers=yuzhong),
        403,
        "forbidden",
    )
    assert_problem(client.delete(f"/v1/events/{made['id']}", headers=yuzhong), 403, "forbidden")
    transport = bearer(store, "industry", "transport")
    r = client.patch(f"/v1/events/{made['id']}", json={"title": "新工会的姜茶"}, headers=transport)
    assert r.status_code == 200, r.text
    near = client.get("/v1/stations/nearest", params={"lon": yz.lon, "lat": yz.lat, "k": 1})
    assert near.json()["results"][0]["event"]["title"] == "新工会的姜茶"
    assert client.delete(f"/v1/events/{made['id']}", headers=transport).status_code == 204


def test_a_weekly_lunch_is_not_on_during_the_national_day_holiday(client, store, stations):
    yz, _ = stations
    auth = bearer(store, "district", YUZHONG)
    weekly = body(
        yz.id,
        kind="free_meal",
        start="2026-09-28T11:30",
        end="2026-09-28T13:00",
        recurrence={"kind": "weekly", "weekdays": ["周一", "周五"], "until": "2026-10-31"},
    )
    r = client.post("/v1/events", json=weekly, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["rule_osm"] == "Mo,Fr 11:30-13:00; PH off"
    # 2 October 2026 is a Friday of 国庆: the next lunch after Monday 28 September is 9 October.
    listed = client.get(
        "/v1/events", params={"at": "2026-09-28T14:00", "until": "2026-10-09T00:00"}
    ).json()
    assert listed["total"] == 0
    listed = client.get(
        "/v1/events", params={"at": "2026-09-28T14:00", "until": "2026-10-10T00:00"}
    ).json()
    assert listed["items"][0]["start"] == "2026-10-09T11:30:00+08:00"
    # Saturday 10 October is a 调休 working day that works as the Monday after it (hours.py's
    # rule for PH): the Monday lunch is on.
    saturday = client.get(
        "/v1/events", params={"at": "2026-10-10T00:00", "until": "2026-10-11T00:00"}
    ).json()
    assert saturday["items"][0]["start"] == "2026-10-10T11:30:00+08:00"
    counts = client.get(
        "/v1/districts/events", params={"from": "2026-09-01", "to": "2026-11-01"}
    ).json()["items"]
    assert counts == [
        {
            "district_adcode": YUZHONG,
            "period": "2026-09",
            "kind": "free_meal",
            "kind_label": "免费餐",
            "occurrences": 1,
        },
        {
            "district_adcode": YUZHONG,
            "period": "2026-10",
            "kind": "free_meal",
            "kind_label": "免费餐",
            "occurrences": 8,
        },
    ]


def test_the_station_page_shows_the_event_on_now_and_the_next(client, store, stations):
    yz, jb = stations
    auth = bearer(store, "district", YUZHONG)
    start, end = soon(-1)
    client.post(
        "/v1/events",
        json=body(yz.id, title="<b>姜茶</b>", start=start, end=end, offer="暖宝宝"),
        headers=auth,
    )
    later, later_end = soon(26)
    client.post(
        "/v1/events",
        json=body(yz.id, title="理发日", kind="haircut", start=later, end=later_end),
        headers=auth,
    )
    page = client.get(f"/s/{yz.code}").text
    section = page[page.index('id="events"') : page.index('id="checkin"')]
    assert "&lt;b&gt;姜茶&lt;/b&gt;" in section and "<b>姜茶" not in section
    assert "进行中" in section and "暖宝宝（送完即止）" in section
    assert "下一场：" in section and "理发日" in section and "理发" in section
    assert 'id="events"' not in client.get(f"/s/{jb.code}").text


def test_district_counts_refuse_dates_outside_the_calendar(client):
    r = client.get("/v1/districts/events", params={"from": "0001-01-01", "to": "0002-01-01"})
    assert_problem(r, 422, "time_out_of_range")
    r = client.get("/v1/districts/events", params={"from": "2026-05-01", "to": "2026-04-01"})
    assert_problem(r, 422, "out_of_range")


def test_mobile_stations_near_me_with_their_next_stops(client, store, districts):
    from dataclasses import replace

    from stations.domain.model import Stop

    near_stop = Stop("较场口", JIEFANGBEI[0] + 0.003, JIEFANGBEI[1], "Mo,We 10:00-14:00; PH off")
    far_stop = Stop("万州", 108.40, 30.81, "Tu 09:00-12:00")
    bus = store.create(
        replace(
            make_station(districts, external_id="BUS1", name="流动驿站一号"),
            mobile=True,
            stops=(near_stop, far_stop),
        ),
        actor="t",
    )
    store.create(make_station(districts, external_id="FIX1", name="固定驿站"), actor="t")
    at = "2026-12-02T11:00"  # a Wednesday: at 较场口 until 14:00
    r = client.get(
        "/v1/events/mobile", params={"near": f"{JIEFANGBEI[0]},{JIEFANGBEI[1]}", "at": at}
    )
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["id"] == bus.id and item["name"] == "流动驿站一号"
    first = item["stops"][0]
    assert first["name"] == "较场口" and first["on_now"] is True
    assert first["end"] == "2026-12-02T14:00:00+08:00"
    geod = Geod(ellps="WGS84")
    d = geod.inv(JIEFANGBEI[0], JIEFANGBEI[1], near_stop.lon, near_stop.lat)[2]
    assert item["distance_m"] == pytest.approx(d, abs=0.1)
    # Now, then Monday 7 December, then Tuesday 8th.
    assert [s["name"] for s in item["stops"]] == ["较场口", "较场口", "万州"]
    assert "uri.amap.com" in first["navigation"]["amap"]
    far = client.get(
        "/v1/events/mobile", params={"near": "108.40,30.81", "radius_m": 1000, "at": at}
    )
    assert [i["id"] for i in far.json()["items"]] == [bus.id]


def test_a_station_record_and_listing_carry_its_event_and_next_event(client, store, stations):
    """The record (json and geojson) and every listing item say what is on now and next,
    as nearest results do; the record's ETag changes with them (a 304 would hide them)."""
    yz, jb = stations
    before = client.get(f"/v1/stations/{yz.id}")
    assert before.json()["event"] is None and before.json()["next_event"] is None
    auth = bearer(store, "district", YUZHONG)
    later_start, later_end = soon(30)
    on = client.post("/v1/events", json=body(yz.id), headers=auth).json()
    nxt = client.post(
        "/v1/events",
        json=body(yz.id, title="义诊", kind="health", start=later_start, end=later_end),
        headers=auth,
    ).json()
    after = client.get(f"/v1/stations/{yz.id}", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200  # not 304: the record changed though its version did not
    assert after.headers["etag"] != before.headers["etag"]
    assert after.headers["etag"].startswith(f'"{yz.version}.')
    record = after.json()
    assert record["event"]["id"] == on["id"] and record["event"]["kind_label"] == "送温暖"
    assert record["next_event"]["id"] == nxt["id"] and record["next_event"]["title"] == "义诊"
    feature = client.get(f"/v1/stations/{yz.id}", params={"f": "geojson"}).json()
    assert feature["properties"]["event"] == record["event"]
    listed = {i["id"]: i for i in client.get("/v1/stations").json()["items"]}
    assert listed[yz.id]["event"] == record["event"]
    assert listed[yz.id]["next_event"] == record["next_event"]
    assert listed[jb.id]["event"] is None and listed[jb.id]["next_event"] is None
    geo = client.get("/v1/stations", params={"f": "geojson"}).json()["features"]
    by_id = {f["id"]: f["properties"] for f in geo}
    assert by_id[yz.id]["next_event"]["id"] == nxt["id"]
    # A listing at a time: what is on then (the health check, in 31 hours).
    then = client.get("/v1/stations", params={"at": soon(31)[0]}).json()["items"]
    assert {i["id"]: i for i in then}[yz.id]["event"]["id"] == nxt["id"]
    assert "event" not in client.get("/v1/stations", params={"f": "csv"}).text.splitlines()[0]


def test_the_openapi_documents_the_event_fields_of_records_and_listings(client, store, stations):
    yz, _ = stations
    client.post("/v1/events", json=body(yz.id), headers=bearer(store, "district", YUZHONG))
    real = client.get(f"/v1/stations/{yz.id}").json()["event"]
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/v1/stations/{station_id}"]["get"]["responses"]["200"]["content"]
    record = ok["application/json"]["schema"]
    listing = spec["paths"]["/v1/stations"]["get"]["responses"]["200"]["content"]
    item = listing["application/json"]["schema"]["properties"]["items"]["items"]
    feature = listing["application/geo+json"]["schema"]["properties"]["features"]["items"]
    for schema in (record, item, feature["properties"]["properties"]):
        assert {"event", "next_event"} <= set(schema["required"])
        assert set(schema["properties"]["event"]["required"]) == set(real)
        assert "null" in schema["properties"]["next_event"]["type"]
