"""The yizhan command line, as a clerk or an operator runs it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stations.cli import main
from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI


@pytest.fixture
def run(db_path: Path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--database", f"sqlite:///{db_path}"])

    return invoke


def write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="gbk", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def good_row(ext: str, **kw) -> dict:
    row = {
        "编号": ext,
        "名称": f"驿站{ext}",
        "经度": JIEFANGBEI[0],
        "纬度": JIEFANGBEI[1],
        "开放时间": "8:00—20:00",
        "设施": "热水",
    }
    row.update(kw)
    return row


def test_import_commits_all_rows_and_reports(run, tmp_path, db_path):
    path = write_rows(tmp_path / "s.csv", [good_row("1"), good_row("2")])
    result = run("import", str(path), "--crs", "wgs84", "--union", "district:500103", "--commit")
    assert result.exit_code == 0, result.output
    assert "新增 2" in result.output
    assert "committed upload" in result.output
    with SQLiteStore(db_path) as store:
        assert store.count() == 2
        assert {s.hours for s in store.iter_all()} == {"08:00-20:00"}


def test_import_with_a_bad_row_changes_nothing_and_says_which_row(run, tmp_path, db_path):
    path = write_rows(tmp_path / "s.csv", [good_row("1"), good_row("2", 经度="abc")])
    result = run("import", str(path), "--crs", "wgs84")
    assert result.exit_code == 1
    assert "第 3 行 [invalid_number] 经度: 不是数字：abc" in result.output
    assert "nothing was changed" in result.output
    with SQLiteStore(db_path) as store:
        assert store.count() == 0


def test_dry_run_changes_nothing(run, tmp_path, db_path):
    path = write_rows(tmp_path / "s.csv", [good_row("1")])
    result = run("import", str(path), "--crs", "wgs84")
    assert result.exit_code == 0
    assert "dry run" in result.output
    with SQLiteStore(db_path) as store:
        assert store.count() == 0


def test_export_formats(run, tmp_path):
    run(
        "import",
        str(write_rows(tmp_path / "s.csv", [good_row("1", 名称="=cmd|calc")])),
        "--crs",
        "wgs84",
        "--commit",
    )
    result = run("export", "--out", str(tmp_path / "o.geojson"))
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "o.geojson").read_text(encoding="utf-8"))
    assert doc["features"][0]["geometry"]["coordinates"] == pytest.approx(list(JIEFANGBEI))
    result = run("export")
    assert "'=cmd|calc" in result.output


def test_unknown_crs_is_a_clear_error(run, tmp_path):
    result = run("import", str(write_rows(tmp_path / "s.csv", [good_row("1")])), "--crs", "utm")
    assert result.exit_code == 1 and "wgs84" in result.output


def test_import_without_crs_is_refused_saying_how_to_tell(run, tmp_path, db_path):
    result = run("import", str(write_rows(tmp_path / "s.csv", [good_row("1")])), "--commit")
    assert result.exit_code == 2
    assert "--crs" in result.output
    for hint in ("高德", "gcj02", "百度", "bd09", "天地图", "wgs84"):
        assert hint in result.output
    with SQLiteStore(db_path) as store:
        assert store.count() == 0
        assert store.find_upload("x") is None


def test_geojson_and_files_naming_their_crs_import_without_the_option(run, tmp_path, db_path):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(JIEFANGBEI)},
        "properties": {"编号": "G1", "名称": "驿站", "开放时间": "全天"},
    }
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert run("import", str(path), "--commit").exit_code == 0
    named = write_rows(tmp_path / "s.csv", [good_row("2", 坐标系="wgs84")])
    result = run("import", str(named), "--commit")
    assert result.exit_code == 0, result.output
    with SQLiteStore(db_path) as store:
        assert {s.external_id for s in store.iter_all()} == {"G1", "2"}


def test_a_header_only_full_list_commits_only_with_the_closures_confirmed(run, tmp_path, db_path):
    path = write_rows(tmp_path / "s.csv", [good_row("1"), good_row("2")])
    assert run("import", str(path), "--crs", "wgs84", "--union", "district:500103", "--commit")
    empty = tmp_path / "empty.csv"
    empty.write_text("编号,名称,经度,纬度,开放时间\n", encoding="utf-8")
    args = ("import", str(empty), "--crs", "wgs84", "--union", "district:500103")
    result = run(*args, "--full-list", "--commit")
    assert result.exit_code == 1
    assert "关闭本工会 2 个驿站" in result.output and "--confirm-closures 2" in result.output
    with SQLiteStore(db_path) as store:
        assert all(s.status.value == "active" for s in store.iter_all())
    result = run(*args, "--full-list", "--commit", "--confirm-closures", "2")
    assert result.exit_code == 0, result.output
    with SQLiteStore(db_path) as store:
        assert all(s.status.value == "closed" for s in store.iter_all())


@pytest.mark.parametrize("suffix", ["geojson", "csv", "xlsx"])
def test_export_then_import_commit_changes_nothing(run, db_path, tmp_path, districts, suffix):
    from tests.builders import varied_stations

    with SQLiteStore(db_path) as store:
        for station in varied_stations(districts):
            store.create(station, actor="t")
        before = {s.external_id: s for s in store.iter_all()}
    out = tmp_path / f"x.{suffix}"
    assert run("export", "--out", str(out)).exit_code == 0
    result = run("import", str(out), "--commit")  # the export names its own crs
    assert result.exit_code == 0, result.output
    assert "新增 0，修改 0，关闭 0" in result.output
    with SQLiteStore(db_path) as store:
        after = {s.external_id: s for s in store.iter_all()}
    assert after == before
    assert sum(1 for s in after.values() if s.listings) == 2


def test_demo_loads_a_deterministic_marked_sample(tmp_path):
    runner = CliRunner()
    a, b = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    for p in (a, b):
        result = runner.invoke(main, ["demo", "--total", "300", "--database", f"sqlite:///{p}"])
        assert result.exit_code == 0, result.output
    with SQLiteStore(a) as sa, SQLiteStore(b) as sb:
        one = [(s.external_id, s.lon, s.lat, s.hours) for s in sa.iter_all()]
        two = [(s.external_id, s.lon, s.lat, s.hours) for s in sb.iter_all()]
        assert one == two and len(one) >= 290
        stations = list(sa.iter_all())
    assert all(s.sample and "示例" in s.name for s in stations)
    assert len({s.district_adcode for s in stations}) == 38
    again = runner.invoke(main, ["demo", "--total", "300", "--database", f"sqlite:///{a}"])
    assert "already holds" in again.output


def test_demo_refuses_a_registry_with_real_stations(run, tmp_path):
    run(
        "import", str(write_rows(tmp_path / "s.csv", [good_row("1")])), "--crs", "wgs84", "--commit"
    )
    result = run("demo", "--total", "50")
    assert result.exit_code == 1 and "real stations" in result.output


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("yizhan")
    out = subprocess.run(
        [str(exe), "summary", "--database", f"sqlite:///{tmp_path}/r.sqlite3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "registry: 0 stations" in out.stdout


def test_token_create_prints_once_and_stores_only_a_hash(run, db_path):
    result = run(
        "token", "create", "--role", "district", "--code", "500103", "--name", "渝中区总工会"
    )
    assert result.exit_code == 0, result.output
    text = result.output.splitlines()[0]
    assert text.startswith("yz_")
    secret = text.split("_", 2)[2]
    assert secret not in db_path.read_bytes().decode("latin-1")
    listed = run("token", "list")
    assert "渝中区总工会" in listed.output and secret not in listed.output
    token_id = text.split("_")[1]
    assert run("token", "revoke", token_id).exit_code == 0
    assert "revoked" in run("token", "list").output
    bad = run("token", "create", "--role", "district", "--code", "999999", "--name", "x")
    assert bad.exit_code == 1 and "unknown district" in bad.output


def test_import_as_a_union_then_revert(run, tmp_path, db_path):
    path = write_rows(tmp_path / "s.csv", [good_row("1"), good_row("2")])
    result = run("import", str(path), "--crs", "wgs84", "--union", "district:500103", "--commit")
    upload_id = result.output.split("upload ")[1].split(":")[0]
    shown = run("upload", "show", upload_id)
    assert "committed" in shown.output
    other = run("upload", "revert", upload_id, "--union", "district:500105")
    assert other.exit_code == 1 and "another union" in other.output
    assert run("upload", "revert", upload_id).exit_code == 0
    with SQLiteStore(db_path) as store:
        assert store.count() == 0


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://yizhan:S3cret@db.example:5432/yizhan",
        "postgres://yizhan:S3cret@10.0.0.5/yizhan?sslmode=require",
        "mysql://root:S3cret@localhost/db",
        "postgresql://yizhan@db.example/yizhan?password=S3cret&sslmode=require",
        "host=db.example user=yizhan password=S3cret dbname=yizhan",
        "host=db.example password='S3 cret' dbname=yizhan",
        "connection failed: 'postgresql://yizhan:S3cret@db.example/yizhan' refused",
    ],
)
def test_database_passwords_are_hidden_wherever_a_url_is_shown(text):
    from stations.storage.open import redact

    shown = redact(text)
    assert "S3cret" not in shown and "S3 cret" not in shown
    assert "***" in shown
    assert "db.example" in shown or "localhost" in shown or "10.0.0.5" in shown


def test_a_bad_database_setting_is_reported_without_its_password(monkeypatch, tmp_path):
    from stations.config import get_settings

    monkeypatch.setenv("YIZHAN_DATABASE_URL", "mysql://root:S3cret@localhost/db")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["summary"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "YIZHAN_DATABASE_URL" in result.output and "mysql://root:***@localhost" in result.output
    assert "S3cret" not in result.output


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00+14:00", "9999-12-31T23:59-12:00", "1900-01-01T12:00", "tomorrow"]
)
def test_map_at_a_time_outside_the_calendar_is_a_clear_error(run, tmp_path, at):
    out = tmp_path / "map.html"
    result = run("map", "--out", str(out), "--at", at)
    assert result.exit_code == 2, result.output
    assert "--at" in result.output and at in result.output
    assert not isinstance(result.exception, OverflowError)
    assert not out.exists()


def test_an_unreachable_database_is_one_line_with_its_cause_and_no_password(tmp_path):
    from tests.live import free_port

    url = f"postgresql://yizhan:s3cret-Pa55@127.0.0.1:{free_port()}/yizhan"  # nothing listens
    result = CliRunner().invoke(
        main, ["export", "--out", str(tmp_path / "x.csv"), "--database", url]
    )
    assert result.exit_code == 1
    said = result.output.strip().splitlines()
    assert said[-1].startswith("Error: cannot reach the database: ")
    assert "Connection refused" in said[-1]
    assert "Traceback" not in result.output and "s3cret" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    "password",
    ["Pa%zz55word", "Pa%5word%"],  # a raw '%' not followed by two hex digits
    ids=["percent-zz", "percent-end"],
)
def test_a_password_libpq_cannot_parse_is_not_quoted_in_the_error(tmp_path, password):
    # libpq quotes the bad token alone ('invalid percent-encoded token: "Pa%zz55word"'),
    # with no URL around it for the URL pattern to find.
    from tests.live import free_port

    url = f"postgresql://yizhan:{password}@127.0.0.1:{free_port()}/yizhan"
    result = CliRunner().invoke(
        main, ["export", "--out", str(tmp_path / "x.csv"), "--database", url]
    )
    assert result.exit_code == 1
    said = result.output.strip().splitlines()
    assert said[-1].startswith("Error: cannot reach the database: "), result.output
    assert "percent-encoded" in said[-1]  # the cause is still said
    assert password not in result.output and "55word" not in result.output


def test_demand_import_names_its_coordinate_system_unless_geojson(run, tmp_path, db_path):
    from geodata.crs import from_wgs84

    glon, glat = from_wgs84(*JIEFANGBEI, crs="gcj02")
    (tmp_path / "d.csv").write_text(f"经度,纬度,权重\n{glon},{glat},2\n", encoding="utf-8")
    result = run("demand", "import", str(tmp_path / "d.csv"), "--name", "骑手")
    assert result.exit_code == 2, result.output
    assert "gcj02" in result.output and "--crs" in result.output  # says how to tell
    result = run("demand", "import", str(tmp_path / "d.csv"), "--name", "骑手", "--crs", "gcj02")
    assert result.exit_code == 0, result.output
    with SQLiteStore(db_path) as store:
        layer = store.find_demand("骑手")
        assert layer is not None
        assert (float(layer.lon[0]), float(layer.lat[0])) == pytest.approx(JIEFANGBEI, abs=1e-7)
    point = {"type": "Point", "coordinates": list(JIEFANGBEI)}
    feature = {"type": "Feature", "properties": {"weight": 1}, "geometry": point}
    (tmp_path / "d.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8"
    )
    result = run("demand", "import", str(tmp_path / "d.geojson"), "--name", "g")  # RFC 7946
    assert result.exit_code == 0, result.output


def test_a_union_sheet_commits_its_accepted_rows_and_writes_the_rejected_ones(
    run, tmp_path, db_path
):
    from openpyxl import Workbook, load_workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["渝中区工会驿站点位信息统计表"])
    sheet.append(["填报单位：渝中区总工会"])
    sheet.append(["序号", "驿站名称", "经纬度（高德）", "开放时间"])
    sheet.append([1, "甲驿站", f"{JIEFANGBEI[0]},{JIEFANGBEI[1]}", "每天 8:00-20:00"])
    sheet.append([2, "乙驿站", f"{JIEFANGBEI[0] + 0.002},{JIEFANGBEI[1]}", "看情况"])
    sheet.append(["合计", "2 个"])
    book.create_sheet("第二批").append(["驿站名称", "经纬度", "开放时间"])
    path = tmp_path / "union.xlsx"
    book.save(path)
    result = run("import", str(path), "--union", "district:500103")
    assert result.exit_code != 0
    assert "choose_sheet" in result.output or "请选择" in result.output
    result = run("import", str(path), "--union", "district:500103", "--sheet", "Sheet")
    assert result.exit_code != 0  # a rejected row: not committed, and says what to do
    assert "第 1–2 行是标题和填报说明，第 3 行是表头" in result.output
    assert "第 6 行是合计行，已忽略" in result.output
    assert "--accepted-only" in result.output
    upload_id = result.output.split("upload ")[1].split(":")[0]
    result = run("upload", "commit", upload_id, "--union", "district:500103")
    assert result.exit_code != 0
    result = run("upload", "commit", upload_id, "--union", "district:500103", "--accepted-only")
    assert result.exit_code == 0, result.output
    with SQLiteStore(db_path) as store:
        assert [s.name for s in store.iter_all()] == ["甲驿站"]
    out = tmp_path / "rejected.xlsx"
    result = run("upload", "rejected", upload_id, "--union", "district:500103", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out).worksheets[0].values)
    assert rows[0] == ("序号", "驿站名称", "经纬度（高德）", "开放时间", "问题")
    assert rows[1][:4] == (2, "乙驿站", f"{JIEFANGBEI[0] + 0.002},{JIEFANGBEI[1]}", "看情况")
