"""A clerk's uploads in the console (TestClient): upload and check, the row-by-row report,
commit the accepted rows, undo; another union's uploads out of reach; CSRF refused."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from openpyxl import Workbook, load_workbook

from geodata.crs import from_wgs84
from stations.domain.model import Owner
from tests.api.console.helpers import login, make_account, post
from tests.api.test_upload_sheets import sheet_rows, union_xlsx
from tests.builders import JIEFANGBEI, point_beyond_border

HEADER = ["编号", "名称", "地址", "经度", "纬度", "开放时间", "设施", "24小时"]
YUZHONG = Owner.parse("district:500103")


def station_row(code, name=None, *, lon=None, lat=None, i=0):
    glon, glat = from_wgs84(JIEFANGBEI[0] + i * 0.0008, JIEFANGBEI[1], crs="gcj02")
    return [
        code,
        name or f"驿站{code}",
        "民族路",
        glon if lon is None else lon,
        glat if lat is None else lat,
        "周一至周五 9:00-18:00",
        "热水",
        "否",
    ]


def csv_bytes(rows, header=HEADER, encoding="gbk") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode(encoding)


def bad_sheet() -> bytes:
    """Three good rows and two bad ones (rows 3 and 5 of the file)."""
    return csv_bytes(
        [
            station_row("K1", i=0),
            station_row("K2", lon="abc", i=1),  # row 3: the longitude is no number
            station_row("K3", i=2),
            station_row("K4", lon=2.35, lat=48.85),  # row 5: Paris
            station_row("K5", i=4),
        ]
    )


def upload(client, csrf, data: bytes, name="驿站.csv", **form):
    fields = {"crs": "gcj02", "csrf": csrf, **{k: str(v) for k, v in form.items()}}
    return client.post(
        "/console/uploads", files={"file": (name, data)}, data=fields, follow_redirects=False
    )


def report_url(answer) -> str:
    assert answer.status_code == 303, answer.text[:800]
    url = answer.headers["location"]
    assert re.fullmatch(r"/console/uploads/[0-9a-f]+", url)
    return url


def test_the_upload_page_has_the_form_a_clerk_needs(console, store, districts):
    make_account(store, districts)
    login(console, "yz500103")
    page = console.get("/console/uploads")
    assert page.status_code == 200
    text = page.text
    assert 'accept=".xlsx,.csv,.geojson,.json"' in text
    assert "坐标系" in text and "上传并检查" in text and "完整名单" in text
    for value, label in [
        ("file", "按表格注明（表头或坐标系列）"),
        ("gcj02", "高德地图 / 腾讯地图（GCJ-02）"),
        ("bd09", "百度地图（BD-09）"),
        ("wgs84", "GPS / 天地图 / 北斗（WGS-84）"),
    ]:
        assert f'<option value="{value}"' in text and label in text
    assert "将被<b>关闭</b>" in text  # the full-list warning
    assert 'enctype="multipart/form-data"' in text and 'name="csrf"' in text


def test_signed_out_the_upload_pages_go_to_the_sign_in_form(console):
    answer = console.get("/console/uploads", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console?next=%2Fconsole%2Fuploads"


def test_the_report_shows_each_bad_row_with_its_header_value_and_problem(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, bad_sheet()))
    page = console.get(url)
    assert page.status_code == 200
    html = page.text
    rejected = html.split('id="rejected"')[1].split('id="warnings"')[0]
    rows = re.findall(r'<tr class="rejected">(.*?)</tr>', rejected, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]
    by_row = {c[0].strip(): c[1:] for c in cells if len(c) == 4}
    assert set(by_row) == {"3", "5"}, cells
    header, value, problem = by_row["3"]
    assert header == "经度" and value == "abc" and re.search(r"[\u4e00-\u9fff]", problem)
    assert by_row["5"][0] in ("经度", "纬度") and "中国" in html.split('id="rejected"')[1]
    # Counts and the commit control for the accepted rows only.
    assert "新增" in html and "有误" in html
    assert "提交无误的 3 行" in html
    assert "已检查，待提交" in html


def test_commit_of_an_upload_with_bad_rows_needs_accepted_only(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, bad_sheet()))
    refused = post(console, f"{url}/commit", csrf)
    assert refused.status_code == 409
    assert "2 行有误" in refused.text
    assert store.find_by_external_id(YUZHONG, "K1") is None
    answer = post(console, f"{url}/commit", csrf, data={"accepted_only": "true"})
    assert answer.status_code == 200  # followed to the report
    assert "已提交：新增 3 个" in answer.text and "有误的 2 行未提交" in answer.text
    assert "已提交" in answer.text and "撤销本次上传" in answer.text
    found = {c for c in ("K1", "K2", "K3", "K4", "K5") if store.find_by_external_id(YUZHONG, c)}
    assert found == {"K1", "K3", "K5"}
    again = post(console, f"{url}/commit", csrf, data={"accepted_only": "true"})
    assert again.status_code == 409 and "这次上传已经提交过，不能再次提交" in again.text
    # The list says who uploaded what, and what it changed.
    listing = console.get("/console/uploads").text
    assert "驿站.csv" in listing and "已提交" in listing and "yz500103" in listing


def test_revert_puts_the_stations_away_and_is_refused_when_changed_since(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, csv_bytes([station_row("R1"), station_row("R2", i=1)])))
    page = console.get(url).text
    assert "提交（新增 2、更新 0、关闭 0）" in page
    post(console, f"{url}/commit", csrf)
    assert store.find_by_external_id(YUZHONG, "R1") is not None
    reverted = post(console, f"{url}/revert", csrf)
    assert reverted.status_code == 200 and "已撤销本次上传" in reverted.text
    assert store.find_by_external_id(YUZHONG, "R1") is None
    assert "已撤销" in reverted.text and "撤销本次上传</button>" not in reverted.text
    # Again: an upload changed by someone after it was committed cannot be reverted.
    second = report_url(upload(console, csrf, csv_bytes([station_row("R3")])))
    post(console, f"{second}/commit", csrf)
    later = report_url(upload(console, csrf, csv_bytes([station_row("R3", name="改过的名字")])))
    post(console, f"{later}/commit", csrf)
    refused = post(console, f"{second}/revert", csrf)
    assert refused.status_code == 409
    assert "在上传后又被修改过，不能撤销" in refused.text
    assert "驿站“改过的名字”（编号 R3）" in refused.text  # as the clerk knows it, not by id
    assert store.find_by_external_id(YUZHONG, "R3").name == "改过的名字"


def test_a_report_gone_stale_says_so_when_committed(console, store, districts):
    """The same sheet checked twice, one check committed: the other's creates now meet
    codes that are taken; its commit says the report is out of date, not to use an id."""
    make_account(store, districts)
    csrf = login(console, "yz500103")
    sheet = csv_bytes([station_row("S1"), station_row("S2", i=1)])
    first = report_url(upload(console, csrf, sheet))
    second = report_url(upload(console, csrf, sheet))
    assert post(console, f"{first}/commit", csrf).status_code == 200
    refused = post(console, f"{second}/commit", csrf)
    assert refused.status_code == 409
    assert "这份检查报告已过期" in refused.text and "编号 S1" in refused.text
    assert "请重新上传表格再检查一次" in refused.text and "它的 id" not in refused.text
    assert store.find_by_external_id(YUZHONG, "S2").version == 1  # nothing of it landed


def test_another_unions_upload_is_out_of_sight_and_reach(console, store, districts):
    make_account(store, districts, code="500103")
    make_account(store, districts, code="500105")
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, csv_bytes([station_row("Y1")]), name="渝中.csv"))
    console.cookies.clear()
    other = login(console, "yz500105")
    assert console.get(url).status_code == 403
    assert "渝中.csv" not in console.get("/console/uploads").text
    assert post(console, f"{url}/commit", other).status_code == 403
    assert post(console, f"{url}/revert", other).status_code == 403
    assert console.get(f"{url}/rejected.xlsx").status_code == 403
    assert store.find_by_external_id(YUZHONG, "Y1") is None


def test_a_post_without_the_csrf_token_is_refused(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, csv_bytes([station_row("C1")])))
    answer = console.post(f"{url}/commit", data={}, follow_redirects=False)
    assert answer.status_code == 403
    answer = console.post(
        "/console/uploads",
        files={"file": ("a.csv", csv_bytes([station_row("C2")]))},
        data={"crs": "gcj02", "csrf": "forged"},
    )
    assert answer.status_code == 403
    assert store.find_by_external_id(YUZHONG, "C1") is None


def test_a_file_without_a_coordinate_system_asks_for_one(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    answer = upload(console, csrf, csv_bytes([station_row("N1")]), crs="file")
    assert answer.status_code == 422
    assert "请在“坐标系”中选择" in answer.text and "上传并检查" in answer.text
    refused = upload(console, csrf, b"not a sheet", name="a.pdf")
    assert refused.status_code == 422 and "不支持这种文件类型" in refused.text


def test_the_report_pages_its_sections(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    rows = [station_row(f"P{i:03d}", lon="x", i=i) for i in range(60)]
    url = report_url(upload(console, csrf, csv_bytes(rows)))
    first = console.get(url).text
    assert "第 1 / 2 页" in first and first.count('<tr class="rejected">') == 50
    second = console.get(f"{url}?rejected_page=2").text
    assert "第 2 / 2 页" in second and second.count('<tr class="rejected">') == 10


def test_a_station_name_and_a_header_with_markup_show_as_text(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    evil = "<img src=x onerror=alert(1)>"
    data = csv_bytes(
        [[*station_row("X1", name=evil), "y"], [*station_row("X2", lon=evil, i=1), "z"]],
        header=[*HEADER, evil],
    )
    url = report_url(upload(console, csrf, data, name=f"{evil}.csv"))
    html = console.get(url).text
    assert evil not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html


def test_a_border_or_duplicate_warning_is_apart_from_rejections(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    out = point_beyond_border(districts, "500103", "500105", 150)  # in 江北, 150 m out
    blon, blat = from_wgs84(*out, crs="gcj02")
    data = csv_bytes(
        [
            station_row("W1"),
            station_row("W2", lon=glon + 0.0001, lat=glat),
            station_row("W3", lon=blon, lat=blat),
        ]
    )
    html = console.get(report_url(upload(console, csrf, data))).text
    warnings = html.split('id="warnings"')[1].split('id="changes"')[0]
    assert '<tr class="warned">' in warnings and "重复登记" in warnings
    assert '<td class="nowrap">可能重复</td>' in warnings
    assert '<td class="nowrap">靠近区界</td>' in warnings and "位置靠近区界" in warnings
    assert '<tr class="rejected">' not in html


def test_the_rejected_rows_download_as_excel_with_a_problem_column(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, bad_sheet(), name="渝中区驿站.csv"))
    assert f'href="{url}/rejected.xlsx">下载有误的行（Excel）' in console.get(url).text
    answer = console.get(f"{url}/rejected.xlsx")
    assert answer.status_code == 200
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('渝中区驿站-有误的行.xlsx')}" in disposition
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0][: len(HEADER)]) == HEADER and "问题" in rows[0]
    assert [r[0] for r in rows[1:]] == ["K2", "K4"]
    problems = [r[list(rows[0]).index("问题")] for r in rows[1:]]
    assert all(re.search(r"[\u4e00-\u9fff]", p) for p in problems)


def two_sheet_workbook(first_name: str = "渝中一") -> bytes:
    book = Workbook()
    first = book.active
    first.title = first_name
    second = book.create_sheet("渝中二")
    for sheet, code in ((first, "S1"), (second, "S2")):
        sheet.append(HEADER)
        sheet.append(station_row(code))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_workbook_with_two_station_sheets_asks_which_one(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    answer = upload(console, csrf, two_sheet_workbook(), name="两张表.xlsx")
    assert answer.status_code == 422
    html = answer.text
    assert "请在下面选择要上传的工作表" in html and "重新选择文件" in html
    assert '<select id="upload-sheet" name="sheet"' in html
    assert '<option value="渝中一"' in html and '<option value="渝中二"' in html
    chosen = upload(console, csrf, two_sheet_workbook(), name="两张表.xlsx", sheet="渝中二")
    report = console.get(report_url(chosen)).text
    assert "S2" in report and "S1" not in report.split('id="changes"')[1]
    evil = upload(console, csrf, two_sheet_workbook("<b>x<b>"), name="a.xlsx").text
    assert "<b>x<b>" not in evil and '<option value="&lt;b&gt;x&lt;b&gt;"' in evil


def test_a_full_list_closing_many_stations_needs_the_number_confirmed(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    first = report_url(
        upload(console, csrf, csv_bytes([station_row(f"F{i}", i=i) for i in range(4)]))
    )
    post(console, f"{first}/commit", csrf)
    url = report_url(upload(console, csrf, csv_bytes([station_row("F0")]), full_list="true"))
    html = console.get(url).text
    assert "将关闭本工会 <b>3</b> 个驿站" in html and 'name="confirm_closures"' in html
    assert "提交（新增 0、更新 0、关闭 3）" in html
    wrong = post(console, f"{url}/commit", csrf, data={"confirm_closures": "2"})
    assert wrong.status_code == 409 and "请在“确认关闭的数量”中填写 3" in wrong.text
    assert store.find_by_external_id(YUZHONG, "F1").status.value != "closed"
    done = post(console, f"{url}/commit", csrf, data={"confirm_closures": "3"})
    assert "已提交：新增 0 个、更新 0 个、关闭 3 个驿站" in done.text
    assert store.find_by_external_id(YUZHONG, "F1").status.value == "closed"


def test_a_sheet_as_union_offices_keep_it_reports_how_it_was_read(
    console, store, districts, tmp_path
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    data = union_xlsx(tmp_path / "点位.xlsx", sheet_rows())
    url = report_url(upload(console, csrf, data, name="渝中区点位.xlsx", crs="file"))
    html = console.get(url).text
    # The system the header names is the one used, and said.
    assert "GCJ-02（高德 / 腾讯）" in html and "与表头注明的一致" in html
    notes = html.split('class="notes"')[1].split("</ul>")[0]
    assert "第 3 行是表头" in notes and "合计" in notes
    mapping = html.split('class="mapping"')[1].split("</details>")[0]
    assert "<td>经纬度（高德）</td><td>经纬度</td>" in mapping
    assert "<td>驿站名称</td><td>名称</td>" in mapping
    assert "提交无误的 40 行" in html and html.count('<tr class="rejected">') >= 3


def test_the_same_warning_for_many_rows_is_one_line(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    data = csv_bytes([station_row(f"H{i}", i=i) for i in range(5)])  # rows 2-6, same hours
    html = console.get(report_url(upload(console, csrf, data))).text
    warnings = html.split('id="warnings"')[1].split('id="changes"')[0]
    hours = [
        r for r in re.findall(r'<tr class="warned">(.*?)</tr>', warnings, re.S) if "节假日" in r
    ]
    assert len(hours) == 1 and ">2–6<" in hours[0] and "共 5 行" in hours[0]


def test_no_such_upload_is_a_chinese_404_page(console, store, districts):
    make_account(store, districts)
    login(console, "yz500103")
    answer = console.get("/console/uploads/0123456789abcdef")
    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]
    assert re.search(r"[\u4e00-\u9fff]", answer.text) and "Traceback" not in answer.text


def test_the_list_of_uploads_pages(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    for i in range(21):
        report_url(upload(console, csrf, csv_bytes([station_row(f"L{i}")]), name=f"第{i}批.csv"))
    first = console.get("/console/uploads").text
    assert "第 1 / 2 页" in first and "第20批.csv" in first and "第0批.csv" not in first
    second = console.get("/console/uploads?page=2").text
    assert "第 2 / 2 页" in second and "第0批.csv" in second


def test_the_clerks_choice_of_system_is_final_and_the_header_s_is_shown(
    console, store, districts, tmp_path
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    data = union_xlsx(tmp_path / "点位.xlsx", sheet_rows())
    html = console.get(report_url(upload(console, csrf, data, name="点位.xlsx", crs="wgs84"))).text
    assert "WGS-84（GPS / 天地图 / 北斗）" in html
    assert "（表头注明 GCJ-02（高德 / 腾讯））" in html
    assert "但上传时选择的是 WGS-84" in html.split('class="notes"')[1]


def test_the_city_union_sees_every_unions_uploads_with_the_union(console, store, districts):
    make_account(store, districts, code="500103")
    make_account(store, districts, role="admin", code=None)
    csrf = login(console, "yz500103")
    url = report_url(upload(console, csrf, csv_bytes([station_row("Z1")]), name="渝中.csv"))
    console.cookies.clear()
    login(console, "city")
    listing = console.get("/console/uploads").text
    assert "各工会的上传" in listing and "<th>工会</th>" in listing
    assert "渝中.csv" in listing and "district:500103" in listing
    assert console.get(url).status_code == 200
