"""Benchmark an upload: a GBK CSV in GCJ-02, dry run then commit, against plain parsing.

The reference, measured in the same run on the same file, is what any importer must do
at least: decode the GBK file with the csv module and read the coordinates as floats.
Each phase runs in its own process so its peak memory (max RSS) is its own.
``--file PATH`` keeps the made file there and reuses it on later runs (making it is most of
a run's time); the phases always start from a new, empty registry.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADER = [
    "编号",
    "所属工会",
    "名称",
    "地址",
    "经度",
    "纬度",
    "开放时间",
    "设施",
    "24小时",
    "进入方式",
]


def make_file(path: Path, rows: int, seed: int) -> None:
    from geodata.districts import chongqing_districts
    from stations.domain.model import AMENITY_LABELS, ENTRY_METHOD_LABELS
    from stations.services.demo import sample_rows

    with path.open("w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for r in sample_rows(chongqing_districts(), total=rows, seed=seed):
            if r["crs"] != "gcj02":
                from geodata.crs import from_wgs84, to_wgs84

                lon, lat = to_wgs84(r["lon"], r["lat"], crs=r["crs"])
                r["lon"], r["lat"] = from_wgs84(lon, lat, crs="gcj02")
            w.writerow(
                [
                    r["external_id"],
                    r["owner"],
                    r["name"].replace("（示例）", ""),
                    r["address"].replace("（示例地址）", ""),
                    f"{r['lon']:.7f}",
                    f"{r['lat']:.7f}",
                    r["hours"],
                    "、".join(AMENITY_LABELS[a] for a in r["amenities"]),
                    "是" if r.get("self_service_24h") else "否",
                    "、".join(ENTRY_METHOD_LABELS[e] for e in r.get("entry_methods", [])),
                ]
            )


def plain_parse(path: Path) -> int:
    """The reference: what any importer must do at least (decode the GBK file with the csv
    module, read the coordinates as floats); the rows read."""
    n = 0
    with path.open(encoding="gb18030", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            float(row[4]), float(row[5])
            n += 1
    return n


def phase(name: str, path: Path, db: Path) -> dict[str, float]:
    """Run one phase in this process; return rows and seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    if name == "parse":
        n = plain_parse(path)
        return {"rows": n, "s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}
    from geodata.districts import chongqing_districts
    from stations.domain.auth import Principal, Role
    from stations.formats.io import read_rows
    from stations.services.uploads import commit_upload, plan_upload
    from stations.storage.sqlite import SQLiteStore

    admin = Principal("bench", "bench", Role.ADMIN, None)
    store = SQLiteStore(db)
    if name == "dry_run":
        districts = chongqing_districts()
        start, cpu = time.perf_counter(), time.process_time()
        source = read_rows(path)
        up = plan_upload(
            source.rows,
            store=store,
            districts=districts,
            by=admin,
            filename=path.name,
            crs="gcj02",
            columns=source.columns,
        )
        (db.parent / "upload_id").write_text(up.id)
        return {
            "rows": sum(up.counts.values()),
            "s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu,
            "rejected": up.counts["rejected"],
        }
    upload_id = (db.parent / "upload_id").read_text()
    if name == "sqlite_floor":
        return sqlite_floor(store, upload_id, db.parent / "floor.sqlite3")
    start, cpu = time.perf_counter(), time.process_time()
    result = commit_upload(store, upload_id, by=admin)
    return {
        "rows": result.batch.changes,
        "s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu,
    }


def sqlite_floor(store: Any, upload_id: str, floor_db: Path) -> dict[str, float]:
    """The least SQLite itself takes to store the plan's new stations in our schema: the
    rows a commit writes (stations, station_codes, the R*Tree, audit), every value made
    beforehand (documents serialised, ids and codes given), bound by the statements the
    store uses, 1,000 rows a statement, in one transaction on a new registry. Only the
    statements and the COMMIT are timed: no plan to read, no Python per row but the
    driver's. A commit can come near this, never under it."""
    from stations.domain.jsonbytes import trimmed
    from stations.storage.sqlbase import dump_doc_utf8
    from stations.storage.sqlite import SQLiteStore
    from stations.storage.stations_repo import record_columns, record_doc_utf8

    stamp = "2026-12-03T12:00:00+08:00"
    stations, codes, points, audit = [], [], [], []
    for i, (action, _, record) in enumerate(store.iter_planned_changes(upload_id), start=1):
        if action != "create":
            continue
        code = f"{i:08d}"[-8:]
        # Held until the timed part: trimmed to their length, not orjson's grown buffers.
        doc = trimmed(record_doc_utf8(record))
        stations.append((i, *record_columns(record), 1, stamp, doc, code))
        codes.append((code, i, stamp))
        points.append((i, record["lon"], record["lon"], record["lat"], record["lat"]))
        after = {**record, "id": i, "version": 1, "updated_at": stamp, "code": code}
        audit.append((i, 1, "bench", stamp, trimmed(dump_doc_utf8(after))))
    store.close()
    for old in floor_db.parent.glob(floor_db.name + "*"):
        old.unlink()
    SQLiteStore(floor_db).close()  # the schema, made by the store

    c = sqlite3.connect(floor_db, isolation_level=None)
    c.execute("PRAGMA journal_mode = WAL")
    c.execute("PRAGMA synchronous = NORMAL")
    c.execute("PRAGMA foreign_keys = ON")
    c.execute("PRAGMA cache_size = -32768")  # as the store's bulk insert
    statements = (
        (
            "INSERT INTO stations (id, owner, external_id, district_adcode, status, "
            "self_service_24h, lon, lat, version, updated_at, doc, code) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TEXT), ?)",
            stations,
        ),
        ("INSERT INTO station_codes (code, station_id, created_at) VALUES (?, ?, ?)", codes),
        ("INSERT INTO station_rtree VALUES (?, ?, ?, ?, ?)", points),
        (
            "INSERT INTO audit (station_id, batch_id, actor, at, action, before, after) "
            "VALUES (?, ?, ?, ?, 'create', NULL, CAST(? AS TEXT))",
            audit,
        ),
    )
    start, cpu = time.perf_counter(), time.process_time()
    c.execute("BEGIN IMMEDIATE")
    c.execute(
        "INSERT INTO batches (id, actor, at, kind, note, changes, upload_id) "
        "VALUES (1, 'bench', ?, 'upload', '', ?, NULL)",
        (stamp, len(stations)),
    )
    for at in range(0, len(stations), 1000):
        for sql, rows in statements:
            c.executemany(sql, rows[at : at + 1000])
    c.execute("COMMIT")
    took, took_cpu = time.perf_counter() - start, time.process_time() - cpu
    c.close()
    return {"rows": len(stations), "s": took, "cpu_s": took_cpu}


def _peak_rss_mb() -> float:
    """This process's own peak resident set (MB): VmHWM, which an exec starts afresh, where
    getrusage's ru_maxrss keeps the forking parent's (the bench, holding the sample)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="the CSV to upload: made there (--rows, --seed) when it does not exist, reused "
        "as it is when it does (making it takes ~20 s at 100,000 rows); default: a new one "
        "in a temporary directory each run",
    )
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        out = phase(args.phase, args.file, args.db)
        out["max_rss_mb"] = _peak_rss_mb()
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-upload-") as tmp:
        path, db = args.file or Path(tmp) / "stations.csv", Path(tmp) / "registry.sqlite3"
        if path.exists():
            print(f"{path}: {path.stat().st_size / 1e6:.1f} MB GBK CSV in GCJ-02 (reused)")
        else:
            t = time.perf_counter()
            make_file(path, args.rows, args.seed)
            print(
                f"{args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB GBK CSV in GCJ-02 "
                f"(made in {time.perf_counter() - t:.0f} s)"
            )
        results = {}
        for name in ("parse", "dry_run", "sqlite_floor", "commit"):
            done = subprocess.run(
                [sys.executable, __file__, "--phase", name, "--file", str(path), "--db", str(db)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        ref = results["parse"]["rows"] / results["parse"]["s"]
        ref_cpu = results["parse"]["rows"] / results["parse"]["cpu_s"]
        print(
            f"{'phase':10} {'rows':>9} {'s':>7} {'rows/s':>10} {'vs parse':>9} "
            f"{'cpu s':>7} {'vs (cpu)':>9} {'peak MB':>8}"
        )
        for name, r in results.items():
            rate = r["rows"] / r["s"]
            rate_cpu = r["rows"] / r["cpu_s"]
            print(
                f"{name:10} {r['rows']:9,} {r['s']:7.2f} {rate:10,.0f} {rate / ref:9.3f} "
                f"{r['cpu_s']:7.2f} {rate_cpu / ref_cpu:9.3f} {r['max_rss_mb']:8.0f}"
            )
        print(
            "peak MB: max resident set of the phase's own process (includes the interpreter "
            "and libraries, ~150 MB); cpu s: the phase's own processor time, the fairer "
            "ratio on a shared machine; sqlite_floor: SQLite alone storing the same new "
            "stations in our schema, every value made beforehand (the least a commit can "
            "take: see sqlite_floor)"
        )
        if results["dry_run"].get("rejected"):
            print(f"warning: {results['dry_run']['rejected']} rows rejected")


if __name__ == "__main__":
    main()
