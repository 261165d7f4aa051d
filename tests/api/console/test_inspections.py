"""Spot checks in the console: the form (amenities expanded, 暗访 by default), recording
with photos through the same service, the list, a check's page, the rectifications."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.api.console.helpers import login, make_account, post
from tests.builders import GUANYINQIAO, make_station

XSS = "<img src=x onerror=alert(1)>"


def jpeg(color=(30, 160, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), color).save(out, "JPEG")
    return out.getvalue()


def _stations(store, districts):
    mine = store.create(make_station(districts, name=XSS, amenities="热水"), actor="t")
    theirs = store.create(
        make_station(
            districts,
            external_id="JB-1",
            owner="district:500105",
            name="观音桥工会驿站",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    return mine, theirs


def _all(page_html: str) -> dict[str, str]:
    return {code: "1" for code in re.findall(r'name="r\.([a-z_.]+)" value="1"', page_html)}


def test_a_district_union_checks_a_station_and_sees_it_listed(console, store, districts):
    mine, theirs = _stations(store, districts)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    form = console.get(f"/console/inspections/new?station_id={mine.id}")
    assert form.status_code == 200
    html = form.text
    assert XSS not in html and "&lt;img" in html
    assert 'name="unannounced" value="1" checked' in html
    assert (
        'capture="environment" multiple' in html
        and 'accept="image/jpeg,image/png,image/webp"' in html
    )
    assert "设施：热水 在且可用" in html and "有统一标识和名称" in html
    results = _all(html)
    assert "amenity.hot_water" in results and "signage" in results
    data = {"station_id": str(mine.id), "unannounced": "1", "note": XSS}
    data.update({f"r.{k}": v for k, v in results.items()})
    data["r.hygiene"] = "0"
    done = post(
        console,
        "/console/inspections",
        csrf,
        data=data,
        files=[
            ("photos", ("a.jpg", jpeg(), "image/jpeg")),
            ("photos", ("b.jpg", jpeg(), "image/jpeg")),
        ],
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:2000]
    detail = console.get(done.headers["location"])
    assert "抽查结果已保存" in detail.text and "环境整洁卫生" in detail.text
    assert "&lt;img src=x" in detail.text and XSS not in detail.text
    listed = console.get("/console/inspections")
    assert listed.status_code == 200 and "1 项不合格" in listed.text and "暗访" in listed.text
    thumb = re.search(r'src="(/console/inspections/\d+/photos/1\.jpg\?size=thumb)"', listed.text)
    assert thumb is not None
    image = console.get(thumb.group(1))
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(image.content)).size) == 320
    due = console.get("/console/rectifications")
    assert "环境整洁卫生" in due.text and "hygiene" in due.text and "待整改" in due.text
    assert f"/console/inspections/new?station_id={mine.id}" in due.text  # 复查
    assert console.get("/console/rectifications?overdue=true").text.count("hygiene") == 0
    # another district's station: refused, in Chinese
    refused = console.get(f"/console/inspections/new?station_id={theirs.id}")
    assert refused.status_code == 403


def test_a_missing_item_shows_the_form_again_naming_it(console, store, districts):
    mine, _ = _stations(store, districts)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    results = _all(console.get(f"/console/inspections/new?station_id={mine.id}").text)
    data = {f"r.{k}": v for k, v in results.items() if k != "fire_safety"}
    data["station_id"] = str(mine.id)
    again = post(console, "/console/inspections", csrf, data=data)
    assert again.status_code == 422
    assert "还有检查项没有填写" in again.text and "消防安全" in again.text
    assert 'name="r.signage" value="1" required checked' in again.text  # kept as filled
    heic = post(
        console,
        "/console/inspections",
        csrf,
        data={**data, "r.fire_safety": "1"},
        files=[("photos", ("IMG_2.HEIC", b"\0\0\0\x18ftypheic" + b"\0" * 64, "image/heic"))],
    )
    assert heic.status_code == 422 and "兼容性最佳" in heic.text and "IMG_2.HEIC" in heic.text
    assert console.get("/console/inspections").text.count("详情") == 0


def test_an_industry_union_reads_its_stations_checks_only(console, store, districts):
    _stations(store, districts)
    post_station = store.create(
        make_station(districts, external_id="P-1", owner="industry:post", name="邮政驿站"),
        actor="t",
    )
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    results = _all(console.get(f"/console/inspections/new?station_id={post_station.id}").text)
    data = {f"r.{k}": "1" for k in results}
    data["station_id"] = str(post_station.id)
    assert (
        post(console, "/console/inspections", csrf, data=data, follow_redirects=False).status_code
        == 303
    )
    console.cookies.clear()
    make_account(store, districts, role="industry", code="post", username="post")
    login(console, "post")
    listed = console.get("/console/inspections")
    assert "邮政驿站" in listed.text and "新建抽查" not in listed.text
    assert console.get(f"/console/inspections/new?station_id={post_station.id}").status_code == 403


def test_the_picker_finds_the_stations_the_union_may_check(console, store, districts):
    mine, theirs = _stations(store, districts)
    other = store.create(
        make_station(districts, external_id="YZ-2", name="较场口工会驿站"), actor="t"
    )
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    both = console.get("/console/inspections/new", params={"q": "民族路"})
    assert both.status_code == 200
    assert "较场口工会驿站" in both.text and "观音桥工会驿站" not in both.text  # 江北's
    assert f"/console/inspections/new?station_id={other.id}" in both.text
    assert f"/console/inspections/new?station_id={mine.id}" in both.text
    one = console.get("/console/inspections/new", params={"q": "较场口"}, follow_redirects=False)
    assert one.headers["location"] == f"/console/inspections/new?station_id={other.id}"
    by_code = console.get(
        "/console/inspections/new",
        params={"q": f"{other.code[:4]}-{other.code[4:]}".lower()},
        follow_redirects=False,
    )
    assert by_code.headers["location"].endswith(f"station_id={other.id}")
    none = console.get("/console/inspections/new", params={"q": "观音桥"})
    assert "没有找到你可以抽查的驿站" in none.text
    assert XSS not in console.get("/console/inspections/new", params={"q": XSS}).text
    assert f"station_id={theirs.id}" not in none.text
