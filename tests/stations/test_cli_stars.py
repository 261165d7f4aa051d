"""yizhan stars compute: every station rated and saved; a broken rule file refused."""

from __future__ import annotations

from click.testing import CliRunner

from stations.cli import main
from stations.config import get_settings
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station
from tests.stations import ops_rows


def test_stars_compute_rates_every_station(db_path, districts, monkeypatch, tmp_path):
    with SQLiteStore(db_path) as store:
        for external_id in ("A", "B"):
            made = store.create(make_station(districts, external_id=external_id), actor="t")
            ops_rows.inspection(store, made.id, {"hygiene": True})
    url = f"sqlite:///{db_path}"
    result = CliRunner().invoke(main, ["stars", "compute", "--database", url])
    assert result.exit_code == 0, result.output
    assert "rated 2 stations (rule 2026-1)" in result.output
    with SQLiteStore(db_path) as store:
        assert len(store.latest_star_ratings()) == 2
    broken = tmp_path / "stars.toml"
    broken.write_text("version = '1'\n", encoding="utf-8")
    monkeypatch.setenv("YIZHAN_STARS_FILE", str(broken))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["stars", "compute", "--database", url])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "missing key facilities.expected" in result.output
