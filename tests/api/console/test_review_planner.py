"""Review (R2) of the planners' pages: what a targets file or the registry puts in the 报表
workbook must not become a formula, and what the page and the workbook show agree."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from stations.formats.report import cell_text
from stations.services.dashboard import DISTRICT_COLUMNS
from stations.services.sample import load_demo
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client
from tests.api.console.helpers import login, make_account
from tests.api.console.test_dashboard import tables_of

FORMULA = '=HYPERLINK("http://evil.example/x","点此查看")'


def test_a_target_note_that_looks_like_a_formula_is_text_in_the_workbook(tmp_path, districts):
    targets = tmp_path / "targets.toml"
    targets.write_text(
        '[[target]]\ndistrict = "500103"\nmetric = "stations_active"\nvalue = 10\n'
        f"deadline = 2099-12-31\nnote = '{FORMULA}'\n"
        '[[target]]\nmetric = "stations_active"\nvalue = 5\ndeadline = 2099-12-31\n'
        "note = '+1-2'\n",
        encoding="utf-8",
    )
    path = tmp_path / "registry.sqlite3"
    store = SQLiteStore(path)
    make_account(store, districts, role="admin", code=None)
    with api_client(store, districts, path, warm_start=False, targets_file=targets) as c:
        login(c, "city")
        answer = c.get("/console/report.xlsx")
        assert answer.status_code == 200
        book = load_workbook(io.BytesIO(answer.content))
        cells = [
            cell
            for sheet in book.worksheets
            for row in sheet.iter_rows()
            for cell in row
            if isinstance(cell.value, str) and ("HYPERLINK" in cell.value or "+1-2" in cell.value)
        ]
        assert len(cells) == 2
        for cell in cells:
            assert cell.data_type == "s", (cell.coordinate, cell.value)
            assert cell.value.lstrip("'") in (FORMULA, "+1-2")
        page = c.get("/console/report")
        assert "HYPERLINK" in page.text and '<a href="http://evil' not in page.text
    store.close()


def test_a_district_clerk_sees_only_its_district_whatever_the_query(console, store, districts):
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    for url in ("/console/dashboard", "/console/report", "/console/gaps"):
        answer = console.get(url, params={"district": "500105"})
        assert answer.status_code in (200, 403, 404), (url, answer.status_code)
        if answer.status_code == 200:
            assert "江北区" not in answer.text.replace("渝中区", ""), url
    book = console.get("/console/report.xlsx", params={"district": "500105"})
    if book.status_code == 200:
        cells = [
            str(c.value)
            for s in load_workbook(io.BytesIO(book.content)).worksheets
            for row in s.iter_rows()
            for c in row
        ]
        assert not any("江北区" in c for c in cells)
    for url in ("/console/accounts", "/console/accounts/new"):
        assert console.get(url).status_code in (403, 404), url


def test_an_empty_registry_gives_every_planner_page_and_the_workbook(console, store, districts):
    make_account(store, districts, role="admin", code=None)
    make_account(store, districts, code="500103")
    for who in ("city", "yz500103"):
        login(console, who)
        for url in ("/console/dashboard", "/console/report", "/console/gaps"):
            answer = console.get(url)
            assert answer.status_code == 200, (who, url, answer.text[:800])
        book = console.get("/console/report.xlsx")
        assert book.status_code == 200
        load_workbook(io.BytesIO(book.content))
        console.cookies.clear()


def test_each_districts_row_equals_the_api_for_the_same_registry(console, store, districts):
    load_demo(store, districts, seed=5, total=60)
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    rows = tables_of(console.get("/console/dashboard").text)["各区县指标"]
    header = rows[0]
    doc = console.get("/v1/districts").json()
    by_name = {d["name"]: d for d in doc["districts"]}
    checked = 0
    for row in rows[1:-1]:
        found = by_name[row[0]]
        for column in DISTRICT_COLUMNS:
            if column.key == "status_active":
                value = found["by_status"].get("active", 0)
            elif column.key in found and column.kind in ("rate", "count"):
                value = found[column.key]
            else:
                continue
            shown = row[header.index(column.label)]
            assert shown == cell_text(value, column.kind), (row[0], column.label)
            checked += 1
    assert checked > 38 * 5


XSS = "<img src=x onerror=alert(1)>"


def test_a_district_query_with_markup_is_a_chinese_refusal_shown_as_text(console, store, districts):
    make_account(store, districts, role="industry", code="transport")
    login(console, "yztransport")
    for url in ("/console/dashboard", "/console/report", "/console/report.xlsx", "/console/gaps"):
        answer = console.get(url, params={"district": XSS, "sort": XSS})
        assert answer.status_code in (400, 403, 404, 422), (url, answer.status_code)
        assert XSS not in answer.text, url
        assert re.search(r"[\u4e00-\u9fff]{4}", answer.text), url
