"""GET /tiles/stations/{z}/{x}/{y}.mvt: the JSON tile's stations as a Mapbox Vector Tile,
decoded by mapbox-vector-tile and read by GDAL's MVT driver (both stores)."""

from __future__ import annotations

import dataclasses
import math

import mapbox_vector_tile
import numpy as np
import pytest

from geodata.cluster_tiles import mercator
from geodata.crs import from_wgs84
from stations.storage.store import Create
from tests.api.test_tiles import NIGHT, WANZHOU_ADCODE, add, get_tile, ids, tile_of
from tests.builders import (
    GUANYINQIAO,
    JIEFANGBEI,
    WANZHOU,
    listings_at,
    make_bus,
    make_station,
)

MVT = "application/vnd.mapbox-vector-tile"
ODD_NAME = "解放碑 <b>&\"驿站'</b>"  # text as it is: a vector tile is data, not HTML


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def get_mvt(client, z, x, y, **params):
    r = client.get(f"/tiles/stations/{z}/{x}/{y}.mvt", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    return r


def layers(r) -> dict:
    """The tile's layers as mapbox-vector-tile decodes them (grid y from the top)."""
    return mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})


def features(r, layer="stations") -> list[dict]:
    return layers(r).get(layer, {"features": []})["features"]


def points(r) -> dict[int, dict]:
    """The tile's stations by id (the clusters left out)."""
    return {f["id"]: f for f in features(r) if "id" in f["properties"]}


def grid(lon, lat, z, x, y, crs="wgs84"):
    """Where a position is in tile z/x/y's grid of 4096 units (floats: exact)."""
    if crs != "wgs84":
        lon, lat = (float(v) for v in from_wgs84(lon, lat, crs=crs))
    u, v = mercator(lon, lat)
    return (float(u) * 2**z - x) * 4096, (float(v) * 2**z - y) * 4096


def add_many(store, districts, n, *, seed=5, centre=JIEFANGBEI, spread_deg=0.01):
    """``n`` stations of 渝中区 around ``centre`` in one batch: every tenth listed nowhere
    (上图 none), the others listed on some providers (partial)."""
    rng = np.random.default_rng(seed)
    listed = make_station(districts, owner="industry:transport", listings=listings_at(*centre))
    unlisted = make_station(districts, owner="industry:transport")
    changes = []
    for i in range(n):
        lon = centre[0] + rng.uniform(-spread_deg, spread_deg)
        lat = centre[1] + rng.uniform(-spread_deg / 2, spread_deg / 2)
        base = unlisted if i % 10 == 0 else listed
        station = dataclasses.replace(
            base, external_id=f"M{i:04d}", name=f"站{i}", lon=lon, lat=lat
        )
        changes.append(Create(station))
    store.apply(changes, actor="t")


def test_a_vector_tile_holds_the_json_tiles_stations_each_where_it_is(client, store, districts):
    a = add(store, districts, "A", JIEFANGBEI, name=ODD_NAME)
    b = add(store, districts, "B", GUANYINQIAO, status="planned")
    add(store, districts, "C", WANZHOU, status="closed")
    w = add(store, districts, "W", (WANZHOU[0] + 0.001, WANZHOU[1]))
    where = {a.id: JIEFANGBEI, b.id: GUANYINQIAO, w.id: (WANZHOU[0] + 0.001, WANZHOU[1])}
    for z in (0, 4, 9, 13, 17, 22):
        for position in (JIEFANGBEI, WANZHOU):
            x, y = tile_of(*position, z)
            body = get_tile(client, z, x, y).json()
            r = get_mvt(client, z, x, y)
            found = points(r)
            # The same stations as the JSON tile, no cluster, with the same states.
            assert sorted(found) == ids(body) and len(features(r)) == body["n"]
            for _, _, station_id, state in body["p"]:
                props = found[station_id]["properties"]
                assert props["id"] == station_id and props["count"] == 1
                assert props["state"] == state
                assert props["in_service"] == (station_id != b.id)
                assert props["mapped"] == "none" and props["self_service"] is False
                # Within half a unit of the grid of where the station is (1/8192 of the tile).
                gx, gy = grid(*where[station_id], z, x, y)
                px, py = found[station_id]["geometry"]["coordinates"]
                assert abs(px - gx) <= 0.5 and abs(py - gy) <= 0.5, (z, station_id)
    assert points(get_mvt(client, 0, 0, 0))[a.id]["properties"]["name"] == ODD_NAME
    assert "closed" not in str(layers(get_mvt(client, 0, 0, 0)))


def test_clusters_count_what_the_json_tile_counts_and_gzip_is_the_same_tile(
    client, store, districts
):
    add_many(store, districts, 650)
    add(store, districts, "W", WANZHOU)
    for z in (0, 9, 12, 13):
        x, y = tile_of(*JIEFANGBEI, z)
        body = get_tile(client, z, x, y).json()
        r = get_mvt(client, z, x, y)
        found = features(r)
        assert body["c"], z  # more than 400 stations in the tile: clustered
        assert sum(f["properties"]["count"] for f in found) == body["n"]
        clusters = [f for f in found if f["properties"]["count"] > 1]
        assert all("id" not in f["properties"] for f in clusters)
        # Each cluster is the JSON tile's: its counts, and its pixel's centre in the grid.
        expected = sorted(
            (px * 16 + 8, py * 16 + 8, count, full, partial, none)
            for px, py, count, full, partial, none in body["c"]
        )
        got = sorted(
            (
                *f["geometry"]["coordinates"],
                *(f["properties"][k] for k in ("count", "full", "partial", "none")),
            )
            for f in clusters
        )
        assert got == expected
        assert sorted(points(r)) == ids(body)
    x, y = tile_of(*JIEFANGBEI, 9)
    found = features(get_mvt(client, 9, x, y))
    for state, expected in (("none", 65), ("partial", 585), ("full", 0)):
        clustered = sum(f["properties"].get(state, 0) for f in found)
        alone = sum(f["properties"].get("mapped") == state for f in found)
        assert clustered + alone == expected, state
    # Gzipped when accepted (the same tile), and said so for caches.
    x, y = tile_of(*JIEFANGBEI, 16)
    plain = client.get(f"/tiles/stations/16/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(points(plain)) > 20
    packed = client.get(plain.url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding" and packed.content == plain.content
    assert int(packed.headers["content-length"]) < len(plain.content)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"at": NIGHT}, ["ALL"]),
        ({"status": "closed"}, ["W"]),
        ({"status": "any"}, ["DAY", "ALL", "W", "W2"]),
        ({"status": ["planned", "closed"]}, ["W", "W2"]),
        ({"district": WANZHOU_ADCODE}, ["W2"]),
        ({"district": "50"}, ["DAY", "ALL", "W2"]),
        ({"mapped": "none"}, ["DAY", "ALL", "W2"]),
        ({"mapped": "full"}, []),
    ],
    ids=lambda v: "&".join(f"{k}={v[k]}" for k in v) if isinstance(v, dict) else "",
)
def test_filters_keep_the_stations_the_json_tile_keeps(client, store, districts, params, expected):
    made = {
        "DAY": add(store, districts, "DAY", JIEFANGBEI, hours="Mo-Su 09:00-18:00"),
        "ALL": add(store, districts, "ALL", GUANYINQIAO, hours="24/7"),
        "W": add(store, districts, "W", WANZHOU, status="closed"),
        "W2": add(store, districts, "W2", (WANZHOU[0] + 0.01, WANZHOU[1]), status="planned"),
    }
    found = sorted(points(get_mvt(client, 0, 0, 0, **params)))
    assert found == sorted(made[k].id for k in expected)
    assert found == ids(get_tile(client, 0, 0, 0, **params).json())


def test_the_etag_is_the_tiles_own_and_a_match_is_304(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    x, y = tile_of(*JIEFANGBEI, 3)
    first = get_mvt(client, 3, x, y)
    etag = first.headers["etag"]
    json_tile = get_tile(client, 3, x, y)
    assert etag != json_tile.headers["etag"]  # another body: another tag
    assert first.headers["cache-control"] == json_tile.headers["cache-control"]
    again = client.get(first.url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    gzipped = client.get(first.url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert gzipped.status_code == 304
    assert get_mvt(client, 3, x, y, status="any").headers["etag"] != etag
    assert get_mvt(client, 3, x, y, crs="gcj02").headers["etag"] != etag
    add(store, districts, "B", GUANYINQIAO)
    after = get_mvt(client, 3, x, y)
    assert after.headers["etag"] != etag and len(points(after)) == 2
    assert client.get(first.url, headers={"If-None-Match": etag}).status_code == 200


def test_gcj02_tiles_are_for_gcj02_base_maps_as_the_json_tiles_are(client, store, districts):
    w = add(store, districts, "W", WANZHOU)
    z = 16
    gx, gy = tile_of(*WANZHOU, z, crs="gcj02")
    wx, wy = tile_of(*WANZHOU, z)
    assert (gx, gy) != (wx, wy)  # the shift (~500 m here) is several tiles at zoom 16
    shifted = points(get_mvt(client, z, gx, gy, crs="gcj02"))
    assert list(shifted) == [w.id] == ids(get_tile(client, z, gx, gy, crs="gcj02").json())
    assert points(get_mvt(client, z, wx, wy, crs="gcj02")) == {}
    px, py = shifted[w.id]["geometry"]["coordinates"]
    ex, ey = grid(*WANZHOU, z, gx, gy, crs="gcj02")
    assert abs(px - ex) <= 0.5 and abs(py - ey) <= 0.5
    assert list(points(get_mvt(client, z, wx, wy))) == [w.id]


def test_an_empty_tile_is_a_valid_tile_with_an_empty_stations_layer(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    r = get_mvt(client, 3, 0, 0)  # the Atlantic
    assert layers(r) == {
        "stations": {
            "extent": 4096,
            "version": 2,
            "features": [],
            "type": "FeatureCollection",
        }
    }
    assert get_tile(client, 3, 0, 0).json()["n"] == 0


def test_neighbours_near_the_edge_are_drawn_not_counted(client, store, districts):
    z = 16
    x, y = tile_of(*JIEFANGBEI, z)
    # A station 3 px east of the tile's east edge, and one inside it.
    east_lon = ((x + 1 + 3 / 256) / 2**z) * 360 - 180
    lat = JIEFANGBEI[1]
    inside = add(store, districts, "IN", JIEFANGBEI)
    add(store, districts, "OUT", (east_lon, lat))
    body = get_tile(client, z, x, y).json()
    r = get_mvt(client, z, x, y)
    assert list(points(r)) == [inside.id] == ids(body)
    (edge,) = features(r, "edge")
    ex, _ = edge["geometry"]["coordinates"]
    assert ex > 4096 and abs(ex - grid(east_lon, lat, z, x, y)[0]) <= 8  # half a 256-px pixel
    assert edge["properties"]["state"] == body["e"][0][2]
    assert "id" not in edge["properties"]


def test_mobile_stops_are_their_own_layer(client, store, districts):
    bus = store.create(make_bus(districts, owner="industry:transport"), actor="t")
    x, y = tile_of(*JIEFANGBEI, 10)
    body = get_tile(client, 10, x, y).json()
    r = get_mvt(client, 10, x, y)
    assert points(r) == {} and body["n"] == 0  # never at its base
    stops = features(r, "stops")
    assert sorted(f["properties"]["stop"] for f in stops) == sorted(s[3] for s in body["s"])
    for f in stops:
        stop = bus.stops[f["properties"]["stop"]]
        assert f["properties"]["id"] == bus.id and f["properties"]["name"] == stop.name
        assert f["properties"]["here"] is False
        gx, gy = grid(stop.lon, stop.lat, 10, x, y)
        px, py = f["geometry"]["coordinates"]
        assert abs(px - gx) <= 0.5 and abs(py - gy) <= 0.5


@pytest.mark.parametrize("path", ["23/0/0", "-1/0/0", "2/4/0", "2/0/4", "5/1/99999999999999999"])
def test_a_tile_outside_the_scheme_is_a_chinese_problem(client, path):
    r = client.get(f"/tiles/stations/{path}.mvt")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(("/out_of_range", "/invalid_parameter"))
    if path == "2/4/0":
        assert "瓦片" in r.json()["detail"] and "缩放级别" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"district": "999999"}, "unknown_district"),
        ({"status": "gone"}, "unknown_status"),
        ({"crs": "mars"}, "bad_crs"),
        ({"at": "noon"}, "bad_time"),
        ({"mapped": "maybe"}, "invalid_parameter"),
    ],
)
def test_bad_filters_are_the_json_tiles_problems(client, params, code):
    r = client.get("/tiles/stations/0/0/0.mvt", params=params)
    assert r.status_code in (404, 422)
    assert r.json()["type"].endswith("/" + code)
    as_json = client.get("/tiles/stations/0/0/0.json", params=params).json()
    assert r.json()["detail"] == as_json["detail"] and r.status_code == as_json["status"]


def test_the_route_is_documented_with_its_media_type(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/tiles/stations/{z}/{x}/{y}.mvt"]["get"]
    assert list(op["responses"]["200"]["content"]) == [MVT]
    assert "304" in op["responses"]
    names = [p["name"] for p in op["parameters"]]
    json_op = spec["paths"]["/tiles/stations/{z}/{x}/{y}.json"]["get"]
    assert names == [p["name"] for p in json_op["parameters"]]
    assert "crs=gcj02" in op["description"] and "EPSG:3857" in op["description"]


def mercator_to_lonlat(mx: float, my: float) -> tuple[float, float]:
    """EPSG:3857 metres to degrees (the spherical formulas)."""
    r = 6378137.0
    return math.degrees(mx / r), math.degrees(2 * math.atan(math.exp(my / r)) - math.pi / 2)
