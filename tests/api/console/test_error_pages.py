"""What goes wrong in the console reads as Chinese for a clerk, never as the API's wording."""

from __future__ import annotations

import pytest

from tests.api.console.helpers import login, make_account
from tests.builders import GUANYINQIAO, make_station


@pytest.fixture
def clerk(console, store, districts):
    make_account(store, districts, code="500103", name="渝中区总工会")
    csrf = login(console, "yz500103")
    return console, csrf


def _api_words(text: str) -> list[str]:
    return [w for w in ("/docs", "/v1/", "Bearer", "令牌", " may not ", "errors 列出") if w in text]


@pytest.mark.parametrize(
    ("url", "status", "line"),
    [
        ("/console/stations?offset=-1", 422, "链接中的参数有误"),
        ("/console/stations/abc", 422, "链接中的参数有误"),
        ("/console/stations/987654", 404, "找不到这个驿站"),
        ("/console/uploads/nope", 404, "找不到这次上传"),
        ("/console/no-such-page", 404, "找不到这个页面"),
    ],
)
def test_a_bad_link_gets_a_chinese_page(clerk, url, status, line):
    console, _ = clerk
    page = console.get(url)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert line in page.text
    assert _api_words(page.text) == []
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_body_over_the_limit_is_refused_in_chinese_before_it_is_read(clerk):
    console, _ = clerk
    big = console.post(
        "/console/stations",
        content=b"x",
        headers={"content-length": str(30 * 1024 * 1024), "content-type": "text/plain"},
    )
    assert big.status_code == 413
    assert big.headers["content-type"].startswith("text/html")
    assert "未保存任何内容" in big.text
    # The API keeps its problem+json.
    api = console.post(
        "/v1/stations",
        content=b"x",
        headers={"content-length": str(30 * 1024 * 1024), "content-type": "application/json"},
    )
    assert api.status_code == 413 and api.headers["content-type"] == "application/problem+json"


def test_another_unions_station_is_refused_in_chinese_without_token_words(clerk, store, districts):
    console, _ = clerk
    other = store.create(
        make_station(
            districts,
            owner="district:500105",
            external_id="X1",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    page = console.get(f"/console/stations/{other.id}")
    assert page.status_code == 403
    assert "你的工会无权" in page.text and _api_words(page.text) == []
