"""A mobile station (流动驿站) in the clerk's form: its timetable typed, read in the form's
coordinate system, refused beside the field when impossible, and left exactly as stored
by an edit that does not touch it."""

from __future__ import annotations

import html
from dataclasses import replace

from fastapi.testclient import TestClient

from geodata.crs import CoordinateSystem, from_wgs84, to_wgs84
from stations.domain.model import Stop
from stations.services.console_queries import blank_form, form_values
from tests.api.console.helpers import as_posted as _form
from tests.api.console.helpers import login, make_account, post
from tests.builders import JIEFANGBEI
from tests.mobile_data import MARKET, SQUARE, make_bus


def _gcj(lon: float, lat: float) -> str:
    x, y = from_wgs84(lon, lat, crs="gcj02")
    return f"{float(x):.7f},{float(y):.7f}"


def _bus_form(**changes) -> dict:
    values = blank_form()
    gx, gy = _gcj(*JIEFANGBEI).split(",")
    values.update(
        name="渝中流动驿站一号车",
        external_id="BUS-9",
        address="重庆市渝中区解放碑",
        hours="每天 9:00-17:00",
        lon=gx,
        lat=gy,
        crs="gcj02",
        amenities=["hot_water"],
        entry_methods=["staffed"],
        mobile=True,
        stops=(
            f"大坪市场 | {_gcj(MARKET.lon, MARKET.lat)} | 周三 10:00-14:00\n"
            f"两路口广场 | {_gcj(SQUARE.lon, SQUARE.lat)} | 周六 9:00-12:00"
        ),
    )
    values.update(changes)
    return _form(values)


# A dated stand now past: a timetable today's rules refuse, stored before them.
PAST_STAND = Stop(
    "旧集市", MARKET.lon, MARKET.lat, "2025 Jan 08 10:00-14:00", "2025年1月8日 10:00-14:00"
)


def _clerk(console, store, districts) -> str:
    """渝中区总工会's clerk, signed in: the session's CSRF token."""
    make_account(store, districts, code="500103")
    return login(console, "yz500103")


def _stored_bus(store, districts, *stops: Stop):
    """A bus as a union gave it in GCJ-02 (its form is then in GCJ-02)."""
    bus = make_bus(districts, *stops)
    return store.create(replace(bus, source_crs=CoordinateSystem.GCJ02), actor="test")


def test_a_clerk_creates_a_bus_with_its_timetable_in_gcj02(console, store, districts):
    csrf = _clerk(console, store, districts)
    blank = console.get("/console/stations/new")
    assert "流动驿站" in blank.text and 'name="stops"' in blank.text
    assert "名称 | 经度,纬度 | 停靠时间" in blank.text  # how to write it, on the form
    answer = post(console, "/console/stations", csrf, data=_bus_form(), follow_redirects=False)
    assert answer.status_code == 303, answer.text[:2000]
    station_id = int(answer.headers["location"].split("/")[-1].split("?")[0])
    stored = store.get(station_id)
    assert stored.mobile is True
    assert [s.name for s in stored.stops] == ["大坪市场", "两路口广场"]
    assert [s.hours_text for s in stored.stops] == ["周三 10:00-14:00", "周六 9:00-12:00"]
    # The positions typed in GCJ-02 are stored in WGS-84: where the stops really are.
    for got, want in zip(stored.stops, (MARKET, SQUARE), strict=True):
        assert abs(got.lon - want.lon) < 1e-6 and abs(got.lat - want.lat) < 1e-6
    # The form shows them again as the clerk typed them, in GCJ-02.
    page = html.unescape(console.get(answer.headers["location"]).text)
    assert f"大坪市场 | {_gcj(MARKET.lon, MARKET.lat)} | 周三 10:00-14:00" in page
    assert 'name="mobile" value="1" checked' in page


def test_an_edit_of_another_field_leaves_the_stops_exactly_as_stored(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    page = console.get(f"/console/stations/{bus.id}")
    assert "大坪市场 | " in html.unescape(page.text)
    posted = _form(form_values(bus), name="一号车（改名）", base_version=str(bus.version))
    answer = post(console, f"/console/stations/{bus.id}", csrf, data=posted, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:2000]
    now = store.get(bus.id)
    assert now.name == "一号车（改名）" and now.version == bus.version + 1
    assert now.mobile is True and now.stops == bus.stops  # to the last bit, not re-read


def test_a_changed_stop_is_read_in_the_forms_system_and_the_rest_kept(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    assert values["crs"] == "gcj02"
    lines = values["stops"].splitlines()
    lines[1] = lines[1].replace("周六 9:00-12:00", "周六、日 9:00-12:00")
    posted = _form(values, stops="\n".join(lines), base_version=str(bus.version))
    answer = post(console, f"/console/stations/{bus.id}", csrf, data=posted, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:2000]
    now = store.get(bus.id)
    assert (
        now.stops[1].hours_text == "周六、日 9:00-12:00"
        and now.stops[1].hours == "Sa-Su 09:00-12:00"
    )
    # Read back from the GCJ-02 text (7 decimals): within a centimetre of where they were.
    for got, was in zip(now.stops, bus.stops, strict=True):
        assert got.name == was.name
        assert abs(got.lon - was.lon) < 2e-7 and abs(got.lat - was.lat) < 2e-7
    # Not moved by ~500 m, as a GCJ-02 text read as WGS-84 would be.
    wx, wy = to_wgs84(
        *map(float, values["stops"].splitlines()[0].split(" | ")[1].split(",")), crs="gcj02"
    )
    assert abs(now.stops[0].lon - float(wx)) < 2e-7 and abs(now.stops[0].lat - float(wy)) < 2e-7


def test_an_impossible_timetable_is_refused_beside_it_and_nothing_saved(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    overlapping = values["stops"].replace("周六 9:00-12:00", "周三 11:00-15:00")
    posted = _form(values, stops=overlapping, base_version=str(bus.version))
    answer = post(console, f"/console/stations/{bus.id}", csrf, data=posted)
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert "周三 11:00-15:00" in text  # what the clerk typed, kept in the box
    block = text.split('id="mobile-stops"')[1].split("</fieldset>")[0]
    assert 'class="field-error"' in block and "停靠点" in block  # beside the timetable
    assert store.get(bus.id) == bus  # nothing saved
    # A line that is not a stop says how to write one.
    posted = _form(values, stops="大坪市场 周三上午", base_version=str(bus.version))
    text = html.unescape(post(console, f"/console/stations/{bus.id}", csrf, data=posted).text)
    assert "名称 | 经度,纬度 | 停靠时间" in text.split('id="mobile-stops"')[1]


def test_a_bus_becomes_a_fixed_station_only_with_its_stops_cleared(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    url = f"/console/stations/{bus.id}"
    kept = post(console, url, csrf, data=_form(values, mobile=False, base_version="1"))
    assert kept.status_code == 422 and "没有标为流动驿站" in html.unescape(kept.text)
    assert store.get(bus.id).mobile is True
    done = post(
        console,
        url,
        csrf,
        data=_form(values, mobile=False, stops="", base_version="1"),
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:2000]
    now = store.get(bus.id)
    assert now.mobile is False and now.stops == ()


def test_a_conflict_over_the_timetable_shows_both_sides(console, store, districts):
    bus = _stored_bus(store, districts)
    make_account(store, districts, code="500103", username="clerk1")
    make_account(store, districts, code="500103", username="clerk2")
    csrf = login(console, "clerk1")
    loaded = form_values(bus)
    other = TestClient(console.app)
    other_csrf = login(other, "clerk2")
    theirs = loaded["stops"].replace("周六 9:00-12:00", "周五 9:00-12:00")
    answer = post(
        other,
        f"/console/stations/{bus.id}",
        other_csrf,
        data=_form(loaded, stops=theirs, base_version="1"),
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:1500]
    mine = _form(loaded, name="一号车", base_version="1", expected_version="1")
    refused = post(console, f"/console/stations/{bus.id}", csrf, data=mine)
    assert refused.status_code == 409
    table = html.unescape(refused.text).split('id="conflict"')[1].split("</table>")[0]
    assert "停靠点" in table and "周五 9:00-12:00" in table and "周六 9:00-12:00" in table
    # Applied on top: the other clerk's timetable stays, the name is the first clerk's.
    applied = post(
        console,
        f"/console/stations/{bus.id}",
        csrf,
        data={**mine, "expected_version": "2"},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(bus.id)
    assert now.name == "一号车" and now.stops[1].hours_text == "周五 9:00-12:00"
    other.close()


def test_a_stop_named_as_markup_shows_as_text(console, store, districts):
    stop = replace(MARKET, name="<b>大坪</b>")
    bus = _stored_bus(store, districts, stop, SQUARE)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get(f"/console/stations/{bus.id}").text
    assert "<b>大坪</b>" not in page and "&lt;b&gt;大坪&lt;/b&gt;" in page
    assert isinstance(bus.stops[0], Stop)


# -- the live check of the 停靠点 box (POST /console/api/stops) ---------------------------


def _check(console, csrf, text, crs="gcj02"):
    answer = post(console, "/console/api/stops", csrf, data={"stops": text, "crs": crs})
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


def test_the_live_check_reads_each_stop_in_the_forms_system(console, store, districts):
    csrf = _clerk(console, store, districts)
    text = _bus_form()["stops"]
    r = _check(console, csrf, text)
    assert r["ok"] is True and r["problems"] == []
    assert [s["name"] for s in r["stops"]] == ["大坪市场", "两路口广场"]
    assert [s["osm"] for s in r["stops"]] == ["We 10:00-14:00; PH off", "Sa 09:00-12:00"]
    for got, want in zip(r["stops"], (MARKET, SQUARE), strict=True):
        assert abs(got["wgs84"]["lon"] - want.lon) < 1e-6
        assert abs(got["wgs84"]["lat"] - want.lat) < 1e-6
        assert got["gcj02"] == {
            "lon": round(float(from_wgs84(want.lon, want.lat, crs="gcj02")[0]), 7),
            "lat": round(float(from_wgs84(want.lon, want.lat, crs="gcj02")[1]), 7),
        }
        assert got["district"] == "渝中区"
    # The same numbers read as WGS-84 are other places: the system is the form's.
    as_wgs = _check(console, csrf, text, crs="wgs84")
    assert abs(as_wgs["stops"][0]["wgs84"]["lon"] - MARKET.lon) > 1e-3
    assert _check(console, csrf, "") == {"ok": True, "problems": [], "stops": [], "warnings": []}


def test_the_live_check_says_what_a_save_would_refuse(console, store, districts):
    csrf = _clerk(console, store, districts)
    text = _bus_form()["stops"]
    overlap = _check(console, csrf, text.replace("周六 9:00-12:00", "周三 11:00-15:00"))
    assert overlap["ok"] is False and overlap["stops"] == []
    assert any("重叠" in m and "大坪市场" in m for m in overlap["problems"])
    backwards = _check(console, csrf, text.replace("周三 10:00-14:00", "周三 14:00-10:00"))
    assert backwards["ok"] is False and any("第 1 个停靠点" in m for m in backwards["problems"])
    # A 渝中区 clerk's stop in 江北区 (观音桥, far from the border) is not theirs to place.
    away = _check(console, csrf, "观音桥 | 106.5320,29.5800 | 周一 10:00-12:00", crs="wgs84")
    assert away["ok"] is False and any("渝中" in m or "区县" in m for m in away["problems"])
    bad = _check(console, csrf, "大坪市场 周三上午")
    assert bad["ok"] is False and any("名称 | 经度,纬度 | 停靠时间" in m for m in bad["problems"])
    unknown = _check(console, csrf, text, crs="mars")
    assert unknown["ok"] is False and "未知的坐标系" in unknown["problems"][0]


def test_the_live_check_needs_a_session_and_the_forms_token(console, store, districts):
    answer = console.post(
        "/console/api/stops", data={"stops": "x", "crs": "wgs84"}, follow_redirects=False
    )
    assert answer.status_code == 303 and "/console" in answer.headers["location"]
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    refused = console.post("/console/api/stops", data={"stops": "x", "crs": "wgs84"})
    assert refused.status_code == 403


# -- found by review: what a real browser posts, conflicts, a changed 坐标系 -------------


def test_a_browsers_crlf_box_is_no_change_and_the_stops_stay_to_the_bit(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    crlf = values["stops"].replace("\n", "\r\n") + "\r\n"  # as Chromium posts a textarea
    url = f"/console/stations/{bus.id}"
    same = post(console, url, csrf, data=_form(values, stops=crlf, base_version="1"))
    assert same.status_code == 200 and "没有改动，未保存新版本" in same.text
    assert store.get(bus.id).version == 1 and len(store.audit(station_id=bus.id)) == 1
    renamed = post(
        console,
        url,
        csrf,
        data=_form(values, stops=crlf, name="一号车", base_version="1"),
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    now = store.get(bus.id)
    assert now.name == "一号车" and now.stops == bus.stops
    (last, *_) = sorted(store.audit(station_id=bus.id), key=lambda e: -e.after["version"])
    assert last.before["stops"] == last.after["stops"]


def test_a_changed_select_leaves_the_untouched_stops_where_they_are(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    lines = values["stops"].splitlines()
    # The select set to WGS-84 (the numbers above as they were), one stop retyped in it.
    lines[1] = f"两路口广场 | {SQUARE.lon!r},{SQUARE.lat + 0.001!r} | 周六 9:00-12:00"
    posted = _form(values, crs="wgs84", stops="\n".join(lines), base_version="1")
    answer = post(console, f"/console/stations/{bus.id}", csrf, data=posted, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:2000]
    now = store.get(bus.id)
    first, second = now.stops
    assert abs(first.lon - MARKET.lon) < 1e-9 and abs(first.lat - MARKET.lat) < 1e-9
    assert abs(second.lon - SQUARE.lon) < 1e-9 and abs(second.lat - (SQUARE.lat + 0.001)) < 1e-9


def _two_clerks(console, store, districts):
    bus = _stored_bus(store, districts)
    make_account(store, districts, code="500103", username="clerk1")
    make_account(store, districts, code="500103", username="clerk2")
    csrf = login(console, "clerk1")
    other = TestClient(console.app)
    return bus, csrf, other, login(other, "clerk2")


def _moved(values: dict) -> dict:
    lon = f"{float(values['lon']) + 0.002:.7f}"
    return {"lon": lon}


def _they_retimed_the_second_stop(console, store, districts):
    """Two clerks load the bus; the second retimes its second stop (周六 → 周五) and saves
    (version 2). The first clerk's session, the other client, the form both loaded and
    its URL."""
    bus, csrf, other, other_csrf = _two_clerks(console, store, districts)
    loaded = form_values(bus)
    url = f"/console/stations/{bus.id}"
    theirs = loaded["stops"].replace("周六 9:00-12:00", "周五 9:00-12:00")
    done = post(other, url, other_csrf, data=_form(loaded, stops=theirs, base_version="1"))
    assert done.status_code == 200 and store.get(bus.id).version == 2
    return bus, csrf, (other, other_csrf), loaded, url


def test_a_conflict_keeps_one_clerks_timetable_and_the_others_move(console, store, districts):
    bus, csrf, (other, other_csrf), loaded, url = _they_retimed_the_second_stop(
        console, store, districts
    )
    mine = _form(loaded, **_moved(loaded), base_version="1", expected_version="1")
    assert post(console, url, csrf, data=mine).status_code == 409
    applied = post(
        console, url, csrf, data={**mine, "expected_version": "2"}, follow_redirects=False
    )
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(bus.id)
    assert now.stops[1].hours_text == "周五 9:00-12:00"  # theirs, kept
    assert now.lon > bus.lon + 0.0015  # mine, kept
    # The other way round: they move the base, I change a stop.
    loaded = form_values(now)
    moved = _form(loaded, **_moved(loaded), base_version="3")
    assert post(other, url, other_csrf, data=moved).status_code == 200
    mine_stops = loaded["stops"].replace("周三 10:00-14:00", "周三 9:00-13:00")
    mine = _form(loaded, stops=mine_stops, base_version="3", expected_version="3")
    assert post(console, url, csrf, data=mine).status_code == 409
    applied = post(
        console, url, csrf, data={**mine, "expected_version": "4"}, follow_redirects=False
    )
    assert applied.status_code == 303, applied.text[:1500]
    last = store.get(bus.id)
    assert last.stops[0].hours_text == "周三 9:00-13:00" and last.lon > now.lon + 0.0015
    assert abs(last.stops[1].lon - now.stops[1].lon) < 1e-9  # the stop left alone, in place
    other.close()


def test_a_stored_stand_now_past_does_not_lock_the_bus_from_edits(console, store, districts):
    bus = _stored_bus(store, districts, PAST_STAND, SQUARE)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    url = f"/console/stations/{bus.id}"
    renamed = post(
        console,
        url,
        csrf,
        data=_form(values, name="一号车", base_version="1"),
        follow_redirects=False,
    )
    assert renamed.status_code == 200 and "已保留原样" in html.unescape(renamed.text)
    now = store.get(bus.id)
    assert now.name == "一号车" and now.stops == bus.stops and now.mobile
    # Changing the timetable holds it to today's rules: the past stand must go.
    touched = values["stops"].replace("周六 9:00-12:00", "周日 9:00-12:00")
    refused = post(console, url, csrf, data=_form(values, stops=touched, base_version="2"))
    assert refused.status_code == 422 and store.get(bus.id).version == 2


def test_an_unchanged_save_of_a_fixed_station_makes_no_new_version(console, store, districts):
    from tests.builders import make_station

    station = store.create(make_station(districts), actor="test")
    csrf = _clerk(console, store, districts)
    answer = post(
        console,
        f"/console/stations/{station.id}",
        csrf,
        data=_form(form_values(station), base_version="1"),
    )
    assert answer.status_code == 200 and "没有改动" in answer.text
    assert store.get(station.id).version == 1


# -- found by the second review -----------------------------------------------------------


def test_an_unknown_system_with_changed_stops_is_a_422_not_a_crash(console, store, districts):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    stops = values["stops"].replace("周六 9:00-12:00", "周日 9:00-12:00")
    answer = post(
        console,
        f"/console/stations/{bus.id}",
        csrf,
        data=_form(values, crs="mars", stops=stops, base_version="1"),
    )
    assert answer.status_code == 422 and store.get(bus.id) == bus


def test_their_move_in_another_system_and_my_stop_are_both_kept(console, store, districts):
    bus, csrf, other, other_csrf = _two_clerks(console, store, districts)
    loaded = form_values(bus)  # GCJ-02
    url = f"/console/stations/{bus.id}"
    east = (bus.lon + 0.002, bus.lat)
    theirs = _form(
        loaded, lon=f"{east[0]:.7f}", lat=f"{east[1]:.7f}", crs="wgs84", base_version="1"
    )
    assert post(other, url, other_csrf, data=theirs).status_code == 200
    assert store.get(bus.id).source_crs == CoordinateSystem.WGS84
    mine_stops = loaded["stops"].replace("周六 9:00-12:00", "周日 9:00-12:00")
    mine = _form(loaded, stops=mine_stops, base_version="1", expected_version="1")
    refused = post(console, url, csrf, data=mine)
    assert refused.status_code == 409
    # The form shown holds their position in my form's system, the box in the same one.
    assert 'value="gcj02" selected' in refused.text
    applied = post(
        console, url, csrf, data={**mine, "expected_version": "2"}, follow_redirects=False
    )
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(bus.id)
    assert abs(now.lon - east[0]) < 1e-6  # their move kept
    assert now.stops[1].hours_text == "周日 9:00-12:00"  # my stop
    assert abs(now.stops[0].lon - MARKET.lon) < 1e-9  # left alone: the stored stop
    assert abs(now.stops[1].lon - SQUARE.lon) < 1e-6  # retyped: read from its 7 decimals
    other.close()


def test_the_live_check_of_a_stations_form_reads_the_untouched_lines_as_a_save(
    console, store, districts
):
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    text = form_values(bus)["stops"]  # GCJ-02 numbers; the select set to BD-09
    data = {"stops": text, "crs": "bd09", "station_id": str(bus.id)}
    r = post(console, "/console/api/stops", csrf, data=data).json()
    assert r["ok"] is True
    for got, want in zip(r["stops"], (MARKET, SQUARE), strict=True):
        assert abs(got["wgs84"]["lon"] - want.lon) < 1e-9  # where the save keeps them
    # Without the station, the same numbers are read as typed, in BD-09: elsewhere.
    r = post(console, "/console/api/stops", csrf, data={"stops": text, "crs": "bd09"}).json()
    assert abs(r["stops"][0]["wgs84"]["lon"] - MARKET.lon) > 1e-3


def test_the_city_unions_live_check_holds_stops_to_the_owner_typed(console, store, districts):
    make_account(store, districts, role="admin", code=None)
    csrf = login(console, "city")
    away = "观音桥 | 106.5320,29.5800 | 周一 10:00-12:00"  # 江北区
    data = {"stops": away, "crs": "wgs84", "owner": "district:500103"}
    r = post(console, "/console/api/stops", csrf, data=data).json()
    assert r["ok"] is False
    r = post(console, "/console/api/stops", csrf, data={**data, "owner": "district:500105"}).json()
    assert r["ok"] is True


def test_a_save_accepted_with_a_note_shows_the_note(console, store, districts):
    bus = _stored_bus(store, districts, PAST_STAND, SQUARE)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    answer = post(
        console,
        f"/console/stations/{bus.id}",
        csrf,
        data=_form(values, name="一号车", base_version="1"),
    )
    assert answer.status_code == 200 and "已保存" in answer.text
    notes = html.unescape(answer.text).split('id="saved-warnings"')[1].split("</div>")[0]
    assert "旧集市" in notes and "已保留原样" in notes
    assert store.get(bus.id).name == "一号车"


# -- written another way, the same thing ----------------------------------------------------


def test_stops_written_another_way_are_no_change(console, store, districts):
    """Spacing round the bars, stops joined by ；, blank lines: the same timetable, no new
    version; one real change in it is saved."""
    bus = _stored_bus(store, districts)
    csrf = _clerk(console, store, districts)
    values = form_values(bus)
    lines = values["stops"].split("\n")
    squeezed = "；".join(line.replace(" | ", "|") for line in lines) + "\n\n"
    url = f"/console/stations/{bus.id}"
    same = post(console, url, csrf, data=_form(values, stops=squeezed, base_version="1"))
    assert same.status_code == 200 and "没有改动，未保存新版本" in same.text
    assert store.get(bus.id).version == 1 and len(store.audit(station_id=bus.id)) == 1
    renamed = "；".join([lines[0].replace(" | ", "|"), lines[1].replace("两路口广场", "两路口")])
    saved = post(
        console,
        url,
        csrf,
        data=_form(values, stops=renamed, base_version="1"),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    now = store.get(bus.id)
    assert [s.name for s in now.stops] == ["大坪市场", "两路口"]
    # The line only respaced is the stored stop, its position converted at full precision
    # (not read back from the 7-decimal text).
    kept, was = now.stops[0], bus.stops[0]
    assert (kept.name, kept.hours, kept.hours_text) == (was.name, was.hours, was.hours_text)
    assert abs(kept.lon - was.lon) < 1e-9 and abs(kept.lat - was.lat) < 1e-9


def test_two_clerks_who_change_different_stops_both_keep_theirs(console, store, districts):
    """One retimes the second stop, the other renames the first: applied on top, the
    timetable holds both changes, and the stop neither touched stays where it was."""
    bus, csrf, (other, _), loaded, url = _they_retimed_the_second_stop(console, store, districts)
    their_stop = store.get(bus.id).stops[1]
    mine_stops = loaded["stops"].replace("大坪市场", "大坪农贸市场")
    mine = _form(loaded, stops=mine_stops, base_version="1", expected_version="1")
    refused = post(console, url, csrf, data=mine)
    assert refused.status_code == 409
    # The form offered shows what "apply mine" saves: both changes.
    box = html.unescape(refused.text.split('name="stops"')[1].split("</textarea>")[0])
    assert "大坪农贸市场" in box and "周五 9:00-12:00" in box and "周六" not in box
    applied = post(
        console, url, csrf, data={**mine, "expected_version": "2"}, follow_redirects=False
    )
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(bus.id)
    assert [s.name for s in now.stops] == ["大坪农贸市场", "两路口广场"]
    assert [s.hours_text for s in now.stops] == ["周三 10:00-14:00", "周五 9:00-12:00"]
    # Neither moved a stop: mine, retyped, is read back from the 7-decimal text; theirs is
    # the one they saved, to full precision.
    assert abs(now.stops[0].lon - bus.stops[0].lon) < 2e-7
    assert abs(now.stops[0].lat - bus.stops[0].lat) < 2e-7
    assert abs(now.stops[1].lon - their_stop.lon) < 1e-9
    assert abs(now.stops[1].lat - their_stop.lat) < 1e-9
    other.close()


def test_a_clerk_who_adds_a_stop_keeps_their_whole_box_over_a_change(console, store, districts):
    """Stops added or removed cannot be matched a stop at a time: the clerk's box is saved
    (the conflict table showed them the other change first)."""
    bus, csrf, (other, _), loaded, url = _they_retimed_the_second_stop(console, store, districts)
    added = loaded["stops"] + f"\n解放碑 | {_gcj(*JIEFANGBEI)} | 周日 9:00-12:00"
    mine = _form(loaded, stops=added, base_version="1", expected_version="2")
    applied = post(console, url, csrf, data=mine, follow_redirects=False)
    assert applied.status_code == 303, applied.text[:1500]
    now = store.get(bus.id)
    assert [s.hours_text for s in now.stops] == [
        "周三 10:00-14:00",
        "周六 9:00-12:00",
        "周日 9:00-12:00",
    ]
    other.close()
