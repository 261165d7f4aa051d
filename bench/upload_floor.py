"""The least a dry run of bench/upload.py's file must do, each part alone, against plain
parsing measured in the same run (issue 18: "dry run >= 0.2x plain parsing").

No checks at all: read the rows with our reader, turn them into columns, convert the
positions from GCJ-02, look up their districts, find duplicates within 30 m, strip the text
columns and store the plan as compressed columns. If these alone take more than 5x plain
parsing, no dry run built on them reaches 0.2x, whatever its checks cost.

    cd bench && PYTHONPATH=.. python upload_floor.py --file /work/tmp/up/stations.csv

(the file as bench/upload.py makes it: ``python upload.py --rows 100000 --file ...``).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (this checkout's packages first)
import numpy as np
import orjson
from isal import isal_zlib
from upload import plain_parse

from geodata.crs import to_wgs84
from geodata.districts import chongqing_districts
from geodata.nearest import NearestIndex
from stations.formats.io import read_rows


def cpu(label: str, f: Callable[[], Any], spent: dict[str, float]) -> Any:
    start = time.process_time()
    out = f()
    spent[label] = time.process_time() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path, required=True, help="bench/upload.py's CSV")
    path = parser.parse_args().file
    districts = chongqing_districts()
    districts.lookup(np.array([106.5]), np.array([29.5]))  # its index made before timing
    spent: dict[str, float] = {}

    n = cpu("plain parsing (the reference)", lambda: plain_parse(path), spent)
    reference = spent.pop("plain parsing (the reference)")

    def read() -> list[Any]:
        return [r for chunk in read_rows(path).rows.raw_chunks(1000) for r in chunk]

    rows = cpu("our reader, rows as read", read, spent)
    cols = cpu("rows to columns", lambda: list(zip(*(r.values for r in rows), strict=True)), spent)
    lon, lat = cpu(
        "positions as numbers",
        lambda: (np.array(list(map(float, cols[4]))), np.array(list(map(float, cols[5])))),
        spent,
    )
    x, y = cpu("GCJ-02 to WGS-84", lambda: to_wgs84(lon, lat, crs="gcj02"), spent)
    cpu("district lookup", lambda: districts.lookup(x, y), spent)
    cpu("duplicates within 30 m", lambda: NearestIndex(x, y).count_near(x, y, 30.0, k=2), spent)
    cpu("text columns stripped", lambda: [[c.strip() for c in col] for col in cols], spent)

    def store() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            db = sqlite3.connect(Path(tmp) / "plan.sqlite3", isolation_level=None)
            db.execute("CREATE TABLE plan (chunk INTEGER, data BLOB)")
            db.execute("BEGIN")
            for at in range(0, len(rows), 1000):
                doc = {
                    "columns": [list(c[at : at + 1000]) for c in cols],
                    "lon": x[at : at + 1000].tolist(),
                    "lat": y[at : at + 1000].tolist(),
                }
                db.execute(
                    "INSERT INTO plan VALUES (?, ?)",
                    (at, isal_zlib.compress(orjson.dumps(doc), 1)),
                )
            db.execute("COMMIT")
            db.close()

    cpu("plan stored as compressed columns", store, spent)
    total = sum(spent.values())
    print(f"{n:,} rows; plain parsing {reference:.2f} s CPU")
    for label, s in spent.items():
        print(f"  {label:36} {s:6.3f} s")
    ratio = reference / total
    print(f"  {'all of them, no check yet':36} {total:6.3f} s = {ratio:.3f}x plain parsing")
    print(f"  (0.2x would be {reference / 0.2:.2f} s for the whole dry run)")


if __name__ == "__main__":
    main()
