"""--serial (tests/conftest.py): scripts/test.sh's parallel pass leaves the timed tests out,
its second pass runs only them; together they are the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/api/test_national_figures.py"


def collected(choice: str) -> set[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--serial={choice}",
            MODULE,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 5), done.stdout + done.stderr
    return {line for line in done.stdout.splitlines() if "::" in line}


def test_the_two_passes_split_the_suite_at_the_serial_marker():
    every, skip, only = collected("all"), collected("skip"), collected("only")
    assert only and skip, (skip, only)
    assert skip | only == every and not skip & only
    assert all("at_once" in t or "2848" in t for t in only)  # the three timed ones
    assert len(only) == 3
