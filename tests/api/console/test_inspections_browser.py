"""A spot check in Debian's Chromium at 1366×768: fill the form, attach two photos, save;
the list shows their thumbnails and the failed item is a rectification due."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.builders import make_station

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def _setup(store, districts):
    make_account(store, districts, code="500103", name="渝中区总工会")
    store.create(
        make_station(districts, name="解放碑<b>工会驿站</b>", amenities="热水、厕所"), actor="t"
    )


def _photo(path, color, exif_gps=True):
    exif = Image.Exif()
    if exif_gps:
        exif[0x8825] = {1: "N", 2: (29.0, 33.0, 30.0), 3: "E", 4: (106.0, 34.0, 12.0)}
    Image.new("RGB", (2000, 1500), color).save(path, "JPEG", exif=exif.tobytes())
    return path


def test_a_clerk_records_a_spot_check_with_two_photos(browser, tmp_path, districts):
    one = _photo(tmp_path / "门口.jpg", (200, 40, 40))
    two = _photo(tmp_path / "药箱.jpg", (40, 40, 200))
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.get_by_role("link", name="抽查暗访").click()
        page.wait_for_load_state("load")
        page.get_by_label("要抽查的驿站").fill("解放碑")
        page.get_by_role("button", name="新建抽查").click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "抽查：解放碑<b>工会驿站</b>"
        assert page.get_by_label("暗访（事先未通知驿站）").is_checked()
        assert page.get_by_text("设施：热水 在且可用").is_visible()
        for group in page.locator(".verdict").all():
            group.get_by_text("合格", exact=True).click()
        page.locator('.verdict:has(input[name="r.first_aid_in_date"])').get_by_text(
            "不合格"
        ).click()
        page.get_by_label("说明").fill("急救箱里碘伏过期")
        page.set_input_files("#photos", [str(one), str(two)])
        screenshot(page, "inspection-form")
        page.get_by_role("button", name="保存抽查结果").click()
        page.wait_for_load_state("load")
        assert "抽查结果已保存" in page.get_by_role("status").inner_text()
        assert page.locator("#opened").get_by_text("急救药品在有效期内").is_visible()
        assert page.locator(".photos img").count() == 2
        screenshot(page, "inspection")
        page.get_by_role("link", name="抽查暗访").click()
        page.wait_for_load_state("load")
        thumbs = page.locator("#inspections img")
        assert thumbs.count() == 2
        widths = [t.evaluate("img => img.complete && img.naturalWidth") for t in thumbs.all()]
        assert widths == [320, 320]
        assert page.get_by_text("1 项不合格").is_visible()
        screenshot(page, "inspections")
        page.get_by_role("link", name="整改").click()
        page.wait_for_load_state("load")
        row = page.locator("#rectifications tbody tr")
        assert row.count() == 1
        assert "急救药品在有效期内" in row.inner_text() and "first_aid_in_date" in row.inner_text()
        assert "待整改" in row.inner_text()
        screenshot(page, "rectifications")
    assert log.errors == [] and log.blocked == []
