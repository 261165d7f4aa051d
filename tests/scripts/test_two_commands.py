"""The README's two commands (scripts/run.sh, scripts/test.sh) pass their arguments on.

The scripts run for real in a copy of scripts/, against a stub .venv whose python and yizhan
only write down how they were called: no install, no server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone whose .venv is already installed (both stamps newer than pyproject.toml)."""
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'yizhan'\n")
    old = (tmp_path / "pyproject.toml").stat().st_mtime - 60
    os.utime(tmp_path / "pyproject.toml", (old, old))
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "yizhan"):
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(0o755)
    for stamp in (".yizhan-installed-_", ".yizhan-installed-dev_"):
        (tmp_path / ".venv" / stamp).touch()
    return tmp_path


def run(clone: Path, script: str, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "CALLS": str(clone / "calls.log")}
    done = subprocess.run(
        ["bash", str(clone / "scripts" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    log = clone / "calls.log"
    return done, log.read_text().splitlines() if log.exists() else []


def test_run_sh_passes_the_port_to_serve_and_installs_nothing(clone: Path) -> None:
    done, calls = run(clone, "run.sh", "--port", "8150")
    assert done.returncode == 0, done.stderr
    assert calls == ["yizhan demo", "yizhan serve --port 8150"]


def test_run_sh_loads_the_sample_into_the_database_it_serves(clone: Path) -> None:
    done, calls = run(clone, "run.sh", "--database", "sqlite:////tmp/x.sqlite3", "--port", "1")
    assert done.returncode == 0, done.stderr
    assert calls == [
        "yizhan demo --database sqlite:////tmp/x.sqlite3",
        "yizhan serve --database sqlite:////tmp/x.sqlite3 --port 1",
    ]


def test_test_sh_passes_its_arguments_to_pytest(clone: Path) -> None:
    done, calls = run(clone, "test.sh", "-m", "not slow", "-x")
    assert done.returncode == 0, done.stderr
    assert calls == ["python -m pytest -m not slow -x"]


def test_venv_sh_run_directly_installs_the_extras_it_is_given(clone: Path) -> None:
    (clone / ".venv" / ".yizhan-installed-dev_").unlink()
    done, calls = run(clone, "_venv.sh", "dev")
    assert done.returncode == 0, done.stderr
    assert calls[-1].startswith("python -m pip install")
    assert calls[-1].endswith("-e .[dev]")
    assert (clone / ".venv" / ".yizhan-installed-dev_").exists()


def test_run_sh_national_loads_and_serves_the_country_in_its_own_registry(clone: Path) -> None:
    stub = clone / ".venv" / "bin" / "yizhan"
    stub.write_text(STUB.replace("$*", "$* [${YIZHAN_DISTRICTS_SOURCE:-}]"))
    done, calls = run(clone, "run.sh", "--port", "8150", "--national")
    assert done.returncode == 0, done.stderr
    national = "sqlite:///data/yizhan-national.sqlite3"
    assert calls == [
        f"yizhan demo --database {national} --national [china]",
        f"yizhan serve --port 8150 --database {national} [china]",
    ]
    done, calls = run(clone, "run.sh", "--national", "--database", "sqlite:////tmp/n.sqlite3")
    assert calls[-2:] == [
        "yizhan demo --database sqlite:////tmp/n.sqlite3 --national [china]",
        "yizhan serve --database sqlite:////tmp/n.sqlite3 [china]",
    ]
