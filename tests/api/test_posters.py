"""GET /v1/stations/{id}/poster.pdf: the PDF, its cache validators, download, errors."""

from __future__ import annotations

import io
from urllib.parse import quote

import pdfplumber
import pytest

from stations.config import Settings
from stations.domain.codes import display_code
from tests.api.clients import api_client
from tests.builders import make_station

pytestmark = pytest.mark.skipif(
    not Settings().poster_font.is_file(), reason="needs the poster font (fonts-wqy-microhei)"
)


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def station(store, districts):
    return store.create(make_station(districts, name="解放碑工会驿站"), actor="t")


def text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return "".join((doc.pages[0].extract_text() or "").split())


def test_poster_is_an_inline_pdf_pointing_at_the_public_url(store, districts, db_path, station):
    with api_client(store, districts, db_path, public_url="https://yizhan.example.org") as client:
        r = client.get(f"/v1/stations/{station.id}/poster.pdf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert r.headers["content-disposition"].startswith("inline;")
    assert "X-Yizhan-Missing-Glyphs" not in r.headers
    body = text(r.content)
    assert "解放碑工会驿站" in body
    assert f"https://yizhan.example.org/s/{station.code}" in body
    assert display_code(station.code) in body
    assert "测试海报" not in body


def test_without_public_url_the_poster_says_it_is_a_test_print(client, station):
    r = client.get(f"/v1/stations/{station.id}/poster.pdf")
    assert r.status_code == 200
    body = text(r.content)
    assert "测试海报：未设置YIZHAN_PUBLIC_URL，二维码指向http://testserver" in body
    assert f"http://testserver/s/{station.code}" in body


def test_etag_answers_304_and_changes_with_the_station(client, store, station):
    url = f"/v1/stations/{station.id}/poster.pdf"
    first = client.get(url)
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    store.update(
        station.with_changes(name="解放碑工会驿站（新）"),
        actor="t",
        expected_version=station.version,
    )
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert "解放碑工会驿站（新）" in text(changed.content)


def test_download_is_an_attachment_named_in_chinese(client, station):
    r = client.get(f"/v1/stations/{station.id}/poster.pdf?download=1")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(f'驿站海报-{station.code}.pdf', safe='')}" in disposition
    disposition.encode("latin-1")  # a header must be Latin-1


def test_missing_glyphs_are_named_in_a_header(client, store, districts):
    s = store.create(
        make_station(districts, external_id="X2", name="磁器口\U0002003e驿站"), actor="t"
    )
    r = client.get(f"/v1/stations/{s.id}/poster.pdf")
    assert r.status_code == 200
    assert r.headers["X-Yizhan-Missing-Glyphs"] == "U+2003E"


def test_unknown_station_is_a_404_problem(client, station):
    r = client.get("/v1/stations/999999/poster.pdf")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "station_not_found"


def test_missing_font_is_a_503_problem_in_chinese(store, districts, db_path, station, tmp_path):
    with api_client(store, districts, db_path, poster_font=tmp_path / "no.ttc") as client:
        r = client.get(f"/v1/stations/{station.id}/poster.pdf")
    assert r.status_code == 503
    problem = r.json()
    assert problem["code"] == "poster_font_missing"
    assert "安装 fonts-wqy-microhei" in problem["detail"]
    assert "YIZHAN_POSTER_FONT" in problem["detail"]
