"""The spot-check API: the checklist, multipart checks with photos, photos served to
readers only, rectifications; junk is a 422 problem, never a 500."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.api.clients import api_client, bearer
from tests.builders import GUANYINQIAO, make_station

YUZHONG, JIANGBEI = "500103", "500105"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def client(store, districts, db_path):
    with api_client(store, districts, db_path, photos_per_inspection=3) as c:
        yield c


@pytest.fixture
def station(store, districts):
    return store.create(make_station(districts, amenities="热水、厕所"), actor="t")


def jpeg(color=(200, 60, 20)) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (29.0, 33.0, 30.0)}
    Image.new("RGB", (900, 600), color).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def results_for(client, station_id, **failed):
    items = client.get("/v1/inspections/checklist", params={"station_id": station_id}).json()
    results = {i["code"]: True for i in items["items"]}
    results.update(failed)
    return results


def post_check(client, headers, station_id, results, *, photos=(), **fields):
    data = {"station_id": str(station_id), "announced": "false", "results": json.dumps(results)}
    data.update(fields)
    files = [("photos", (name, body, "image/jpeg")) for name, body in photos]
    return client.post("/v1/inspections", data=data, files=files or None, headers=headers)


def test_the_checklist_is_public_and_expands_a_stations_amenities(client, station):
    plain = client.get("/v1/inspections/checklist")
    assert plain.status_code == 200
    codes = [i["code"] for i in plain.json()["items"]]
    assert "signage" in codes and not any(c.startswith("amenity.") for c in codes)
    assert set(plain.json()["items"][0]) == {"code", "label", "group", "deadline_days"}
    theirs = client.get("/v1/inspections/checklist", params={"station_id": station.id}).json()
    extra = [i for i in theirs["items"] if i["code"].startswith("amenity.")]
    assert [i["label"] for i in extra] == ["设施：热水 在且可用", "设施：厕所 在且可用"]
    assert theirs["open_suggested"] in (True, False)
    assert client.get("/v1/inspections/checklist?station_id=999").status_code == 404


def test_a_check_with_photos_opens_a_rectification_and_serves_its_photos(client, store, station):
    city = bearer(store, "admin")
    done = post_check(
        client,
        city,
        station.id,
        results_for(client, station.id, hygiene=False),
        photos=[("门口.jpg", jpeg()), ("厕所.jpg", jpeg((20, 20, 200)))],
        note="<img src=x onerror=alert(1)>",
    )
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["photo_count"] == 2 and body["announced"] is False
    assert body["failed"] == [{"code": "hygiene", "label": "环境整洁卫生"}]
    assert done.headers["location"] == f"/v1/inspections/{body['id']}"
    photo = client.get(body["photos"][0]["url"], headers=city)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.headers["cache-control"].startswith("private, max-age=")
    etag = photo.headers["etag"]
    assert len(etag) == 66
    assert b"Exif" not in photo.content
    again = client.get(body["photos"][0]["url"], headers={**city, "If-None-Match": etag})
    assert again.status_code == 304
    thumb = client.get(body["photos"][1]["thumb_url"], headers=city)
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) == 320
    assert client.get(f"/v1/inspections/{body['id']}/photos/3.jpg", headers=city).status_code == 404
    rect = client.get("/v1/rectifications", params={"station_id": station.id}, headers=city)
    (item,) = rect.json()["items"]
    assert item["item_code"] == "hygiene" and item["item_label"] == "环境整洁卫生"
    assert item["overdue"] is False and item["failed_again"] == 0
    assert item["inspection_id"] == body["id"]
    assert client.get("/v1/rectifications?overdue=true", headers=city).json()["items"] == []
    listed = client.get("/v1/inspections", params={"district": YUZHONG}, headers=city).json()
    assert listed["total"] == 1 and listed["items"][0]["note"] == "<img src=x onerror=alert(1)>"
    assert client.get(f"/v1/inspections/{body['id']}", headers=city).json()["id"] == body["id"]


def test_permissions(client, store, station):
    yuzhong, jiangbei = bearer(store, "district", YUZHONG), bearer(store, "district", JIANGBEI)
    owner_industry = store.create(
        make_station(
            store_districts(client), external_id="P1", owner="industry:post",
            lon=GUANYINQIAO[0], lat=GUANYINQIAO[1],
        ),
        actor="t",
    )  # fmt: skip
    post, rail = bearer(store, "industry", "post"), bearer(store, "industry", "rail")
    results = results_for(client, station.id)
    assert post_check(client, {}, station.id, results).status_code == 401
    assert post_check(client, jiangbei, station.id, results).status_code == 403
    assert post_check(client, post, station.id, results).status_code == 403
    done = post_check(client, yuzhong, station.id, results, photos=[("a.jpg", jpeg())]).json()
    url = done["photos"][0]["url"]
    assert client.get(url, headers=jiangbei).status_code == 403
    assert client.get(url).status_code == 401
    assert client.get(f"/v1/inspections/{done['id']}", headers=jiangbei).status_code == 403
    # 江北区's union checks the post union's station in 江北区; the post union reads it.
    theirs = post_check(
        client, jiangbei, owner_industry.id, results_for(client, owner_industry.id, signage=False)
    )
    assert theirs.status_code == 201
    assert client.get(f"/v1/inspections/{theirs.json()['id']}", headers=post).status_code == 200
    assert client.get("/v1/inspections", headers=post).json()["total"] == 1
    assert client.get("/v1/inspections", headers=rail).json()["total"] == 0
    rects = client.get("/v1/rectifications", headers=post).json()["items"]
    assert [r["item_code"] for r in rects] == ["signage"]
    assert client.get("/v1/rectifications", headers=yuzhong).json()["items"] == []


def store_districts(client):
    return client.app.state.services.districts


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "body"),
        ({"announced": "true"}, "station_id"),
        ({"station_id": "abc"}, "station_id"),
        ({"station_id": "1", "announced": "maybe", "results": "{}"}, "announced"),
        ({"station_id": "1"}, "results"),
        ({"station_id": "1", "results": "{not json"}, "results"),
        ({"station_id": "1", "results": "[1, 2]"}, "results"),
        ({"station_id": "1", "results": '{"signage": "yes"}'}, "results"),
        ({"station_id": "1", "results": '{"nope": true}'}, "results"),
        ({"station_id": "99999999999999999999", "results": "{}"}, "station_id"),
    ],
)
def test_junk_is_a_422_problem(client, store, station, data, field):
    answer = client.post("/v1/inspections", data=data, headers=bearer(store, "admin"))
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "invalid_inspection"
    assert field in [e["field"] for e in problem["errors"]]


def test_bad_photos_and_bodies_are_problems_never_500(client, store, station):
    city = bearer(store, "admin")
    results = results_for(client, station.id)
    heic = post_check(
        client,
        city,
        station.id,
        results,
        photos=[("IMG_1.HEIC", b"\0\0\0\x18ftypheic" + b"\0" * 64)],
    )
    assert heic.status_code == 422 and heic.json()["code"] == "photo_refused"
    assert "IMG_1.HEIC" in heic.json()["detail"] and "兼容性最佳" in heic.json()["detail"]
    many = post_check(client, city, station.id, results, photos=[("a.jpg", jpeg())] * 4)
    assert many.status_code in (400, 422)
    assert many.headers["content-type"] == "application/problem+json"
    as_json = client.post("/v1/inspections", json={"station_id": station.id}, headers=city)
    assert as_json.status_code == 422 and as_json.json()["code"] == "invalid_inspection"
    text_photo = client.post(
        "/v1/inspections",
        data={"station_id": str(station.id), "results": json.dumps(results), "photos": "x"},
        files=[("other", ("a", b"a"))],
        headers=city,
    )
    assert text_photo.status_code == 422 and text_photo.json()["code"] == "photo_refused"
    assert client.get("/v1/inspections/1", headers=city).status_code == 404
    assert client.get("/v1/inspections?district=abc", headers=city).status_code == 422
    assert client.get("/v1/inspections/1/photos/1.jpg?size=huge", headers=city).status_code == 422
    assert client.get("/v1/inspections", headers=city).json()["total"] == 0


def test_a_photo_over_the_byte_cap_is_413(store, districts, db_path, station):
    with api_client(store, districts, db_path, photo_max_bytes=2048) as c:
        city = bearer(store, "admin")
        big = post_check(
            c, city, station.id, results_for(c, station.id), photos=[("a.jpg", jpeg())]
        )
        assert big.status_code == 413 and big.json()["code"] == "photo_too_large"
        assert "a.jpg" in big.json()["detail"]
