"""The public record's operations fields: rating {average, count}, stars, last_confirmed;
in the record, listings and nearest results; refreshed after ops_refresh_s; no rating
comment anywhere public."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from api.cli import main
from stations.config import get_settings
from stations.domain.stars import StarRuleError, load_rule
from stations.readmodel.index import StationIndex
from stations.services.maps import POPUP_FIELDS
from stations.services.stars import compute_stars
from tests.api.clients import api_client, bearer
from tests.builders import JIEFANGBEI, make_station
from tests.geodata.test_maps import payload, popup_text
from tests.stations import ops_rows
from tests.stations.ops_rows import NOW

COMMENT = "厕所太脏<img src=x onerror=alert(1)>店员态度差"
NEAR = {"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def station(store, districts):
    return store.create(make_station(districts, external_id="A"), actor="t")


def _public_texts(client, station_id):
    return [
        client.get("/v1/stations").text,
        client.get("/v1/stations", params={"f": "geojson"}).text,
        client.get(f"/v1/stations/{station_id}").text,
        client.get(f"/v1/stations/{station_id}", params={"f": "geojson"}).text,
        client.get("/v1/stations/nearest", params=NEAR).text,
        client.get("/v1/stations/nearest", params={**NEAR, "f": "geojson"}).text,
        client.get("/collections/stations/items").text,
        client.get(f"/collections/stations/items/{station_id}").text,
        client.get("/v1/stars").text,
    ]


def test_the_fields_have_their_shapes_and_no_comment_is_public(store, districts, db_path, station):
    with api_client(store, districts, db_path, ops_refresh_s=0) as client:
        doc = client.get(f"/v1/stations/{station.id}").json()
        assert doc["rating"] == {"average": None, "count": 0}
        assert doc["stars"] is None
        assert doc["last_confirmed"] is None  # made by "t", not a union
        for i, stars in enumerate((2, 5, 5)):
            ops_rows.rating(store, station.id, stars, comment=COMMENT, client=f"c{i}")
        check = NOW - timedelta(days=2)
        ops_rows.inspection(store, station.id, {"open_as_posted": True}, at=check)
        compute_stars(store, StationIndex.build(store), load_rule(), NOW)
        doc = client.get(f"/v1/stations/{station.id}").json()
        assert doc["rating"] == {"average": 4.0, "count": 3}
        assert 1 <= doc["stars"] <= 5
        assert doc["last_confirmed"] == {
            "at": check.isoformat(),
            "how": "inspection",
            "label": "抽查确认",
        }
        (listed,) = client.get("/v1/stations").json()["items"]
        (near,) = client.get("/v1/stations/nearest", params=NEAR).json()["results"]
        (feature,) = client.get("/v1/stations/nearest", params={**NEAR, "f": "geojson"}).json()[
            "features"
        ]
        for got in (listed, near, feature["properties"]):
            assert {k: got[k] for k in ("rating", "stars", "last_confirmed")} == {
                k: doc[k] for k in ("rating", "stars", "last_confirmed")
            }
        for text in _public_texts(client, station.id):
            assert "厕所太脏" not in text
            assert "onerror" not in text


def test_a_unions_edit_and_a_day_of_check_ins_confirm(store, districts, db_path, station):
    with api_client(store, districts, db_path, ops_refresh_s=0) as client:
        headers = bearer(store, "district", "500103")
        r = client.patch(
            f"/v1/stations/{station.id}",
            json={"name": "解放碑工会驿站（新）"},
            headers={**headers, "If-Match": f'"{station.version}"'},
        )
        assert r.status_code == 200, r.text
        doc = client.get(f"/v1/stations/{station.id}").json()
        assert doc["last_confirmed"]["how"] == "union_edit"
        ops_rows.visits(store, station.id, "2099-01-01", 2)  # too few for a day
        assert client.get(f"/v1/stations/{station.id}").json()["last_confirmed"]["how"] == (
            "union_edit"
        )
        ops_rows.visits(store, station.id, "2099-01-01", 1, hour=13)
        doc = client.get(f"/v1/stations/{station.id}").json()
        assert doc["last_confirmed"] == {
            "at": "2099-01-01T00:00:00+08:00",
            "how": "check_ins",
            "label": "骑手签到",
        }


def test_the_fields_are_re_read_only_every_ops_refresh_s(store, districts, db_path, station):
    with api_client(store, districts, db_path, ops_refresh_s=3600) as client:
        assert client.get(f"/v1/stations/{station.id}").json()["rating"]["count"] == 0
        version = store.data_version()
        ops_rows.rating(store, station.id, 4)
        assert store.data_version() == version  # a rating never bumps the registry
        assert client.get(f"/v1/stations/{station.id}").json()["rating"]["count"] == 0
        (near,) = client.get("/v1/stations/nearest", params=NEAR).json()["results"]
        assert near["rating"]["count"] == 0
        client.app.state.ops.invalidate()
        assert client.get(f"/v1/stations/{station.id}").json()["rating"]["count"] == 1


def test_openapi_documents_the_fields(store, districts, db_path):
    with api_client(store, districts, db_path) as client:
        spec = client.get("/openapi.json").json()
    one = spec["paths"]["/v1/stations/{station_id}"]["get"]["responses"]["200"]
    props = one["content"]["application/json"]["schema"]["properties"]
    assert set(props) >= {"rating", "stars", "last_confirmed"}
    assert props["rating"]["properties"]["average"]["type"] == ["number", "null"]
    example = spec["paths"]["/v1/stations/nearest"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["example"]["results"][0]
    assert {"rating", "stars", "last_confirmed"} <= set(example)
    assert "/v1/stars" in spec["paths"]
    assert "/v1/districts/{adcode}/candidates" in spec["paths"]


def test_a_broken_rule_stops_the_app_at_start_up(tmp_path, store, districts, db_path):
    path = tmp_path / "stars.toml"
    path.write_text("version = 1\n", encoding="utf-8")
    with pytest.raises(StarRuleError, match=r"stars\.toml: missing key facilities\.expected"):
        api_client(store, districts, db_path, stars_file=path)


def test_stars_api_public_reasons_for_the_union_compute_for_the_city(
    store, districts, db_path, station
):
    ops_rows.inspection(store, station.id, {"hygiene": True}, at=NOW - timedelta(days=20))
    with api_client(store, districts, db_path, ops_refresh_s=0) as client:
        city = bearer(store, "admin")
        mine = bearer(store, "district", "500103")
        other = bearer(store, "district", "500105")
        assert client.post("/v1/stars/compute", headers=mine).status_code == 403
        r = client.post("/v1/stars/compute", headers=city)
        assert r.status_code == 200, r.text
        assert r.json()["computed"] == 1
        (item,) = client.get("/v1/stars", params={"district": "500103"}).json()["items"]
        assert set(item) == {"station_id", "name", "district_adcode", "stars"}
        assert client.get("/v1/stars", params={"district": "500105"}).json()["count"] == 0
        assert client.get("/v1/stars", params={"district": "999999"}).status_code == 404
        url = f"/v1/stations/{station.id}/stars"
        assert client.get(url).status_code == 401
        assert client.get(url, headers=other).status_code == 403
        doc = client.get(url, headers=mine).json()
        assert doc["stars"] == item["stars"]
        assert doc["reasons"][0]["text"].startswith("得分")
        assert round(sum(x["points"] for x in doc["reasons"]), 1) == doc["score"]
        assert client.get(f"/v1/stations/{station.id}").json()["stars"] == item["stars"]
        r = client.get("/v1/districts/500103/candidates")
        assert r.status_code == 200
        assert r.json() == {"district_adcode": "500103", "count": 0, "items": []}


def test_the_planners_map_shows_the_stars_in_its_popups(store, districts, db_path, station):
    field = POPUP_FIELDS.index("星级")
    with api_client(store, districts, db_path, ops_refresh_s=0) as client:
        before = popup_text(payload(client.get("/maps/coverage").text), field, 0)
        assert before == ""
        ops_rows.inspection(store, station.id, {"hygiene": True}, at=NOW - timedelta(days=20))
        compute_stars(store, StationIndex.build(store), load_rule(), NOW)
        after = popup_text(payload(client.get("/maps/coverage").text), field, 0)
        stars = client.get(f"/v1/stations/{station.id}").json()["stars"]
        assert after == "★" * stars


def test_serve_with_a_broken_rule_stops_in_one_line(tmp_path, monkeypatch, db_path):
    path = tmp_path / "stars.toml"
    path.write_text("version = '1'\n", encoding="utf-8")
    monkeypatch.setenv("YIZHAN_STARS_FILE", str(path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["serve", "--database", f"sqlite:///{db_path}"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert f"{path}: missing key facilities.expected" in result.output
    assert "Traceback" not in result.output
