"""OGC API parameters this server cannot honour are refused, and its links are its own."""

from __future__ import annotations

import pytest

from api.routes import ogc
from stations.config import Settings
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client, bearer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture
def store(db_path):
    with SQLiteStore(db_path) as s:
        yield s


def problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == f"/problems/{code}"
    return r.json()


PATHS = [
    "/",
    "/conformance",
    "/collections",
    "/collections/stations",
    "/collections/stations/items",
    "/collections/districts/items/500103",
]


@pytest.mark.parametrize("path", PATHS)
def test_an_unknown_format_is_refused_not_ignored(client, path):
    doc = problem(client.get(path, params={"f": "xml"}), 422, "bad_format")
    assert "f=xml" in doc["detail"].replace("'", "")


@pytest.mark.parametrize("name", ["crs", "bbox-crs"])
@pytest.mark.parametrize("path", ["/collections/stations/items", "/collections/districts/items"])
def test_an_unknown_crs_is_refused_not_ignored(client, path, name):
    doc = problem(client.get(path, params={name: "foo"}), 422, "bad_crs")
    assert CRS84 in doc["detail"]


@pytest.mark.parametrize("value", [CRS84, "[OGC:CRS84]"])
def test_crs84_itself_is_accepted(client, value):
    r = client.get(
        "/collections/stations/items", params={"crs": value, "bbox-crs": value, "f": "json"}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "query",
    [
        "f=xml&f=json",
        f"crs=foo&crs={CRS84}",
        f"bbox-crs=foo&bbox-crs={CRS84}",
        "bbox=0,0,1,1&bbox=106,29,107,30",
        "limit=1&limit=10",
    ],
)
def test_a_parameter_given_twice_is_refused_not_guessed(client, query):
    """The last value was honoured and the first ignored: f=xml&f=json answered JSON, and
    crs=foo passed the check when followed by CRS84."""
    doc = problem(client.get(f"/collections/stations/items?{query}"), 422, "invalid_parameter")
    name = query.split("=")[0]
    assert doc["errors"] == [{"field": name, "code": "repeated", "message": "give it once"}]


def test_the_formats_offered_are_still_served(client):
    assert client.get("/collections/stations/items", params={"f": "geojson"}).status_code == 200
    assert client.get("/collections", params={"f": "json"}).status_code == 200
    assert client.get("/", params={"f": "html"}).headers["content-type"].startswith("text/html")


def hrefs(doc) -> list[str]:
    return [link["href"] for link in doc["links"]]


def test_links_ignore_the_clients_host_header(client):
    doc = client.get("/collections", headers={"Host": "evil.example"}).json()
    assert hrefs(doc) == ["http://testserver/collections"]
    items = client.get("/collections/stations/items", headers={"Host": "evil.example"}).json()
    assert all(h.startswith("http://testserver/") for h in hrefs(items))


def test_links_follow_the_public_url_setting(store, districts, db_path):
    with api_client(store, districts, db_path, public_url="https://yizhan.example.org/api/") as c:
        doc = c.get("/collections", headers={"Host": "evil.example"}).json()
        assert hrefs(doc) == ["https://yizhan.example.org/api/collections"]
        landing = c.get("/").json()
        assert "https://yizhan.example.org/api/conformance" in hrefs(landing)


@pytest.mark.parametrize(
    "value", ["yizhan.example.org", "ftp://x.org", "https://x.org/?a=1", "https://"]
)
def test_a_public_url_that_is_not_a_base_address_is_refused(value):
    with pytest.raises(ValueError, match="YIZHAN_PUBLIC_URL"):
        Settings(public_url=value)


@pytest.mark.parametrize(
    ("content_type", "content", "said"),
    [
        pytest.param(
            "multipart/form-data; boundary=b",
            b"--b\r\nX: y\r\n\r\nabc\r\n--b--\r\n",
            "Content-Disposition",
            id="no-disposition",
        ),
        pytest.param("multipart/form-data", b"x", "boundary", id="no-boundary"),
    ],
)
def test_a_broken_multipart_form_is_a_problem_json_400(client, store, content_type, content, said):
    r = client.post(
        "/v1/uploads",
        headers={**bearer(store, "admin"), "Content-Type": content_type},
        content=content,
    )
    assert said in problem(r, 400, "bad_request")["detail"]


def test_a_new_collection_is_one_entry_of_the_registry(client, monkeypatch):
    points = [{"type": "Feature", "id": str(n), "geometry": None, "properties": {}} for n in "abc"]

    def items(services, index, box, offset, limit, at):
        return len(points), points[offset : offset + limit]

    def item(services, index, feature_id):
        return next(dict(p) for p in points if p["id"] == feature_id)

    entry = ogc.Collection("points", "Points", "Three points.", items=items, item=item)
    monkeypatch.setitem(ogc.COLLECTIONS, "points", entry)
    listed = client.get("/collections").json()["collections"]
    assert [c["id"] for c in listed] == ["stations", "districts", "points"]
    assert client.get("/collections/points").json()["description"] == "Three points."
    page = client.get("/collections/points/items", params={"limit": 2}).json()
    assert page["numberMatched"] == 3 and [f["id"] for f in page["features"]] == ["a", "b"]
    assert "offset=2" in next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert client.get("/collections/points/items/c").json()["id"] == "c"
