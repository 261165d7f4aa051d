"""The change feed, the export, updated_since and ETags, as a mirror or an integrator uses
them, on both stores."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from stations.domain.changes import Create, Delete
from stations.domain.records import station_from_dict, station_to_dict
from stations.storage.open import open_store
from tests.api.clients import bearer
from tests.builders import make_station


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def _creates(districts, prefix: str, n: int) -> list[Create]:
    base = make_station(districts)
    return [
        Create(dataclasses.replace(base, external_id=f"{prefix}{i}", name=f"站{prefix}{i}"))
        for i in range(n)
    ]


def assert_problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code and body["type"] == f"/problems/{code}"
    return body


def _stored(doc: dict) -> dict:
    """The stored record inside a record as the API gives it."""
    return station_to_dict(station_from_dict(doc))


def _follow(client, cursor: str, limit: int = 1000) -> tuple[dict[int, dict], str, int]:
    """Drain the feed from ``cursor`` into a mirror: (mirror changes, last cursor, pages)."""
    mirror: dict[int, dict | None] = {}
    pages = 0
    while True:
        r = client.get("/v1/stations/changes", params={"since": cursor, "limit": limit})
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        for doc in body["changed"]:
            mirror[doc["id"]] = doc
        for sid in body["deleted"]:
            mirror[sid] = None
        cursor = body["next"]
        if not body["more"]:
            return mirror, cursor, pages


def test_the_fixed_paths_are_not_taken_for_station_ids(client):
    for path in ("/v1/stations/changes", "/v1/stations/export"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)


def test_a_mirror_starts_now_and_gets_every_change_after(client, store, districts):
    ids = store.apply(_creates(districts, "A", 3), actor="t").ids
    first = client.get("/v1/stations/changes").json()
    assert first["changed"] == [] and first["deleted"] == [] and first["more"] is False
    assert first["export"] == "/v1/stations/export"

    s = store.get(ids[0])
    store.update(dataclasses.replace(s, name="新名字"), expected_version=1, actor="t")
    store.delete(ids[1], expected_version=1, actor="t")
    new = store.apply(_creates(districts, "B", 2), actor="t").ids
    store.delete(new[0], expected_version=1, actor="t")  # created and deleted: only deleted
    r = client.get("/v1/stations/changes", params={"since": first["next"]})
    body = r.json()
    assert [d["id"] for d in body["changed"]] == [ids[0], new[1]]
    assert sorted(body["deleted"]) == sorted([ids[1], new[0]])
    assert body["more"] is False and "export" not in body
    # Each record as GET /v1/stations/{id} gives it (without the operations and the event
    # fields: both change outside the record's versions).
    one = client.get(f"/v1/stations/{ids[0]}").json()
    for key in ("rating", "stars", "last_confirmed", "event", "next_event"):
        one.pop(key, None)
    assert body["changed"][0] == one
    assert body["changed"][0]["name"] == "新名字" and body["changed"][0]["version"] == 2
    # At the head: nothing more, the same cursor.
    again = client.get("/v1/stations/changes", params={"since": body["next"]}).json()
    assert again == {"changed": [], "deleted": [], "next": body["next"], "more": False}


def test_pages_below_the_head_are_immutable_and_the_tail_is_not(client, store, districts):
    start = client.get("/v1/stations/changes").json()["next"]
    store.apply(_creates(districts, "P", 5), actor="t")
    r = client.get("/v1/stations/changes", params={"since": start, "limit": 2})
    assert r.json()["more"] is True and len(r.json()["changed"]) == 2
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    mid = r.json()["next"]
    # The same URL gives the same page, whatever is written after.
    store.apply(_creates(districts, "Q", 2), actor="t")
    assert client.get("/v1/stations/changes", params={"since": start, "limit": 2}).json() == (
        r.json()
    )
    tail = client.get("/v1/stations/changes", params={"since": mid, "limit": 100})
    assert tail.json()["more"] is False and len(tail.json()["changed"]) == 5
    assert tail.headers["cache-control"] == "no-cache"
    assert_problem(
        client.get("/v1/stations/changes", params={"since": mid, "limit": 1001}),
        422,
        "out_of_range",
    )


def test_a_cursor_of_another_registry_or_an_older_trail_gets_410(client, store, districts):
    store.apply(_creates(districts, "C", 2), actor="t")
    gone = client.get("/v1/stations/changes").json()["next"]
    store.apply(_creates(districts, "D", 2), actor="t")
    cursor = client.get("/v1/stations/changes").json()["next"]
    _, epoch, audit_id, check = cursor.split(".")
    with store._write() as c:  # raw SQL: a trail that lost a row (restored from elsewhere)
        c.execute("DELETE FROM audit WHERE id = ?", (int(gone.split(".")[2]),))
    others = {
        "another epoch": f"v1.{'0' * 16}.{audit_id}.{check}",
        "a restored database (the row is another)": f"v1.{epoch}.{audit_id}.{'f' * 8}",
        "a row that is not there": gone,
        "the start of another trail": f"v1.{epoch}.0.{'a' * 8}",
    }
    for why, token in others.items():
        body = assert_problem(
            client.get("/v1/stations/changes", params={"since": token}), 410, "cursor_expired"
        )
        assert "全量导出" in body["detail"] and "/v1/stations/export" in body["detail"], why
    # Below the floor (an audit pruned up to there).
    with store._write() as c:  # raw SQL: the feed's floor raised, as a prune would
        c.execute("UPDATE meta SET value = ? WHERE key = 'feed_floor'", (str(int(audit_id) + 1),))
    assert_problem(
        client.get("/v1/stations/changes", params={"since": cursor}), 410, "cursor_expired"
    )


def test_a_malformed_cursor_is_a_bad_request(client):
    for token in ("", "abc", "v1.xyz.1.0", "v2.00ff.1.0", "v1.00ff.-1.0", "v1.00ff.1", "1" * 500):
        body = assert_problem(
            client.get("/v1/stations/changes", params={"since": token}), 400, "bad_cursor"
        )
        assert len(body["detail"]) < 300


def test_a_cursor_past_the_head_waits_rather_than_expiring(client, store, districts):
    """A replica that is behind the primary a mirror last read from: 200, nothing yet,
    the same cursor (never moved back), and when to ask again."""
    store.apply(_creates(districts, "R", 1), actor="t")
    _, epoch, audit_id, _ = client.get("/v1/stations/changes").json()["next"].split(".")
    ahead = f"v1.{epoch}.{int(audit_id) + 40}.{'a' * 8}"
    r = client.get("/v1/stations/changes", params={"since": ahead})
    assert r.status_code == 200 and r.headers["retry-after"] == "1"
    assert r.json() == {"changed": [], "deleted": [], "next": ahead, "more": False}


def test_the_export_and_the_feed_after_it_rebuild_the_registry(client, store, districts, tmp_path):
    ids = store.apply(_creates(districts, "E", 1200), actor="t").ids
    store.delete(ids[5], expected_version=1, actor="t")
    r = client.get("/v1/stations/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert "content-length" not in r.headers  # streamed, not built whole
    lines = r.content.decode().splitlines()
    assert len(lines) == 1199 == int(r.headers["x-total-count"])
    exported = [json.loads(line) for line in lines]
    assert [d["id"] for d in exported] == [i for i in ids if i != ids[5]]
    assert [_stored(d) for d in exported] == [station_to_dict(s) for s in store.iter_all()]

    # Importing the export into an empty registry gives back the same stations.
    with open_store(f"sqlite:///{tmp_path / 'mirror.sqlite3'}") as mirror:
        mirror.apply([Create(station_from_dict(d)) for d in exported], actor="mirror")
        fields = ("version", "updated_at", "code")
        theirs = [station_to_dict(s) for s in mirror.iter_all()]
        ours = [station_to_dict(s) for s in store.iter_all()]
        assert [{k: v for k, v in d.items() if k not in fields} for d in theirs] == [
            {k: v for k, v in d.items() if k not in fields} for d in ours
        ]

    # Then follow from the export's cursor: the mirror ends equal.
    later = store.apply(_creates(districts, "F", 3), actor="t").ids
    store.delete(ids[0], expected_version=1, actor="t")
    changes, _, _ = _follow(client, r.headers["x-yizhan-cursor"], limit=2)
    assert set(changes) == {*later, ids[0]} and changes[ids[0]] is None
    mirrored = {d["id"]: _stored(d) for d in exported}
    for sid, doc in changes.items():
        if doc is None:
            mirrored.pop(sid, None)
        else:
            mirrored[sid] = _stored(doc)
    assert mirrored == {s.id: station_to_dict(s) for s in store.iter_all()}


def test_updated_since_is_inclusive(client, store, districts):
    [a] = store.apply(_creates(districts, "T", 1), actor="t").ids
    [b] = store.apply(_creates(districts, "U", 1), actor="t").ids
    at_b = store.get(b).updated_at
    assert at_b is not None and store.get(a).updated_at <= at_b

    def listed(since: str) -> list[int]:
        r = client.get("/v1/stations", params={"updated_since": since})
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["items"]]

    assert listed(at_b.isoformat()) == [b]
    assert listed((at_b + timedelta(microseconds=1)).isoformat()) == []
    assert listed(store.get(a).updated_at.isoformat()) == [a, b]
    # UTC and naive (Asia/Shanghai) say the same moment.
    assert listed(at_b.astimezone(tz=None).isoformat()) == [b]
    assert listed(at_b.replace(tzinfo=None).isoformat()) == [b]
    assert client.get("/v1/stations", params={"updated_since": "2020-01-01"}).json()["total"] == 2
    assert_problem(client.get("/v1/stations", params={"updated_since": "昨天"}), 422, "bad_time")


def test_updated_since_pasted_into_a_url_unencoded_is_read_as_written(client, store, districts):
    """An updated_at pasted into a URL as it was given ("...+08:00", the README's example):
    the query string reads its '+' as a space; the time is still the one meant."""
    store.apply(_creates(districts, "P", 1), actor="t")
    [b] = store.apply(_creates(districts, "Q", 1), actor="t").ids
    at_b = store.get(b).updated_at
    assert at_b is not None and "+08:00" in at_b.isoformat()
    for text in (at_b.isoformat(), at_b.isoformat().replace("T", " ")):
        r = client.get(f"/v1/stations?updated_since={text}")  # '+' left as it is
        assert r.status_code == 200, r.text
        assert [d["id"] for d in r.json()["items"]] == [b]
    whole = at_b.replace(microsecond=0)
    r = client.get(f"/v1/stations?updated_since={whole.isoformat()}")
    assert r.status_code == 200 and {d["id"] for d in r.json()["items"]} >= {b}
    r = client.get("/v1/stations?updated_since=2025-10-01T08:00:00+08:00")  # the README's
    assert r.status_code == 200 and r.json()["total"] == 2
    assert_problem(client.get("/v1/stations?updated_since=2025-10-01T08:00:00+0"), 422, "bad_time")


def test_a_station_has_a_version_and_body_etag_and_304_while_unchanged(client, store, districts):
    [sid] = store.apply(_creates(districts, "G", 1), actor="t").ids
    r = client.get(f"/v1/stations/{sid}")
    tag = r.headers["etag"]
    version, digest = tag.strip('"').split(".")
    assert version == "1" and len(digest) == 8
    same = client.get(f"/v1/stations/{sid}", headers={"If-None-Match": tag})
    assert same.status_code == 304 and same.headers["etag"] == tag and same.content == b""
    weak = client.get(f"/v1/stations/{sid}", headers={"If-None-Match": f'"x", W/{tag}'})
    assert weak.status_code == 304
    assert client.get(f"/v1/stations/{sid}?f=geojson").headers["etag"] != tag
    # If-Match takes the new tag, and the old "<version>" still.
    admin = bearer(store, "admin")
    p = client.patch(
        f"/v1/stations/{sid}", json={"name": "改一"}, headers={**admin, "If-Match": tag}
    )
    assert p.status_code == 200, p.text
    stale = client.patch(
        f"/v1/stations/{sid}", json={"name": "改二"}, headers={**admin, "If-Match": tag}
    )
    assert_problem(stale, 409, "stale_write")
    p = client.patch(
        f"/v1/stations/{sid}", json={"name": "改二"}, headers={**admin, "If-Match": '"2"'}
    )
    assert p.status_code == 200, p.text
    changed = client.get(f"/v1/stations/{sid}", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"].startswith('"3.')
    d = client.delete(f"/v1/stations/{sid}", headers={**admin, "If-Match": changed.headers["etag"]})
    assert d.status_code == 204, d.text
    assert_problem(
        client.patch(f"/v1/stations/{sid}", json={}, headers={**admin, "If-Match": '"3.zz"'}),
        404,
        "station_not_found",
    )


def test_a_listing_has_a_strong_etag_of_its_body(client, store, districts):
    ids = store.apply(_creates(districts, "L", 3), actor="t").ids
    r = client.get("/v1/stations", params={"limit": 2})
    tag = r.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/") and len(tag) == 18
    same = client.get("/v1/stations", params={"limit": 2}, headers={"If-None-Match": tag})
    assert same.status_code == 304 and same.headers["etag"] == tag
    assert client.get("/v1/stations", params={"limit": 3}).headers["etag"] != tag
    store.apply([Delete(ids[0], 1)], actor="t")
    fresh = client.get("/v1/stations", params={"limit": 2}, headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != tag


def test_the_openapi_documents_the_feed(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "/v1/stations/changes" in paths and "/v1/stations/export" in paths
    params = {p["name"] for p in paths["/v1/stations"]["get"]["parameters"]}
    assert "updated_since" in params
    changes = paths["/v1/stations/changes"]["get"]
    assert {"410", "400"} <= set(changes["responses"])
    assert "cursor_expired" in changes["description"]
    assert "304" in paths["/v1/stations"]["get"]["responses"]
    assert "304" in paths["/v1/stations/{station_id}"]["get"]["responses"]
    assert "X-Yizhan-Cursor" in paths["/v1/stations/export"]["get"]["description"]
