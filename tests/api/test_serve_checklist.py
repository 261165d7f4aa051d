"""`yizhan serve` with a broken checklist file stops in one line, as with a broken rule."""

from __future__ import annotations

from click.testing import CliRunner

from api.cli import main
from stations.config import get_settings


def test_serve_with_a_broken_checklist_stops_in_one_line(tmp_path, monkeypatch, db_path):
    path = tmp_path / "checklist.toml"
    path.write_text("version = \n", encoding="utf-8")
    monkeypatch.setenv("YIZHAN_CHECKLIST_FILE", str(path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["serve", "--database", f"sqlite:///{db_path}"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert str(path) in result.output
    assert "Traceback" not in result.output
    assert "yizhan serving" not in result.output  # refused before it starts
