"""The planners' pages: the dashboard per account's scope, the report page and the 报表
workbook showing the same numbers, the gap suggestions, the charts inlined safely."""

from __future__ import annotations

import io
import re
import sys
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook

from api.console import charts
from geodata.crs import wgs84_to_gcj02
from stations.formats.report import cell_text
from stations.services import planning
from stations.services.dashboard import DISTRICT_COLUMNS, TARGET_COLUMNS
from stations.services.sample import load_demo
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client
from tests.api.console.helpers import login, make_account

YUZHONG, WANZHOU = "500103", "500101"
TARGETS = (
    '[[target]]\ndistrict = "500103"\nmetric = "listed_all_rate"\nvalue = 0.99\n'
    "deadline = 2020-01-01\n"
    '[[target]]\nmetric = "stations_active"\nvalue = 100000\ndeadline = 2099-12-31\n'
)


class Tables(HTMLParser):
    """Each ``<table data-table=…>``'s rows of cell texts (head, body and foot alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("data-table"):
            self._table = self.tables.setdefault(dict(attrs)["data-table"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table is not None and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def registry(tmp_path_factory, districts):
    path = tmp_path_factory.mktemp("console-dashboard") / "registry.sqlite3"
    (path.parent / "targets.toml").write_text(TARGETS, encoding="utf-8")
    store = SQLiteStore(path)
    load_demo(store, districts, seed=11, total=400)
    make_account(store, districts, role="admin", code=None)
    make_account(store, districts, role="district", code=YUZHONG)
    make_account(store, districts, role="industry", code="transport")
    store.close()
    return path


@pytest.fixture
def console(registry, districts):
    store = SQLiteStore(registry)
    targets = registry.parent / "targets.toml"
    with api_client(store, districts, registry, warm_start=False, targets_file=targets) as c:
        yield c
    store.close()


def test_the_city_sees_every_district_the_city_row_and_the_chart(console, districts):
    login(console, "city")
    page = console.get("/console/dashboard")
    assert page.status_code == 200
    assert "default-src" in page.headers["content-security-policy"]
    rows = tables_of(page.text)["各区县指标"]
    assert rows[0] == [c.label for c in DISTRICT_COLUMNS]
    assert [r[0] for r in rows[1:-1]] == [d.name for d in districts] and len(rows) == 40
    assert rows[-1][0] == "全市"
    api = console.get("/v1/districts").json()
    active = DISTRICT_COLUMNS.index(next(c for c in DISTRICT_COLUMNS if c.key == "status_active"))
    assert rows[-1][active] == f"{api['city']['by_status']['active']:,}"
    for link in ("/maps/coverage", "/console/gaps", "/console/report", "/console/report.xlsx"):
        assert f'href="{link}"' in page.text
    assert page.text.count("<svg") == 4 and "全市上图进度" in page.text
    assert "活动（按区县）" in page.text and "这段时间没有活动" in page.text  # no event yet
    svg = page.text[page.text.index("<svg") : page.text.rindex("</svg>")]
    assert "<script" not in svg and not re.findall(r"https?://(?!www\.w3\.org/)", svg)
    assert "WenQuanYi Micro Hei" in svg
    # Our own scripts only (the CSP allows no inline one).
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert "逾期目标 1 项" in page.text and "低于 50%" in page.text
    assert 'class="num band-' in page.text  # rates coloured by band


def test_an_industry_union_sees_the_city_and_may_choose_a_district(console):
    login(console, "yztransport")
    page = console.get("/console/dashboard", params={"district": WANZHOU})
    rows = tables_of(page.text)["各区县指标"]
    assert [r[0] for r in rows[1:]] == ["万州区"]
    assert len(tables_of(console.get("/console/dashboard").text)["各区县指标"]) == 40


def test_a_district_union_sees_its_own_district_only(console, districts):
    login(console, f"yz{YUZHONG}")
    page = console.get("/console/dashboard")
    rows = tables_of(page.text)["各区县指标"]
    assert [r[0] for r in rows[1:]] == ["渝中区"]  # no city row either
    others = [d.name for d in districts if d.adcode != YUZHONG]
    assert not [name for name in others if name in page.text]
    assert '<select id="district"' not in page.text
    refused = console.get("/console/dashboard", params={"district": WANZHOU})
    assert refused.status_code == 403 and "您只能查看本区县的规划数据" in refused.text
    assert "万州区" not in refused.text
    for path in ("/console/report", "/console/report.xlsx", "/console/gaps"):
        answer = console.get(path, params={"district": WANZHOU})
        assert answer.status_code == 403 and "本区县" in answer.text, path
    own = console.get("/console/report.xlsx")
    assert load_workbook(io.BytesIO(own.content)).sheetnames == ["各区县指标", "目标进度"]


def test_the_report_page_and_the_workbook_hold_the_same_numbers(console):
    login(console, "city")
    page = console.get("/console/report")
    assert page.status_code == 200 and "@media print" not in page.text  # in planner.css
    shown = tables_of(page.text)
    answer = console.get("/console/report.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["各区县指标", "目标进度", "上图进度"]
    for name, columns in (("各区县指标", DISTRICT_COLUMNS), ("目标进度", TARGET_COLUMNS)):
        sheet = book[name]
        assert "工会驿站规划报表（全市，" in sheet["A1"].value
        cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
        cells = [r for r in cells if any(v is not None for v in r)][: len(shown[name])]
        assert cells[0] == shown[name][0]  # the headers
        for xlsx_row, page_row in zip(cells[1:], shown[name][1:], strict=True):
            for value, text, column in zip(xlsx_row, page_row, columns, strict=True):
                kind = column.kind
                if name == "目标进度" and column.key in ("target", "current") and "%" in text:
                    kind = "rate"
                assert cell_text(value, kind) == text, (name, column.key)
    numbers = [c.value for c in book["各区县指标"]["B"][2:40]]
    assert all(isinstance(v, int) for v in numbers)
    assert book["各区县指标"]["F3"].number_format == "0.0%"
    overdue = [r for r in shown["目标进度"] if "逾期" in r]
    assert len(overdue) == 1 and overdue[0][0] == "渝中区"


def test_the_gap_suggestions_are_a_table_with_links_to_the_map(console):
    login(console, "city")
    page = console.get("/console/gaps", params={"district": YUZHONG})
    assert page.status_code == 200
    api = console.get("/v1/gaps", params={"district": YUZHONG}).json()
    for site in api["sites"]:
        assert f"{site['lon']:.6f}" in page.text and f"{site['lat']:.6f}" in page.text
        lon, lat = wgs84_to_gcj02(site["lon"], site["lat"])
        assert f"<code>{lon:.6f},{lat:.6f}</code>" in page.text
    assert page.text.count('href="/maps/coverage?district=500103"') >= len(api["sites"]) + 1
    # Each site opens in Amap at its GCJ-02 position (the district map shows no marker).
    first = api["sites"][0]
    lon, lat = wgs84_to_gcj02(first["lon"], first["lat"])
    assert f"https://uri.amap.com/marker?position={lon:.6f}%2C{lat:.6f}" in page.text


def test_gaps_a_planner_chooses_the_reach_how_many_and_a_demand_layer(console):
    """All picks in one empty county, each a full disc, helps no one: the page asks by
    the sample demand layer (where riders gather), a reach and a count, as /v1/gaps does."""
    login(console, "city")
    (layer,) = [d["name"] for d in console.get("/v1/demand").json()["layers"]]
    page = console.get("/console/gaps", params={"radius_m": 500, "n": 5, "demand": layer})
    assert page.status_code == 200, page.text[:500]
    api = console.get("/v1/gaps", params={"radius_m": 500, "n": 5, "demand": layer}).json()
    body = page.text.split('class="figures gaps-table"')[1].split("</tbody>")[0]
    assert body.count("<tr>") - 1 == len(api["sites"]) == 5  # the header's row, then five
    for site in api["sites"]:
        assert f"{site['lon']:.6f}" in page.text
    assert f"“{layer}”需求" in page.text and "0.5 公里范围" in page.text
    assert 'value="500" selected' in page.text and f'value="{layer}" selected' in page.text
    assert 'href="/v1/gaps?radius_m=500&amp;n=5&amp;demand=' in page.text  # the same JSON
    wrong = console.get("/console/gaps", params={"radius_m": 12345})
    assert wrong.status_code == 400 and "不是页面上的选项" in wrong.text


def test_user_text_is_escaped_and_the_pages_need_signing_in(console):
    answer = console.get("/console/dashboard", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console?next=")
    login(console, "city")
    evil = "<img src=x onerror=alert(1)>"
    page = console.get("/console/dashboard", params={"district": evil})
    assert page.status_code == 400 and "没有区县代码" in page.text
    assert evil not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text


def test_charts_render_offline_and_pygal_leaves_no_legacy_import_finder():
    svg = charts.mapped_history_chart([], title="<b>全市</b>")
    assert "<script" not in svg and "&lt;b&gt;全市&lt;/b&gt;" in svg and "暂无上图记录" in svg
    assert not re.findall(r"https?://(?!www\.w3\.org/)", svg)
    assert not [f for f in sys.meta_path if not hasattr(f, "find_spec")]


def test_coverage_too_much_to_measure_shows_a_dash_with_the_reason(console, monkeypatch):
    monkeypatch.setattr(planning, "MAX_COVERAGE_WORK", 0)
    login(console, "city")
    page = console.get("/console/dashboard")
    assert page.status_code == 200
    rows = tables_of(page.text)["各区县指标"]
    cover = [c.key for c in DISTRICT_COLUMNS].index("coverage")
    assert {r[cover] for r in rows[1:]} == {"—"}
    assert 'title="登记的驿站太多，一次请求无法计算全市覆盖率' in page.text


def test_the_report_sorts_by_a_column_page_and_workbook_alike(console):
    login(console, "city")
    page = console.get("/console/report", params={"sort": "listed_all_rate"})
    shown = tables_of(page.text)["各区县指标"][1:-1]
    column = [c.key for c in DISTRICT_COLUMNS].index("listed_all_rate")
    rates = [float(r[column].rstrip("%")) for r in shown if r[column] != "—"]
    assert rates == sorted(rates) and len(shown) == 38
    assert 'href="/console/report.xlsx?sort=listed_all_rate"' in page.text
    book = load_workbook(
        io.BytesIO(console.get("/console/report.xlsx", params={"sort": "listed_all_rate"}).content)
    )
    assert [c.value for c in book["各区县指标"]["A"][2:40]] == [r[0] for r in shown]
    refused = console.get("/console/report", params={"sort": "<script>"})
    assert refused.status_code == 400 and "无法按这一列排序" in refused.text
