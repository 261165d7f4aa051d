"""A district union's clerk and another district's checks: the page, the photos, the
lists and the form are all refused or empty, whichever URL is guessed."""

from __future__ import annotations

from tests.api.console.helpers import login, make_account, post
from tests.api.console.test_inspections import _all, _stations, jpeg


def test_another_districts_check_is_refused_by_guessed_urls(console, store, districts):
    mine, _theirs = _stations(store, districts)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    results = _all(console.get(f"/console/inspections/new?station_id={mine.id}").text)
    data = {"station_id": str(mine.id), **{f"r.{k}": "1" for k in results}}
    data["r.signage"] = "0"
    done = post(
        console,
        "/console/inspections",
        csrf,
        data=data,
        files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))],
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    check = done.headers["location"].split("?")[0].rsplit("/", 1)[-1]
    console.cookies.clear()
    make_account(store, districts, code="500105", username="jiangbei")
    csrf = login(console, "jiangbei")
    assert console.get(f"/console/inspections/{check}").status_code == 403
    assert console.get(f"/console/inspections/{check}/photos/1.jpg").status_code == 403
    assert console.get(f"/console/inspections/{check}/photos/1.jpg?size=thumb").status_code == 403
    assert console.get(f"/console/inspections/new?station_id={mine.id}").status_code == 403
    listed = console.get("/console/inspections?district=500103")
    assert listed.status_code == 200 and f"/console/inspections/{check}" not in listed.text
    due = console.get("/console/rectifications?district=500103")
    assert due.status_code == 200 and "有统一标识和名称" not in due.text
    due = console.get(f"/console/rectifications?station_id={mine.id}")
    assert due.status_code == 200 and "有统一标识和名称" not in due.text
    refused = post(console, "/console/inspections", csrf, data=data, follow_redirects=False)
    assert refused.status_code == 403


def test_the_form_says_the_photos_total_cap_and_a_check_over_it_says_what_to_do(
    console, store, districts
):
    mine, _theirs = _stations(store, districts)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    form = console.get(f"/console/inspections/new?station_id={mine.id}")
    assert "合计不超过 20 MB" in form.text
    big = console.post(
        "/console/inspections",
        content=b"x",
        headers={
            "content-length": str(30 * 1024 * 1024),
            "content-type": "multipart/form-data; boundary=x",
        },
    )
    assert big.status_code == 413 and big.headers["content-type"].startswith("text/html")
    assert "少选几张照片" in big.text and "分批上传" not in big.text
