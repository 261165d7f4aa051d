"""The read API as riders and integrators use it."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest

from geodata.crs import from_wgs84, to_wgs84
from geodata.distance import distance_m
from geodata.hours import TZ
from stations.storage.sqlite import SQLiteStore
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


def add(store, districts, **kw):
    kw.setdefault("owner", "industry:transport")  # may lie in any district
    return store.create(make_station(districts, **kw), actor="test")


def near(dlon_m: float, dlat_m: float = 0.0) -> tuple[float, float]:
    """A point about ``dlon_m`` east and ``dlat_m`` north of 解放碑."""
    return JIEFANGBEI[0] + dlon_m / 96_900, JIEFANGBEI[1] + dlat_m / 110_850


def test_nearest_is_ordered_with_distances_and_bearings(client, store, districts):
    for i, d in enumerate([300, 100, 200]):
        lon, lat = near(d)
        add(store, districts, external_id=f"S{i}", name=f"站{d}", lon=lon, lat=lat)
    r = client.get(
        "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "k": 2}
    )
    assert r.status_code == 200
    body = r.json()
    assert [x["name"] for x in body["results"]] == ["站100", "站200"]
    first = body["results"][0]
    assert first["distance_m"] == pytest.approx(
        distance_m(*JIEFANGBEI, first["lon"], first["lat"]), abs=0.01
    )
    assert first["bearing_deg"] == pytest.approx(90, abs=1)


def test_nearest_in_gcj02_goes_both_ways(client, store, districts):
    add(store, districts)
    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    r = client.get("/v1/stations/nearest", params={"lon": glon, "lat": glat, "crs": "gcj02"})
    hit = r.json()["results"][0]
    assert hit["distance_m"] < 0.01
    assert hit["crs"] == "gcj02"
    assert (hit["lon"], hit["lat"]) == pytest.approx((glon, glat), abs=1e-8)


def test_a_gps_point_comes_back_in_gcj02_for_amap_tiles(client, store, districts):
    """A page on Amap tiles sends the phone's WGS-84 position and draws what it gets."""
    station = add(store, districts, lon=near(150)[0], lat=near(150)[1])
    r = client.get(
        "/v1/stations/nearest",
        params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "crs": "wgs84", "out_crs": "gcj02"},
    )
    assert r.status_code == 200
    body = r.json()
    hit = body["results"][0]
    assert hit["crs"] == "gcj02"
    assert (hit["lon"], hit["lat"]) == pytest.approx(
        from_wgs84(station.lon, station.lat, crs="gcj02"), abs=1e-8
    )
    assert hit["distance_m"] == pytest.approx(
        distance_m(*JIEFANGBEI, station.lon, station.lat), abs=0.01
    )
    query = body["query"]
    assert (query["lon"], query["lat"], query["crs"]) == (*JIEFANGBEI, "wgs84")
    assert query["out_crs"] == "gcj02"
    assert (query["out_lon"], query["out_lat"]) == pytest.approx(
        from_wgs84(*JIEFANGBEI, crs="gcj02"), abs=1e-8
    )


def test_a_tap_on_amap_tiles_comes_back_in_wgs84(client, store, districts):
    station = add(store, districts, lon=near(150)[0], lat=near(150)[1])
    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    r = client.get(
        "/v1/stations/nearest",
        params={"lon": glon, "lat": glat, "crs": "gcj02", "out_crs": "wgs84", "f": "geojson"},
    )
    body = r.json()
    props = body["features"][0]["properties"]
    assert (props["lon"], props["lat"], props["crs"]) == (station.lon, station.lat, "wgs84")
    assert body["features"][0]["geometry"]["coordinates"] == [station.lon, station.lat]
    assert body["query"]["out_crs"] == "wgs84"
    back = (body["query"]["out_lon"], body["query"]["out_lat"])
    assert distance_m(*JIEFANGBEI, *back) < 0.001  # the exact inverse, not the one-step formula


def test_out_crs_follows_amaps_border_not_a_box(client, store, districts):
    """Taipei is outside Amap's shifted area: its GCJ-02 position is its GPS position."""
    add(store, districts)
    taipei = (121.5654, 25.0330)
    r = client.get(
        "/v1/stations/nearest",
        params={"lon": taipei[0], "lat": taipei[1], "out_crs": "gcj02"},
    )
    query = r.json()["query"]
    assert (query["out_lon"], query["out_lat"]) == taipei
    hit = r.json()["results"][0]  # in Chongqing: shifted
    assert distance_m(hit["lon"], hit["lat"], *JIEFANGBEI) > 100


@pytest.mark.parametrize("crs", ["wgs84", "gcj02"])
def test_without_out_crs_the_answer_is_as_before(client, store, districts, crs):
    add(store, districts)
    lon, lat = from_wgs84(*JIEFANGBEI, crs=crs)
    params = {"lon": lon, "lat": lat, "crs": crs, "at": "2025-10-01T14:30:00+08:00"}
    plain = client.get("/v1/stations/nearest", params=params)
    same = client.get("/v1/stations/nearest", params={**params, "out_crs": crs})
    assert not {"out_crs", "out_lon", "out_lat"} & set(plain.json()["query"])
    assert plain.json()["results"] == same.json()["results"]
    assert same.json()["query"] == {
        **plain.json()["query"],
        "out_crs": crs,
        "out_lon": lon,
        "out_lat": lat,
    }


def test_an_unknown_out_crs_is_explained(client, store, districts):
    r = client.get(
        "/v1/stations/nearest",
        params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "out_crs": "mars"},
    )
    bad_crs = client.get(
        "/v1/stations/nearest",
        params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "crs": "mars"},
    )
    assert r.status_code == bad_crs.status_code == 422
    assert r.json()["type"] == bad_crs.json()["type"]
    assert "mars" in r.json()["detail"]


def test_out_crs_is_documented(client):
    spec = client.get("/openapi.json").json()
    params = spec["paths"]["/v1/stations/nearest"]["get"]["parameters"]
    out = next(p for p in params if p["name"] == "out_crs")
    assert "gcj02" in out["schema"]["enum"]
    assert "crs" in out["description"]


def test_navigation_links_carry_each_providers_coordinates(client, store, districts):
    add(store, districts)
    hit = client.get(
        "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}
    ).json()["results"][0]
    amap = parse_qs(urlparse(hit["navigation"]["amap"]).query)
    lon, lat, name = amap["to"][0].split(",", 2)
    assert name == "解放碑工会驿站"
    back = to_wgs84(float(lon), float(lat), crs="gcj02")
    assert distance_m(*JIEFANGBEI, *back) < 0.2
    # Baidu: its marker page on the web (its direction page needs an origin), the app's
    # route from where the phone is.
    baidu = parse_qs(urlparse(hit["navigation"]["baidu"]).query)
    blat, blon = (float(v) for v in baidu["location"][0].split(","))
    assert distance_m(*JIEFANGBEI, *to_wgs84(blon, blat, crs="bd09")) < 0.2
    assert baidu["coord_type"] == ["bd09ll"] and baidu["title"] == ["解放碑工会驿站"]
    assert baidu["output"] == ["html"] and baidu["src"] == ["yizhan"]
    app = parse_qs(urlparse(hit["navigation"]["baidu_app"]).query)
    latlng = app["destination"][0].split("|")[0].removeprefix("latlng:")
    assert latlng == baidu["location"][0]


def test_open_now_honours_hours_and_holidays(client, store, districts):
    add(store, districts, external_id="W", name="工作日", hours="工作日 9:00-17:00")
    lon, lat = near(500)
    add(
        store,
        districts,
        external_id="H",
        name="全天",
        hours="24小时",
        self_service_24h="是",
        entry_methods="扫码",
        lon=lon,
        lat=lat,
    )
    q = {"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "open_now": "true"}

    def names(at):
        return [
            x["name"]
            for x in client.get("/v1/stations/nearest", params={**q, "at": at}).json()["results"]
        ]

    assert names("2025-09-30T10:00") == ["工作日", "全天"]
    assert names("2025-10-01T10:00") == ["全天"]  # National Day
    assert names("2025-09-28T10:00") == ["工作日", "全天"]  # make-up working Sunday
    assert names("2025-09-30T02:00") == ["全天"]
    r = client.get("/v1/stations/nearest", params={**q, "at": "2025-09-30T10:00", "k": 1})
    assert r.json()["results"][0]["next_change"] == "2025-09-30T17:00:00+08:00"


def test_filters_self_service_amenity_status_and_radius(client, store, districts):
    add(store, districts, external_id="A", name="近", amenities="热水")
    lon, lat = near(800)
    add(store, districts, external_id="B", name="远微波", amenities="微波炉", lon=lon, lat=lat)
    lon, lat = near(0, 300)
    add(store, districts, external_id="C", name="筹建", status="planned", lon=lon, lat=lat)
    base = {"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}

    def names(**params):
        r = client.get("/v1/stations/nearest", params={**base, **params})
        assert r.status_code == 200, r.text
        return [x["name"] for x in r.json()["results"]]

    assert names() == ["近", "远微波"]
    assert names(amenity="microwave") == ["远微波"]
    assert names(radius_m=500) == ["近"]
    assert names(status="any") == ["近", "筹建", "远微波"]
    assert names(self_service="true") == []


def test_nearest_geojson(client, store, districts):
    add(store, districts)
    r = client.get(
        "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "f": "geojson"}
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["features"][0]["geometry"]["coordinates"] == pytest.approx(list(JIEFANGBEI))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"lon": 29.55, "lat": 106.57}, "bad_coordinates", id="swapped"),
        pytest.param({"lon": 2.35, "lat": 48.85}, "outside_china", id="paris"),
        pytest.param({"lon": 200, "lat": 29}, "bad_coordinates", id="impossible"),
        pytest.param(
            {"lon": 106.5, "lat": 29.5, "amenity": "sauna"}, "unknown_amenity", id="amenity"
        ),
        pytest.param({"lon": 106.5, "lat": 29.5, "k": 0}, "out_of_range", id="k-zero"),
        pytest.param({"lon": 106.5, "lat": 29.5, "k": 1000}, "out_of_range", id="k-big"),
        pytest.param({"lon": 106.5, "lat": 29.5, "radius_m": -5}, "out_of_range", id="radius"),
        pytest.param({"lon": 106.5, "lat": 29.5, "at": "tomorrow"}, "bad_time", id="time"),
        pytest.param({"lon": 106.5, "lat": 29.5, "crs": "utm"}, "bad_crs", id="crs"),
        pytest.param({"lon": "abc", "lat": 29.5}, "invalid_parameter", id="not-a-number"),
        pytest.param({"lat": 29.5}, "invalid_parameter", id="missing"),
    ],
)
def test_errors_are_problem_json_with_stable_types(client, params, code):
    r = client.get("/v1/stations/nearest", params=params)
    assert r.status_code in (404, 422)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"/problems/{code}" and body["status"] == r.status_code
    assert body.get("swapped", False) is (params.get("lon") == 29.55)
    assert body["detail"]
    if body.get("swapped"):
        assert "swapped" in body["detail"]


def test_empty_answer_is_valid(client):
    r = client.get("/v1/stations/nearest", params={"lon": 106.5, "lat": 29.5})
    assert r.status_code == 200 and r.json()["results"] == []


def test_a_write_is_visible_to_the_next_query(client, store, districts):
    assert (
        client.get(
            "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}
        ).json()["count"]
        == 0
    )
    s = add(store, districts)
    r = client.get("/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]})
    assert [x["id"] for x in r.json()["results"]] == [s.id]
    store.delete(s.id, expected_version=1, actor="t")
    assert (
        client.get(
            "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}
        ).json()["count"]
        == 0
    )


def test_list_filters_paging_and_formats(client, store, districts):
    for i in range(5):
        add(store, districts, external_id=f"Y{i}")
    add(
        store,
        districts,
        external_id="J",
        owner="district:500105",
        lon=GUANYINQIAO[0],
        lat=GUANYINQIAO[1],
        name="=SUM(A1)",
    )
    r = client.get("/v1/stations", params={"district": "500103", "limit": 2, "offset": 1})
    body = r.json()
    assert body["total"] == 5 and len(body["items"]) == 2
    assert body["items"][0]["district_name"] == "渝中区"
    assert client.get("/v1/stations", params={"mapped": "none"}).json()["total"] == 6
    assert client.get("/v1/stations", params={"mapped": "full"}).json()["total"] == 0
    x, y = GUANYINQIAO
    box = f"{x - 0.01},{y - 0.01},{x + 0.01},{y + 0.01}"
    assert client.get("/v1/stations", params={"bbox": box}).json()["total"] == 1
    fc = client.get("/v1/stations", params={"f": "geojson"}).json()
    assert fc["numberMatched"] == 6 and len(fc["features"]) == 6
    text = client.get("/v1/stations", params={"f": "csv", "district": "500105"}).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0]["name"] == "'=SUM(A1)"
    assert (
        client.get("/v1/stations", params={"district": "999999"}).json()["type"]
        == "/problems/unknown_district"
    )


def test_get_one_station_and_404(client, store, districts):
    s = add(
        store,
        districts,
        amap_listed="是",
        amap_lon=from_wgs84(*JIEFANGBEI, crs="gcj02")[0],
        amap_lat=from_wgs84(*JIEFANGBEI, crs="gcj02")[1],
    )
    body = client.get(f"/v1/stations/{s.id}").json()
    assert body["name"] == "解放碑工会驿站" and body["version"] == 1
    assert body["listings"][0]["offset_m"] < 0.01 and body["listings"][0]["precise"] is True
    r = client.get("/v1/stations/999999")
    assert r.status_code == 404 and r.json()["type"] == "/problems/station_not_found"


@pytest.mark.parametrize("feature_id", ["²", "١", "9" * 5000, "-1", "abc"])
def test_ogc_item_id_in_other_digits_is_not_found(client, store, districts, feature_id):
    add(store, districts)
    r = client.get(f"/collections/stations/items/{feature_id}")
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/station_not_found"


def test_a_page_of_stations_has_the_listing_figures_of_each_station_alone(client, store, districts):
    # A page's listing offsets are converted in bulk (one at a time, a page of 10,000 took
    # 5 s); each must still be its own station's, as check_listing measures it.
    from itertools import islice

    from stations.domain.changes import Create
    from stations.domain.listings import check_listing, mapped_state
    from stations.domain.validation import build_station
    from stations.services.demo import sample_rows

    rows = islice(sample_rows(districts, seed=7), 60)
    store.apply([Create(build_station(r, districts=districts)) for r in rows], actor="t")
    items = client.get("/v1/stations", params={"limit": 100, "crs": "gcj02"}).json()["items"]
    assert len(items) == 60
    states = set()
    for item in items:
        station = store.get(item["id"])
        assert (item["lon"], item["lat"]) == pytest.approx(
            from_wgs84(station.lon, station.lat, crs="gcj02"), abs=1e-9
        )
        for doc, listing in zip(item["listings"], station.listings, strict=True):
            check = check_listing(station, listing, threshold_m=50.0)
            want = None if check.offset_m is None else round(check.offset_m, 2)
            assert doc["offset_m"] == pytest.approx(want, abs=0.011)
            assert doc["precise"] == check.precise
        assert item["mapped_state"] == mapped_state(station, threshold_m=50.0).value
        states.add(item["mapped_state"])
    assert states == {"full", "partial", "none"}


def test_default_time_is_now_in_shanghai(client, store, districts):
    add(store, districts)
    at = client.get(
        "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}
    ).json()["query"]["at"]
    parsed = datetime.fromisoformat(at)
    assert parsed.utcoffset().total_seconds() == 8 * 3600
    assert abs((datetime.now(TZ) - parsed).total_seconds()) < 60


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/v1/stations/nearest"]["get"]["parameters"]}
    assert {
        "lon",
        "lat",
        "crs",
        "k",
        "radius_m",
        "open_now",
        "at",
        "self_service",
        "amenity",
        "status",
        "f",
    } <= params
    assert "ellipsoid" in spec["paths"]["/v1/stations/nearest"]["get"]["description"]
    assert client.get("/docs").status_code == 200
    assert client.get("/healthz").json()["status"] == "ok"


def test_an_offset_beyond_any_registry_is_a_bad_request_not_a_crash(client):
    r = client.get("/v1/stations", params={"offset": 2**64})
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/out_of_range"


@pytest.mark.parametrize(("threshold_m", "precise"), [(50.0, False), (120.0, True)])
def test_every_station_view_honours_the_precise_threshold_setting(
    store, districts, db_path, threshold_m, precise
):
    # An Amap listing 80 m east of our position (given in GCJ-02, as Amap shows it):
    # precise or not only by YIZHAN_PRECISE_THRESHOLD_M, in the list, one station and OGC.
    from geodata.distance import destination
    from tests.api.clients import api_client

    glon, glat = from_wgs84(*destination(*JIEFANGBEI, azimuth_deg=90, distance_m=80), crs="gcj02")
    station = add(
        store,
        districts,
        amap_listed="是",
        amap_lon=glon,
        amap_lat=glat,
        amap_keyword_linked="是",
    )
    with api_client(store, districts, db_path, precise_threshold_m=threshold_m) as client:
        docs = [
            client.get("/v1/stations").json()["items"][0],
            client.get(f"/v1/stations/{station.id}").json(),
            client.get("/collections/stations/items").json()["features"][0]["properties"],
        ]
    for doc in docs:
        (amap,) = (li for li in doc["listings"] if li["provider"] == "amap")
        assert amap["offset_m"] == pytest.approx(80, abs=0.05)
        assert amap["precise"] is precise


def test_a_nearest_result_is_the_station_record_less_what_it_leaves_out(client, store, districts):
    from api.representation import NEAREST_LEAVES_OUT
    from stations.domain.records import station_to_dict

    station = add(store, districts, external_id="S1")
    r = client.get("/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]})
    (result,) = r.json()["results"]
    record = {k: v for k, v in station_to_dict(station).items() if k not in NEAREST_LEAVES_OUT}
    # Every field of the record reaches /nearest unless it is left out on purpose.
    assert {k: result[k] for k in record} == record
    query_only = {"distance_m", "bearing_deg", "lon", "lat", "crs", "open_now", "next_change"}
    query_only.add("mobile")  # false: a fixed station (a mobile one adds its stop's fields)
    ops_fields = {"rating", "stars", "last_confirmed"}  # api/representation.py, the ops model
    events = {"event", "next_event"}  # stations.services.events.add_nearest_events
    assert set(result) == set(record) | query_only | ops_fields | events | {
        "navigation",
        "page_url",
    }
