"""Start-up at national size: reading the registry into the read index, and the service's
start to its first nearest answer, against the floor of reading the same stored documents.

Each measurement runs in a fresh process (so peak memory is its own, and nothing is warm),
``--repeat`` times; the medians are printed (CPU time of the process, which the other work
on a shared machine disturbs less than wall time, and wall time), with its peak RSS:

* ``reference``: every row of ``stations`` read and its document decoded with orjson
  (``SELECT * ... ORDER BY id``, what the store's ``iter_all`` reads), the documents kept,
  the garbage collector off: the floor of loading the registry;
* ``build``: ``StationIndex.build`` on the store (the stations, their arrays, the nearest
  tree), and the ratio reference / build;
* ``app`` (unless ``--no-app``): ``create_app`` (``YIZHAN_DISTRICTS_SOURCE=china``, no
  warm-up), the lifespan started and one ``GET /v1/stations/nearest`` answered, from before
  the API's import: what a restart costs before the first rider is served.

    PYTHONPATH=. python bench/startup.py --database /work/tmp/national.sqlite3 [--repeat 3]
    PYTHONPATH=. python bench/startup.py --stations 186000   # a synthetic registry instead

The national registry is what ``yizhan demo --national --database sqlite:///PATH`` loads
(8-10 min the first time: load it once and reuse it). The machine is shared: compare the
ratios (of CPU times), not the seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STAGES = ("reference", "build", "app")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reference(database: Path) -> dict[str, float]:
    import sqlite3

    import orjson

    gc.disable()  # the floor: no collections walking the documents as they pile up
    start, cpu = time.perf_counter(), time.process_time()
    conn = sqlite3.connect(database)
    conn.row_factory = sqlite3.Row
    docs = [orjson.loads(r["doc"]) for r in conn.execute("SELECT * FROM stations ORDER BY id")]
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return {"seconds": took, "cpu": cpu, "stations": len(docs)}


def _build(database: Path) -> dict[str, float]:
    from stations.readmodel.index import StationIndex
    from stations.storage.sqlite import SQLiteStore

    store = SQLiteStore(database)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        index = StationIndex.build(store)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        store.close()
    return {"seconds": took, "cpu": cpu, "stations": len(index)}


def _app(database: Path) -> dict[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    os.environ["YIZHAN_WARM_START"] = "false"
    from fastapi.testclient import TestClient

    from api.app import create_app
    from stations.config import Settings

    settings = Settings(database_url=f"sqlite:///{database}", districts_source="china")
    app = create_app(settings)
    with TestClient(app) as client:
        r = client.get("/v1/stations/nearest", params={"lon": 116.397, "lat": 39.909, "k": 3})
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        if r.status_code != 200 or not r.json():
            msg = f"nearest answered {r.status_code}: {r.text[:200]}"
            raise RuntimeError(msg)
    return {"seconds": took, "cpu": cpu, "stations": len(app.state.services.index.current())}


def child(stage: str, database: Path) -> None:
    result = {"reference": _reference, "build": _build, "app": _app}[stage](database)
    print(json.dumps({**result, "peak_mb": _peak_mb()}))


def measure(stage: str, database: Path, repeat: int) -> tuple[float, float, int]:
    """The median CPU seconds and peak MB of ``stage`` over ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", stage, "--database", str(database)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    cpu = statistics.median(r["cpu"] for r in runs)
    wall = statistics.median(r["seconds"] for r in runs)
    peak = statistics.median(r["peak_mb"] for r in runs)
    spread = ", ".join(f"{r['cpu']:.2f}" for r in runs)
    print(f"  {stage}: CPU {cpu:.2f} s (runs {spread}), wall {wall:.2f} s, peak {peak:,.0f} MB")
    return cpu, peak, int(runs[0]["stations"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, help="a registry (SQLite file)")
    parser.add_argument("--stations", type=int, default=186_000, help="synthetic, without one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-app", action="store_true", help="only the index build")
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.database)
        return
    database = args.database
    if database is None:
        from bench._common import build_registry

        work = Path(tempfile.gettempdir()) / f"yizhan-bench-startup-{args.stations}"
        database = build_registry(work, n=args.stations, seed=13)
    print(f"start-up on {database} (median of {args.repeat} fresh processes)")
    ref, _, n = measure("reference", database, args.repeat)
    print(f"  {n:,} stations")
    build, _, _ = measure("build", database, args.repeat)
    print(f"  ratio reference/build: {ref / build:.3f}×")
    if not args.no_app:
        app, _, _ = measure("app", database, args.repeat)
        print(f"  ratio reference/app: {ref / app:.3f}×")


if __name__ == "__main__":
    main()
