"""The CSV reader's bound on a file's records: never below the records there are, a CRLF
file's line breaks counted once (a file within the row limit is then read once)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from stations.formats.csvfile import _most_records


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 1 << 20])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_the_bound_is_the_records_whatever_the_line_breaks_and_chunks(
    tmp_path: Path, newline: str, chunk_bytes: int, encoding: str
) -> None:
    text = io.StringIO(newline="")
    w = csv.writer(text, lineterminator=newline)
    w.writerow(["编号", "名称"])
    for i in range(20):
        w.writerow([f"A{i}", f"驿站\u0d0a\u0a0d{i}", "a\r\nb" if i == 3 else ""])
    path = tmp_path / "rows.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    with path.open(encoding=encoding, newline="") as fh:
        records = sum(1 for _ in csv.reader(fh))
    bound = _most_records(path, chunk_bytes=chunk_bytes)
    assert bound >= records
    if encoding != "utf-16":  # every break counted once (one in a cell: the bound is above)
        assert bound == records + 1
    path.write_bytes(text.getvalue().removesuffix(newline).encode(encoding))
    assert _most_records(path, chunk_bytes=chunk_bytes) >= records
    if encoding != "utf-16":
        assert _most_records(path, chunk_bytes=chunk_bytes) == records + 1
