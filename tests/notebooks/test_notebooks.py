"""The planners' notebooks run top to bottom on a sample registry, and are kept without outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("nb") / "sample.sqlite3"
    url = f"sqlite:///{db}"
    exe = Path(sys.executable).with_name("yizhan")
    subprocess.run(
        [str(exe), "demo", "--database", url, "--total", "600"], check=True, capture_output=True
    )
    return url


def test_there_is_a_coverage_notebook():
    assert any(p.name == "coverage.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, sample_db: str, monkeypatch):
    monkeypatch.setenv("YIZHAN_DATABASE_URL", sample_db)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=dict(os.environ))
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "stations in 38 districts" in text
    assert "of the city within 1 km" in text
