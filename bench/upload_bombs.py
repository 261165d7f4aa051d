"""Benchmark spreadsheet bombs sent to POST /v1/uploads, against a real 1,000-row upload.

The two files of issue 12 (each under 1 MB on disk): one 800 MB cell, and 2,000 rows of
16,384 columns. Unguarded, they took 4–7 GB and 45 s, and a worker for 88 s. Each upload
runs in its own process (the app on a fresh SQLite registry), so its peak memory (max RSS)
is its own; the reference is the same process uploading a real 1,000-row XLSX. Last, the
guard's own cost on a large real file: the streamed check against openpyxl reading it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))


def real_xlsx(path: Path, rows: int, seed: int) -> Path:
    """An export of ``rows`` sample stations (44 columns), as a union would re-upload it."""
    from geodata.districts import chongqing_districts
    from stations.domain.validation import ValidationError, build_station
    from stations.formats.io import export_stations
    from stations.services.demo import sample_rows

    districts = chongqing_districts()

    def stations():
        for r in sample_rows(districts, total=rows, seed=seed):
            try:
                yield build_station(r, districts=districts)
            except ValidationError:
                continue

    export_stations(stations(), path)
    return path


def make_files(tmp: Path, *, reference_rows: int, large_rows: int) -> dict[str, Path]:
    from tests.builders import xlsx_one_huge_cell, xlsx_wide

    return {
        "reference": real_xlsx(tmp / "reference.xlsx", reference_rows, 1),
        "one_800MB_cell": xlsx_one_huge_cell(tmp / "cell.xlsx", cell_bytes=800 * 10**6),
        "2000x16384": xlsx_wide(tmp / "wide.xlsx", rows=2000, columns=16_384),
        "large": real_xlsx(tmp / "large.xlsx", large_rows, 2),
    }


def upload_phase(path: Path, db: Path) -> dict[str, object]:
    """Start the app on a new registry, upload ``path`` as the city union, time the POST."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geodata.hours import TZ
    from stations.config import Settings
    from stations.domain.auth import new_token
    from stations.storage.sqlite import SQLiteStore

    store = SQLiteStore(db)
    text, record = new_token("admin", name="bench", code=None, now=datetime.now(TZ))
    store.save_token(record)
    app = create_app(Settings(database_url=f"sqlite:///{db}"), store=store)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        r = client.post(
            "/v1/uploads",
            headers={"Authorization": f"Bearer {text}"},
            files={"file": (path.name, path.read_bytes())},
            data={"crs": "wgs84"},
        )
        seconds = time.perf_counter() - start
        body = r.json()
        uploads = store._conn().execute("SELECT count(*) AS n FROM uploads").fetchone()["n"]
    return {
        "status": r.status_code,
        "code": body.get("code") or body.get("status"),
        "s": seconds,
        "rss_before_mb": rss_before,
        "uploads_left": uploads,
    }


def guard_phase(path: Path) -> dict[str, object]:
    """The streamed check alone, then openpyxl reading every row, on a large real file."""
    import zipfile

    from stations.formats.io import check_xlsx, read_rows

    with zipfile.ZipFile(path) as z:
        unpacked = sum(m.file_size for m in z.infolist())
    start = time.perf_counter()
    check_xlsx(path)
    check_s = time.perf_counter() - start
    start = time.perf_counter()
    n = sum(1 for _ in read_rows(path).rows)
    read_s = time.perf_counter() - start
    return {"rows": n, "unpacked_mb": unpacked / 1e6, "check_s": check_s, "read_s": read_s}


def run_phase(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference-rows", type=int, default=1000)
    parser.add_argument("--large-rows", type=int, default=100_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        out = upload_phase(args.file, args.db) if args.phase == "upload" else guard_phase(args.file)
        out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-bombs-") as tmp_dir:
        tmp = Path(tmp_dir)
        t = time.perf_counter()
        files = make_files(tmp, reference_rows=args.reference_rows, large_rows=args.large_rows)
        print(f"files made in {time.perf_counter() - t:.0f} s")
        results = {}
        for name in ("reference", "one_800MB_cell", "2000x16384"):
            db = tmp / f"{name}.sqlite3"
            results[name] = run_phase(
                "--phase", "upload", "--file", str(files[name]), "--db", str(db)
            )
        ref = results["reference"]
        print(
            f"{'upload':16} {'on disk':>9} {'HTTP':>5} {'answer':>22} {'s':>6} {'vs ref':>7} "
            f"{'peak MB':>8} {'vs ref':>7} {'left':>5}"
        )
        for name, r in results.items():
            print(
                f"{name:16} {files[name].stat().st_size / 1e3:7.0f}KB {r['status']:>5} "
                f"{r['code']!s:>22} {r['s']:6.3f} {r['s'] / ref['s']:7.3f} "
                f"{r['max_rss_mb']:8.0f} {r['max_rss_mb'] / ref['max_rss_mb']:7.3f} "
                f"{r['uploads_left']:>5}"
            )
        print(
            "peak MB: max resident set of the upload's own process (interpreter, app and "
            f"libraries: {ref['rss_before_mb']:.0f} MB before the POST); left: uploads stored"
        )
        g = run_phase("--phase", "guard", "--file", str(files["large"]))
        size_mb = files["large"].stat().st_size / 1e6
        print(
            f"guard on a real export of {g['rows']:,} rows ({size_mb:.1f}"
            f" MB, {g['unpacked_mb']:.0f} MB unpacked): check {g['check_s']:.2f} s, openpyxl "
            f"reading it {g['read_s']:.2f} s: the check costs {g['check_s'] / g['read_s']:.1%} "
            f"of the read (peak {g['max_rss_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
