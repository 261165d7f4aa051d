"""Review (R2) of the console's uploads as a clerk really does them."""

from __future__ import annotations

import io
import re

from openpyxl import Workbook, load_workbook

from tests.api.console.helpers import login, make_account, post
from tests.api.console.test_uploads import (
    HEADER,
    YUZHONG,
    csv_bytes,
    report_url,
    station_row,
    upload,
)
from tests.builders import JIEFANGBEI


def xlsx_bytes(rows, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def committed(console, csrf, data, name, **form):
    url = report_url(upload(console, csrf, data, name=name, **form))
    answer = post(console, f"{url}/commit", csrf, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:1500]
    return url


def test_codes_excel_stored_as_numbers_match_the_same_codes_as_text(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    rows = [station_row(float(i), name=f"驿站{i}", i=i) for i in (1, 2)]
    committed(console, csrf, xlsx_bytes(rows), "驿站.xlsx")
    codes = sorted(s.external_id for s in list(store.iter_all()))
    assert codes == ["1", "2"], codes
    # The same stations, the codes now text in a CSV: updates, not new stations.
    again = [station_row(str(i), name=f"驿站{i}改", i=i) for i in (1, 2)]
    committed(console, csrf, csv_bytes(again), "驿站.csv")
    assert sorted(s.name for s in list(store.iter_all())) == ["驿站1改", "驿站2改"]


def test_accepted_only_then_the_whole_original_again_does_not_duplicate(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    rows = [station_row("K1", i=0), station_row("K2", lon="abc", i=1), station_row("K3", i=2)]
    data = csv_bytes(rows)
    url = report_url(upload(console, csrf, data))
    answer = post(
        console, f"{url}/commit", csrf, data={"accepted_only": "true"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:1500]
    assert len(list(store.iter_all())) == 2
    rows[1] = station_row("K2", i=1)
    committed(console, csrf, csv_bytes(rows), "驿站.csv")
    assert sorted(s.external_id for s in list(store.iter_all())) == ["K1", "K2", "K3"]


def test_full_width_digits_in_a_position_are_read_as_a_clerks_input_method_types_them(
    console, store, districts
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    row = station_row("F1")
    trans = str.maketrans("0123456789.", "０１２３４５６７８９．")
    row[3], row[4] = f"{row[3]:.6f}".translate(trans), f"{row[4]:.6f}".translate(trans)
    url = report_url(upload(console, csrf, csv_bytes([row])))
    page = console.get(url)
    assert "不是数字" not in page.text and "有误的行（" not in page.text
    post(console, f"{url}/commit", csrf, follow_redirects=False)
    station = store.find_by_external_id(YUZHONG, "F1")
    assert station is not None and abs(station.lon - JIEFANGBEI[0]) < 1e-4


def test_the_rejected_rows_fixed_in_their_excel_upload_again_as_they_were_meant(
    console, store, districts
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    good = station_row("R1", i=0)
    rows = [
        station_row("R1", i=0),
        station_row("R2", name="-驿站二（民族路）", lon="abc", i=1),
        station_row("R3", name="=驿站三", lat="二十九", i=2),
    ]
    url = committed_accepted_only(console, csrf, csv_bytes(rows))
    book = load_workbook(io.BytesIO(console.get(f"{url}/rejected.xlsx").content))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        row[header.index("经度")].value = good[3] + 0.001
        row[header.index("纬度")].value = good[4]
    out = io.BytesIO()
    book.save(out)
    again = report_url(upload(console, csrf, out.getvalue(), name="驿站-有误的行.xlsx"))
    page = console.get(again)
    assert "有误的行（" not in page.text, page.text
    assert post(console, f"{again}/commit", csrf, follow_redirects=False).status_code == 303
    names = {s.external_id: s.name for s in store.iter_all()}
    assert names == {"R1": "驿站R1", "R2": "-驿站二（民族路）", "R3": "=驿站三"}


def committed_accepted_only(console, csrf, data):
    url = report_url(upload(console, csrf, data))
    answer = post(
        console, f"{url}/commit", csrf, data={"accepted_only": "true"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:1500]
    return url


XSS = "<img src=x onerror=alert(1)>"


def test_sheet_names_and_a_file_name_with_markup_show_as_text(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    book = Workbook()
    first = book.active
    first.title = "<img src=x onerror=1>"
    second = book.create_sheet("<b>渝中二")
    for sheet, code in ((first, "S1"), (second, "S2")):
        sheet.append(HEADER)
        sheet.append(station_row(code))
    out = io.BytesIO()
    book.save(out)
    answer = upload(console, csrf, out.getvalue(), name=f"{XSS}.xlsx")
    assert "<img src=x" not in answer.text and "<b>渝中二" not in answer.text, answer.text[:2000]
    assert "&lt;b&gt;渝中二" in answer.text or "&lt;b&gt;" in answer.text
    url = report_url(upload(console, csrf, csv_bytes([station_row("X1")]), name=f"{XSS}.csv"))
    for page in (console.get(url), console.get("/console/uploads")):
        assert XSS not in page.text and "&lt;img" in page.text
    bad = report_url(
        upload(console, csrf, csv_bytes([station_row("X2", lon="abc")]), name=f'a"b{XSS}.csv')
    )
    disposition = console.get(f"{bad}/rejected.xlsx").headers["content-disposition"]
    assert "<" not in disposition and '"' not in disposition.split(";", 2)[2]


def test_a_phone_excel_stored_as_a_number_is_the_number_as_written(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    rows = [[*station_row("P1"), 13800138000.0], [*station_row("P2", i=1), 13800138001]]
    committed(console, csrf, xlsx_bytes(rows, header=[*HEADER, "联系电话"]), "驿站.xlsx")
    phones = sorted(s.contact_phone for s in store.iter_all())
    assert phones == ["13800138000", "13800138001"], phones


OLE2 = bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504  # what an .xls file starts with


def refusal_text(answer) -> str:
    return re.sub(r"<[^>]+>", " ", answer.text)


def test_files_a_clerk_sends_by_mistake_are_refused_in_chinese_saying_what_to_do(
    console, store, districts
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    header_only = xlsx_bytes([])
    empty = Workbook()
    out = io.BytesIO()
    empty.save(out)
    for data, name in (
        (OLE2, "驿站.xlsx"),
        (OLE2, "驿站.xls"),
        (header_only, "驿站.xlsx"),
        (out.getvalue(), "空表.xlsx"),
        (b"", "驿站.csv"),
        (csv_bytes([]), "驿站.csv"),
    ):
        answer = upload(console, csrf, data, name=name)
        assert answer.status_code in (303, 400, 413, 422), (name, answer.status_code)
        if answer.status_code == 303:
            page = console.get(answer.headers["location"]).text
            assert "没有读到任何驿站行" in page and "改正后重新上传" not in page, name
            continue
        text = refusal_text(answer)
        assert re.search(r"[\u4e00-\u9fff]{4}", text), (name, text[:500])
        assert not re.search(r"[A-Za-z]{3,} [a-z]{3,} [a-z]{3,}", text.split("</header>")[-1]), (
            name,
            text[-1500:],
        )
    assert list(store.iter_all()) == []


def test_commit_from_a_second_tab_after_the_first_says_it_is_done_and_saves_once(
    console, store, districts
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    url = committed(console, csrf, csv_bytes([station_row("T1")]), "驿站.csv")
    again = post(console, f"{url}/commit", csrf, follow_redirects=False)
    assert again.status_code == 409 and "已经提交过" in again.text
    undo = post(console, f"{url}/revert", csrf, follow_redirects=False)
    assert undo.status_code == 303
    twice = post(console, f"{url}/revert", csrf, follow_redirects=False)
    assert twice.status_code == 409 and "已经撤销过" in twice.text
    late = post(console, f"{url}/commit", csrf, follow_redirects=False)
    assert late.status_code == 409 and "已经撤销" in late.text
    assert [s.status.value for s in store.iter_all()] in ([], ["closed"])


def test_a_swapped_or_dms_position_says_what_to_do(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    swapped = station_row("W1")
    swapped[3], swapped[4] = swapped[4], swapped[3]
    dms = station_row("W2", lon="106°34′51″", lat="29°33′15″", i=1)
    url = report_url(upload(console, csrf, csv_bytes([swapped, dms])))
    page = console.get(url).text
    assert "经纬度可能填反了" in page and "请对调两列" in page
    assert "按度分秒读取" in page and "有误的行（1 行）" in page


def test_an_old_xls_renamed_xlsx_says_to_save_it_as_xlsx(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    renamed = refusal_text(upload(console, csrf, OLE2, name="驿站.xlsx"))
    assert "旧版 Excel 文件（.xls" in renamed and "另存为" in renamed
    assert "驿站.xlsx" in renamed and "upload.xlsx" not in renamed  # the clerk's own name
    broken = refusal_text(upload(console, csrf, b"PK\x03\x04 broken", name="坏.xlsx"))
    assert "不是可读取的 Excel 文件" in broken and "zip" not in broken.lower()
    xls = refusal_text(upload(console, csrf, OLE2, name="驿站.xls"))
    assert "另存为" in xls
