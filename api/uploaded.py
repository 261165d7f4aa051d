"""An uploaded file as a path: the readers (zip checks, openpyxl, the CSV sniffer) open
files by name, and a copy keeps the request's body out of memory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

COPY_CHUNK_BYTES = 1 << 20  # 1 MiB at a time: bounded memory whatever the file's size


@contextmanager
def uploaded_copy(file: UploadFile, name: str, *, prefix: str) -> Iterator[Path]:
    """The uploaded body copied to ``name`` in a temporary directory, removed on exit.

    The body is already within ``max_upload_bytes`` (api/limits.BodySizeLimit refuses a
    longer one with 413 while it streams), so the copy needs no limit of its own.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, COPY_CHUNK_BYTES)
        yield path
