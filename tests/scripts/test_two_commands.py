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


def run(
    clone: Path, script: str, *args: str, **env_vars: str
) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "CALLS": str(clone / "calls.log"), **env_vars}
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
    done, calls = run(clone, "test.sh", "-m", "not slow", "-x", YIZHAN_TEST_WORKERS="1")
    assert done.returncode == 0, done.stderr
    assert calls == ["python -m pytest -m not slow -x"]


def test_test_sh_runs_on_the_cores_then_the_timed_tests_alone(clone: Path) -> None:
    done, calls = run(clone, "test.sh", "-m", "not slow", "-x", YIZHAN_TEST_WORKERS="2")
    assert done.returncode == 0, done.stderr
    assert calls == [
        "python -m pytest -n 2 --serial=skip -m not slow -x",
        "python -m pytest --serial=only -m not slow -x",
    ]
    # Never more than 4 workers; -n given by the user: one pass, as given.
    _, calls = run(clone, "test.sh", YIZHAN_TEST_WORKERS="16")
    assert calls[-2].startswith("python -m pytest -n 4 ")
    _, calls = run(clone, "test.sh", "-n", "0", "-q", YIZHAN_TEST_WORKERS="2")
    assert calls[-1] == "python -m pytest -n 0 -q"


def test_test_sh_refuses_a_number_of_workers_that_is_not_one(clone: Path) -> None:
    done, calls = run(clone, "test.sh", YIZHAN_TEST_WORKERS="two")
    assert done.returncode == 2 and calls == []
    assert "YIZHAN_TEST_WORKERS" in done.stderr and "'two'" in done.stderr


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [(0, 5, 0), (5, 0, 0), (5, 5, 5), (1, 0, 1), (0, 1, 1), (2, 1, 2)],
)
def test_test_sh_fails_when_a_pass_fails_not_when_one_has_nothing_to_run(
    clone: Path, first: int, second: int, expected: int
) -> None:
    stub = clone / ".venv" / "bin" / "python"
    stub.write_text(
        STUB
        + f'case "$*" in *--serial=skip*) exit {first} ;; *--serial=only*) exit {second} ;; esac\n'
    )
    done, calls = run(clone, "test.sh", YIZHAN_TEST_WORKERS="2")
    assert len(calls) == 2  # the second pass runs even after the first failed
    assert done.returncode == expected, done.stderr


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
