"""A clerk's whole upload in Debian's Chromium at 1366×768: a GBK CSV with two bad rows,
checked, the bad rows downloaded as Excel, the good rows committed, then undone."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from stations.domain.model import Owner
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.api.console.test_uploads import HEADER, csv_bytes, station_row
from tests.api.test_upload_sheets import sheet_rows, union_xlsx

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

YUZHONG = Owner.parse("district:500103")
EVIL = "<img src=x onerror=window.__xss=1>"
GOOD = ["G1", "G2", "G3", "G4", "G5"]


def _accounts(store, districts):
    make_account(store, districts, code="500103", name="渝中区总工会")


def _sheet() -> bytes:
    rows = [station_row(code, i=i) for i, code in enumerate(GOOD)]
    rows[1][1] = EVIL  # a station named with markup: shown as text
    rows.insert(2, station_row("B1", lon="一百零六", i=7))  # file row 4: not a number
    rows.insert(5, station_row("B2", lon=2.35, lat=48.85, i=8))  # file row 7: Paris
    return csv_bytes(rows, header=HEADER, encoding="gbk")


def test_a_clerk_uploads_a_gbk_sheet_commits_the_good_rows_and_undoes_it(
    browser, tmp_path, districts
):
    sheet = tmp_path / "渝中区驿站名单.csv"
    sheet.write_bytes(_sheet())
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_accounts) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.get_by_role("link", name="上传", exact=True).click()
        page.wait_for_load_state("load")
        screenshot(page, "upload-form")
        page.set_input_files("#upload-file", str(sheet))
        page.get_by_label("坐标系").select_option("gcj02")
        held = []  # the upload's POST, held until the page has said it is checking
        page.route(f"{live.base}/console/uploads", lambda route: held.append(route))
        # Clicked from the page, and looked at from it: Playwright's own click and locators
        # would wait for the held navigation.
        state = page.evaluate(
            """() => new Promise((done) => {
                const button = document.getElementById("upload-submit");
                button.click();
                setTimeout(() => done([button.disabled, button.textContent,
                    document.getElementById("upload-busy").hidden]), 100);
            })"""
        )
        assert state == [True, "正在检查…", False]
        for _ in range(50):  # the held POST reaches its handler while Playwright waits
            if held:
                break
            page.wait_for_timeout(100)
        assert len(held) == 1
        held[0].continue_()
        page.unroute(f"{live.base}/console/uploads")
        page.wait_for_url("**/console/uploads/*")
        rejected = page.locator("tr.rejected")
        assert rejected.count() == 2
        assert rejected.first.evaluate("e => getComputedStyle(e.cells[0]).backgroundColor") != (
            "rgba(0, 0, 0, 0)"
        )
        first = rejected.first.locator("td").all_inner_texts()
        assert first[:3] == ["4", "经度", "一百零六"] and first[3]
        assert page.locator("tr.rejected td:first-child").all_inner_texts() == ["4", "7"]
        assert page.get_by_text(EVIL).count() >= 1  # the name as text, never an element
        assert page.evaluate("window.__xss") is None
        screenshot(page, "upload-report")

        with page.expect_download() as download_info:
            page.get_by_role("link", name="下载有误的行（Excel）").first.click()
        download = download_info.value
        assert download.suggested_filename == "渝中区驿站名单-有误的行.xlsx"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        book = load_workbook(saved)
        rows = list(book.active.iter_rows(values_only=True))
        problem_at = list(rows[0]).index("问题")
        assert [r[0] for r in rows[1:]] == ["B1", "B2"]
        assert all(r[problem_at] for r in rows[1:])

        page.get_by_role("button", name="提交无误的 5 行").click()
        page.wait_for_load_state("load")
        assert "已提交：新增 5 个" in page.get_by_role("status").first.inner_text()
        assert page.locator(".facts dd").first.inner_text() == "已提交"
        store = live.store()
        try:
            assert all(store.find_by_external_id(YUZHONG, c) for c in GOOD)
            assert store.find_by_external_id(YUZHONG, "B1") is None
        finally:
            store.close()

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="撤销本次上传").click()
        page.wait_for_load_state("load")
        assert "已撤销本次上传" in page.get_by_role("status").first.inner_text()
        store = live.store()
        try:
            assert not any(store.find_by_external_id(YUZHONG, c) for c in GOOD)
        finally:
            store.close()
    assert log.errors == [] and log.blocked == []


def test_a_union_sheet_is_read_as_the_office_keeps_it_and_a_too_large_file_is_stopped(
    browser, tmp_path, districts
):
    sheet = tmp_path / "渝中区工会驿站点位信息统计表.xlsx"
    union_xlsx(sheet, sheet_rows())
    huge = tmp_path / "太大.csv"
    huge.write_bytes(b"x" * 1_100_000)
    with (
        live_console(
            tmp_path / "r.sqlite3",
            districts,
            setup=_accounts,
            env={"YIZHAN_MAX_UPLOAD_BYTES": str(1024 * 1024)},
        ) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.goto(f"{live.base}/console/uploads")
        # Over the limit: said at once, nothing sent.
        page.set_input_files("#upload-file", str(huge))
        assert page.get_by_role("alert").inner_text().startswith("文件超过 1 MB")
        page.get_by_role("button", name="上传并检查").click()
        assert page.url == f"{live.base}/console/uploads"
        # The office's own sheet, its 坐标系 left to what the header says.
        page.set_input_files("#upload-file", str(sheet))
        assert page.get_by_role("alert").is_hidden()
        page.get_by_role("button", name="上传并检查").click()
        page.wait_for_url("**/console/uploads/*")
        assert "第 3 行是表头" in page.locator("ul.notes").inner_text()
        assert page.locator("tr.rejected").count() >= 3
        assert page.get_by_role("button", name="提交无误的 40 行").is_visible()
        screenshot(page, "upload-report-union")
    assert log.errors == [] and log.blocked == []
