"""``yizhan network import|list|remove`` with click's CliRunner on the river city."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from stations.cli import main
from stations.config import get_settings
from stations.domain.errors import DatabaseTimeoutError
from stations.storage.open import open_store
from stations.storage.sqlite import SQLiteStore
from tests import osm_city
from tests.builders import make_station
from tests.osm_city import write_city


@pytest.fixture
def run(db_path: Path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--database", f"sqlite:///{db_path}"])

    return invoke


def test_import_list_remove(run, tmp_path: Path) -> None:
    city = write_city(tmp_path / "river_city.osm")
    result = run("network", "import", str(city), "--profile", "walk")
    assert result.exit_code == 0, result.output
    assert "已导入步行路网 river_city.osm" in result.stdout
    assert "110 个节点，378 条有向边，34 条道路" in result.stdout
    assert "范围 东经 106.550–106.561，北纬 29.555–29.564" in result.stdout
    assert "100%  完成" in result.stderr  # progress on stderr, not in the output
    assert run("network", "import", str(city), "--profile", "ebike").exit_code == 0

    listed = run("network", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0] == "profile\tfile\timported\tnodes\tedges\tversion"
    assert re.fullmatch(r"ebike（电动车）\triver_city.osm\t\S+ \S+\t110\t358\t\d+", lines[1])
    assert re.fullmatch(r"walk（步行）\triver_city.osm\t\S+ \S+\t110\t378\t\d+", lines[2])

    removed = run("network", "remove", "--profile", "walk")
    assert removed.exit_code == 0 and "已删除步行路网 river_city.osm" in removed.stdout
    again = run("network", "remove", "--profile", "walk")
    assert again.exit_code == 1 and "没有步行路网可删除" in again.output
    assert [line.split("\t")[0] for line in run("network", "list").stdout.splitlines()] == [
        "profile",
        "ebike（电动车）",
    ]


def test_list_when_empty_says_how_to_import(run) -> None:
    result = run("network", "list")
    assert result.exit_code == 0
    assert "yizhan network import FILE --profile walk" in result.stdout


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.osm.pbf", "找不到文件 missing.osm.pbf"),
        (b"", "empty.osm", "文件 empty.osm 是空的"),
        (
            b"\x00\x00\x00\x0dgarbage" * 10,
            "bad.osm.pbf",
            "bad.osm.pbf 不是可读的 OpenStreetMap 文件",
        ),
        (b"id,name\n", "stations.csv", "只能导入 .osm.pbf"),
    ],
)
def test_bad_files_are_one_line_errors(
    run, tmp_path: Path, content: bytes | None, name: str, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = run("network", "import", str(path), "--profile", "walk")
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.count("\n") <= 2  # "Error: ..." on one line (after any progress)
    assert "还没有导入路网" in run("network", "list").stdout


def test_too_large_for_the_setting_before_reading(run, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("YIZHAN_NETWORK_MAX_MB", "1")
    get_settings.cache_clear()
    try:
        big = tmp_path / "big.osm.pbf"
        big.write_bytes(b"\xff" * (3 * 2**19))  # not even OSM: the size is checked first
        result = run("network", "import", str(big), "--profile", "walk")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "文件 big.osm.pbf 有 1.5 MB，超过上限 1 MB（设置 network_max_mb）" in result.output


def test_profile_is_required_and_checked(run, tmp_path: Path) -> None:
    city = write_city(tmp_path / "river_city.osm")
    assert run("network", "import", str(city)).exit_code == 2
    assert run("network", "import", str(city), "--profile", "car").exit_code == 2


def test_import_counts_registry_stations_off_the_network(run, tmp_path: Path, db_path, districts):
    store = open_store(f"sqlite:///{db_path}")
    try:
        for i, (lon, lat) in enumerate([osm_city.A, osm_city.B, osm_city.C]):
            store.create(make_station(districts, external_id=f"S{i}", lon=lon, lat=lat), actor="t")
    finally:
        store.close()
    city = write_city(tmp_path / "river_city.osm")
    result = run("network", "import", str(city), "--profile", "walk")
    assert result.exit_code == 0, result.output
    assert "在用驿站 3 个，其中 1 个离步行可走的道路超过 200 米" in result.stdout


def test_import_warns_when_the_extent_is_too_large_for_coverage(run, tmp_path: Path) -> None:
    """The river city plus one street in Wanzhou, 230 km away: nearest by route works, but
    the coverage grid over that extent (50 m cells) is far over its limit, so the import
    says so now rather than every coverage request failing later."""
    city = write_city(tmp_path / "river_city.osm").read_text(encoding="utf-8")
    far = (
        '<node id="900001" lat="30.800" lon="108.380"/><node id="900002" lat="30.801" '
        'lon="108.380"/><way id="900001"><nd ref="900001"/><nd ref="900002"/>'
        '<tag k="highway" v="residential"/></way></osm>'
    )
    wide = tmp_path / "wide.osm"
    wide.write_text(city.replace("</osm>", far), encoding="utf-8")
    result = run("network", "import", str(wide), "--profile", "walk")
    assert result.exit_code == 0, result.output
    assert "已导入步行路网 wide.osm" in result.stdout
    assert "超过上限 4,000,000：按路网的覆盖率、缺口和覆盖地图将无法计算" in result.stderr
    plain = run("network", "import", str(tmp_path / "river_city.osm"), "--profile", "walk")
    assert plain.exit_code == 0 and "超过上限" not in plain.stderr


@pytest.mark.parametrize("command", ["import", "remove"])
def test_a_store_refusing_the_write_is_a_one_line_error(
    run, tmp_path: Path, monkeypatch, command: str
) -> None:
    """A lock timeout while the 50 MB blob is written (another import holds the registry),
    or a read replica: a one-line error, not a traceback."""
    city = write_city(tmp_path / "river_city.osm")
    assert run("network", "import", str(city), "--profile", "walk").exit_code == 0

    def refuse(self, *args, **kwargs):
        raise DatabaseTimeoutError("数据库锁等待超时：请稍后重试", lock=True)

    monkeypatch.setattr(SQLiteStore, "put_network", refuse)
    monkeypatch.setattr(SQLiteStore, "remove_network", refuse)
    args = [str(city)] if command == "import" else []
    result = run("network", command, *args, "--profile", "walk")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Error: 数据库锁等待超时：请稍后重试" in result.output
