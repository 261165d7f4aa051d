"""Benchmark GET /v1/stations/nearest over HTTP against a minimal FastAPI + cKDTree server.

All servers run in the same run, each as ONE uvicorn worker in its own process on
127.0.0.1 (access log off, OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1), over the same 200,000
stations spread across China. The reference is the smallest honest server: FastAPI with
one plain ``def`` route that answers ``/nearest?lon=&lat=&k=10`` from a bare scipy
``cKDTree`` (unit vectors, spherical metres) with the ids and distances, serialised with
orjson as ours is. The same reference as an ``async def`` route (as ours is) is loaded
too and printed for information. The floor is ``raw_asgi``: the same tree and orjson as a
bare ASGI callable (no framework: the query string parsed by hand, the answer sent as two
messages), the least a Python HTTP answer costs here. ``wrk`` (one thread, 32
connections) loads one server at a time with a fresh random point per request, in
Chongqing's bbox and over China.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import os
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _common import (
    CHINA_BBOX,
    CHONGQING_BBOX,
    Server,
    build_registry,
    free_port,
    get_json,
    python,
    running,
)

EARTH_R_M = 6_371_008.8
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
REGIONS = ("chongqing", "china")  # query points drawn from CHONGQING_BBOX, CHINA_BBOX
REFERENCES = (
    "reference",
    "reference_async",
    "raw_asgi",
)  # query points drawn from CHONGQING_BBOX, CHINA_BBOX

WRK_SCRIPT = """\
-- A new random point in the bbox for every request (one wrk thread: one Lua state).
math.randomseed({seed})
local minx, miny, maxx, maxy = {minx}, {miny}, {maxx}, {maxy}
request = function()
  local lon = minx + (maxx - minx) * math.random()
  local lat = miny + (maxy - miny) * math.random()
  return wrk.format("GET", string.format("{path}?lon=%.6f&lat=%.6f&{params}", lon, lat))
end
"""


# -- the reference server ---------------------------------------------------------------


def reference_app(points: Path, *, route: str = "def") -> Any:
    """FastAPI with one route answering k-nearest from a bare cKDTree.

    ``route="def"`` is the reference of the goal: the plain ``def`` route FastAPI's
    tutorial writes (run in the thread pool). ``route="async"`` is the same body as an
    ``async def``, which our route is: the stricter comparison, printed beside it.
    """
    import numpy as np
    import orjson
    from fastapi import FastAPI
    from starlette.responses import Response

    ids, tree = _unit_tree(points)
    app = FastAPI()

    def answer(lon: float, lat: float, k: int) -> Response:
        lam, phi = math.radians(lon), math.radians(lat)
        v = (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))
        chord, idx = tree.query(v, k=k)
        metres = 2 * EARTH_R_M * np.arcsin(np.minimum(chord / 2, 1.0))
        body = {"ids": ids[idx].tolist(), "distance_m": np.round(metres, 2).tolist()}
        return Response(orjson.dumps(body), media_type="application/json")

    if route == "async":

        @app.get("/nearest")
        async def nearest_async(lon: float, lat: float, k: int = 10) -> Response:
            return answer(lon, lat, k)

    else:

        @app.get("/nearest")
        def nearest(lon: float, lat: float, k: int = 10) -> Response:
            return answer(lon, lat, k)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(orjson.dumps({"status": "ok", "stations": len(ids)}))

    return app


def _unit_tree(points: Path) -> tuple[Any, Any]:
    """The ids and a cKDTree of the unit vectors of the stations in ``points``."""
    import numpy as np
    from scipy.spatial import cKDTree

    data = np.load(points)
    lam, phi = np.radians(data["lon"]), np.radians(data["lat"])
    unit = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    return data["ids"], cKDTree(unit)


def raw_asgi_app(points: Path) -> Any:
    """The floor: the reference's answer from a bare ASGI callable, no framework.

    The same tree, arithmetic and ``orjson.dumps`` as :func:`reference_app`, the query
    string split by hand (``lon``, ``lat``, ``k``; a bad or missing one is a 422), the
    answer sent as one start and one body message.
    """
    import numpy as np
    import orjson

    ids, tree = _unit_tree(points)
    json_headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        status, body = 404, b'{"detail":"not found"}'
        if scope["path"] == "/nearest":
            args = dict(
                pair.split(b"=", 1) for pair in scope["query_string"].split(b"&") if b"=" in pair
            )
            try:
                lon, lat, k = float(args[b"lon"]), float(args[b"lat"]), int(args.get(b"k", 10))
            except (KeyError, ValueError):
                status, body = 422, b'{"detail":"lon, lat: numbers; k: an integer"}'
            else:
                lam, phi = math.radians(lon), math.radians(lat)
                v = (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))
                chord, idx = tree.query(v, k=k)
                metres = 2 * EARTH_R_M * np.arcsin(np.minimum(chord / 2, 1.0))
                answer = {"ids": ids[idx].tolist(), "distance_m": np.round(metres, 2).tolist()}
                status, body = 200, orjson.dumps(answer)
        elif scope["path"] == "/healthz":
            status, body = 200, orjson.dumps({"status": "ok", "stations": len(ids)})
        headers = [*json_headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve(which: str, points: Path, port: int) -> None:
    """Run one reference server in this process (``reference``, ``reference_async`` or
    ``raw_asgi``)."""
    import uvicorn

    if which == "raw_asgi":
        app = raw_asgi_app(points)
    else:
        app = reference_app(points, route="async" if which == "reference_async" else "def")
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# -- load generation ----------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    server_cpu_us: float | None = None  # the server process's CPU per request, if known


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNIT_MS[unit]


def parse_wrk(out: str) -> WrkResult:
    """Requests/s, latency percentiles and error counts from ``wrk --latency`` output."""

    def grab(pattern: str, default: str | None = None) -> str:
        m = re.search(pattern, out)
        if m is None:
            if default is not None:
                return default
            msg = f"wrk output has no {pattern!r}:\n{out}"
            raise ValueError(msg)
        return m.group(1)

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        requests_per_s=float(grab(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(grab(r"\s50%\s+([\d.]+[a-z]+)")),
        p99_ms=_ms(grab(r"\s99%\s+([\d.]+[a-z]+)")),
        requests=int(grab(r"(\d+) requests in")),
        non_2xx=int(grab(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(v) for v in errors.groups()) if errors else 0,
    )


def run_wrk(
    url: str,
    script: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
) -> WrkResult:
    """One wrk run (bounded: killed if it overruns by 30 s)."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        msg = f"wrk failed ({done.returncode}): {done.stderr or done.stdout}"
        raise RuntimeError(msg)
    return parse_wrk(done.stdout)


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) process ``pid`` has used so far, from
    /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, *, timeout_s: float, quiet_s: float = 1.0) -> float:
    """Seconds until process ``pid`` used under 2 % of a core for ``quiet_s``: ours warms
    up in a thread after it answers /healthz (~10 s of CPU across China), which would be
    counted in its CPU per request and take turns with its answers."""
    start = time.perf_counter()
    last = process_cpu_s(pid)
    while last is not None and time.perf_counter() - start < timeout_s:
        time.sleep(quiet_s)
        now = process_cpu_s(pid)
        if now is None or now - last < 0.02 * quiet_s:
            break
        last = now
    return time.perf_counter() - start


def write_script(workdir: Path, name: str, path: str, params: str, bbox: tuple, seed: int) -> Path:
    minx, miny, maxx, maxy = bbox
    text = WRK_SCRIPT.format(
        seed=seed, minx=minx, miny=miny, maxx=maxx, maxy=maxy, path=path, params=params
    )
    script = workdir / f"{name}.lua"
    script.write_text(text)
    return script


# -- a union writing while riders read ------------------------------------------------------


class Writer:
    """A union changing one station every ``every_s`` seconds through the API (PATCH with
    If-Match, as a client would) while wrk loads the server: each write makes a new read
    snapshot, which every worker picks up on its next request."""

    def __init__(self, base: str, token: str, ids: list[int], every_s: float) -> None:
        self.base, self.token, self.ids, self.every_s = base, token, ids, every_s
        self.done = threading.Event()
        self.writes = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        import json
        import random
        import urllib.error
        import urllib.request

        rng = random.Random(1)
        while not self.done.wait(self.every_s):
            station_id = rng.choice(self.ids)
            status, body = get_json(f"{self.base}/v1/stations/{station_id}")
            if status != 200:
                self.errors.append(f"GET {station_id}: {status}")
                continue
            patch = {"contact_phone": f"023-6{rng.randrange(1_000_000):06d}"}
            request = urllib.request.Request(
                f"{self.base}/v1/stations/{station_id}",
                data=json.dumps(patch).encode(),
                method="PATCH",
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                    "If-Match": f'"{body["version"]}"',
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    r.read()
                self.writes += 1
            except urllib.error.HTTPError as exc:
                self.errors.append(f"PATCH {station_id}: {exc.code} {exc.read()[:200]!r}")


def bench_token(db: Path) -> str:
    """A new admin token in the registry (only its hash is stored), for the writer."""
    from datetime import datetime

    from geodata.hours import TZ
    from stations.domain.auth import new_token
    from stations.storage.sqlite import SQLiteStore

    text, record = new_token("admin", name="bench writer", code=None, now=datetime.now(TZ))
    store = SQLiteStore(db)
    try:
        store.save_token(record)
    finally:
        store.close()
    return text


# -- checks and in-process profile --------------------------------------------------------


def preflight(ours: Server, ref: Server, ours_params: str, *, samples: int, seed: int) -> None:
    """Both answer 200 with k results; and they serve the same stations (top-k id sets)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    same = 0
    for i in range(samples):
        minx, miny, maxx, maxy = CHONGQING_BBOX if i % 2 else CHINA_BBOX
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        q = f"lon={lon:.6f}&lat={lat:.6f}"
        status, body = get_json(f"{ours.base}/v1/stations/nearest?{q}&{ours_params}")
        if status != 200 or body is None or body["count"] != 10:
            msg = f"ours answered {status} for {q}&{ours_params}: {str(body)[:300]}"
            raise RuntimeError(msg)
        status, ref_body = get_json(f"{ref.base}/nearest?{q}&k=10")
        if status != 200 or ref_body is None or len(ref_body["ids"]) != 10:
            msg = f"the reference answered {status} for {q}: {str(ref_body)[:300]}"
            raise RuntimeError(msg)
        _, any_body = get_json(f"{ours.base}/v1/stations/nearest?{q}&k=10&status=any")
        same += {r["id"] for r in any_body["results"]} == set(ref_body["ids"])
    print(
        f"preflight: both answer 200 with 10 results; ours (status=any) and the reference "
        f"return the same 10 ids at {same}/{samples} points (sphere vs ellipsoid may swap "
        "near-ties)"
    )


def profile_in_process(
    db: Path, districts_file: Path, points: Path, *, n: int, repeat: int
) -> None:
    """Per-request CPU through each whole ASGI app (FastAPI validation, dependencies,
    thread-pool hop, serialisation) without uvicorn or sockets; then a cProfile of ours."""
    import numpy as np

    from api.app import create_app
    from api.fast_nearest import FastNearest
    from geodata.districts import load_districts
    from stations.config import Settings

    settings = Settings(database_url=f"sqlite:///{db}", districts_source=districts_file)
    start = time.perf_counter()
    app = create_app(settings, districts=load_districts(districts_file))
    # The same app with the FastAPI route answering nearest (as before api/fast_nearest.py).
    routed = create_app(settings, districts=load_districts(districts_file))
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not FastNearest]
    # And with every request down the middleware stack (FastNearest in it), as before
    # NearestFirstAPI answered ahead of it.
    stacked = create_app(settings, districts=load_districts(districts_file))
    stacked.nearest_first = False
    print(f"\nin-process: create_app loaded the registry in {time.perf_counter() - start:.1f} s")
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = CHONGQING_BBOX
    pts = [(float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))) for _ in range(n)]
    ours_paths = [f"/v1/stations/nearest?lon={x:.6f}&lat={y:.6f}&k=10" for x, y in pts]
    ref_paths = [f"/nearest?lon={x:.6f}&lat={y:.6f}&k=10" for x, y in pts]
    asgi_us(app, ours_paths, 1)  # the index and the per-snapshot memo warm up
    asgi_us(routed, ours_paths, 1)
    asgi_us(stacked, ours_paths, 1)
    rows = [
        ("reference (def route)", asgi_us(reference_app(points), ref_paths, repeat)),
        (
            "reference (async def route)",
            asgi_us(reference_app(points, route="async"), ref_paths, repeat),
        ),
        ("raw ASGI (the floor)", asgi_us(raw_asgi_app(points), ref_paths, repeat)),
        ("ours through the FastAPI route", asgi_us(routed, ours_paths, repeat)),
        ("ours down the middleware stack", asgi_us(stacked, ours_paths, repeat)),
        ("ours", asgi_us(app, ours_paths, repeat)),
    ]
    print("whole ASGI app, one request at a time (no uvicorn, no socket), µs/request:")
    print(f"  {'':30} {'wall':>8} {'CPU':>8} {'ref CPU / ours CPU':>20}")
    ours_cpu = rows[-1][1][1]
    for name, (wall, cpu) in rows:
        print(f"  {name:30} {wall:8.1f} {cpu:8.1f} {cpu / ours_cpu:20.2f}")
    prof = cProfile.Profile()
    prof.enable()
    asgi_us(app, ours_paths, 1)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    lines = out.getvalue().splitlines()
    start_line = next((i for i, s in enumerate(lines) if s.lstrip().startswith("ncalls")), 0)
    print("cProfile of ours through the ASGI app (sorted by own time):")
    print("\n".join(lines[start_line : start_line + 15]))


def asgi_us(app: Any, paths: list[str], repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` wall-clock and CPU (all threads) µs per GET through the ASGI app,
    one request at a time, each in a turn of the event loop (each must answer 200)."""
    import asyncio

    async def drive() -> None:
        for target in paths:
            path, _, query = target.partition("?")
            scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": query.encode(),
                "root_path": "",
                "headers": [(b"host", b"127.0.0.1")],
                "client": ("127.0.0.1", 40000),
                "server": ("127.0.0.1", 8000),
            }
            status: list[int] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any], status: list[int] = status) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])

            await app(scope, receive, send)
            if status != [200]:
                msg = f"{target} answered {status}"
                raise RuntimeError(msg)
            # Each request in a turn of its own, as a server reads one: what the lane
            # keeps per turn (api/fast_nearest.py PerTurn) is asked again for the next.
            await asyncio.sleep(0)

    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            asyncio.run(drive())
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
        finally:
            gc.enable()
    return best_wall / len(paths) * 1e6, best_cpu / len(paths) * 1e6


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="stations (default 200000)")
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="wrk warm-up per server and region")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs; best is kept")
    parser.add_argument("--regions", nargs="+", choices=REGIONS, default=list(REGIONS))
    parser.add_argument(
        "--ours-params", default="k=10", help="query string after lon/lat (default k=10)"
    )
    parser.add_argument("--workdir", type=Path, help="keep/reuse the registry here")
    parser.add_argument("--seed", type=int, default=20250312)
    parser.add_argument("--ready-timeout", type=float, default=300, help="seconds to load")
    parser.add_argument(
        "--profile", action="store_true", help="also time and profile the routes in-process"
    )
    parser.add_argument(
        "--write-every",
        type=float,
        default=1.0,
        help="then load ours again while a union changes a station this often, in seconds "
        "(default 1; 0: skip)",
    )
    # A server's own process: --serve reference|reference_async|raw_asgi --points FILE --port N.
    parser.add_argument("--serve", choices=REFERENCES, help=argparse.SUPPRESS)
    parser.add_argument("--points", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve is not None:
        serve(args.serve, args.points, args.port)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    # Ctrl-C (even when started in the background) and kill both unwind through the
    # finally blocks that stop the servers and remove the temporary registry.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="yizhan-bench-http-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
    try:
        bench(args, workdir)
    except KeyboardInterrupt:
        sys.exit("interrupted: the servers were stopped")
    finally:
        if tmp is not None:
            tmp.cleanup()


def bench(args: argparse.Namespace, workdir: Path) -> None:
    db = build_registry(workdir, n=args.n, seed=args.seed)
    token = bench_token(db) if args.write_every > 0 else ""
    points, districts_file = workdir / "points.npz", workdir / "china.geojson"
    env = {
        **os.environ,
        **THREAD_ENV,
        "YIZHAN_DATABASE_URL": f"sqlite:///{db.resolve()}",
        "YIZHAN_DISTRICTS_SOURCE": str(districts_file.resolve()),
    }
    port = free_port()
    uvicorn_cli = ["-m", "uvicorn", "--factory", "api.app:create_app", "--workers", "1"]
    options = ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    argv = [python(), *uvicorn_cli, *options, "--port", str(port)]
    ours = Server("ours", argv, port=port, env=env)
    servers = [ours]
    for name in REFERENCES:
        argv = [python(), str(Path(__file__).resolve()), "--serve", name, "--points", str(points)]
        servers.append(
            Server(name, [*argv, "--port", str(port := free_port())], port=port, env=env)
        )
    paths = {"ours": "/v1/stations/nearest", **{name: "/nearest" for name in REFERENCES}}
    params = {"ours": args.ours_params, **{name: "k=10" for name in REFERENCES}}
    results: dict[tuple[str, str], list[WrkResult]] = {}
    with running(servers):
        for server in servers:
            server.start(workdir / f"{server.name}.log")
        for server in servers:
            took = server.wait_ready("/healthz", timeout_s=args.ready_timeout)
            print(f"{server.name} server ready on {server.base} after {took:.1f} s")
        assert ours.proc is not None
        took = wait_idle(ours.proc.pid, timeout_s=args.ready_timeout)
        print(f"ours idle (its warm-up done: api/warm.py) after {took:.1f} s more")
        preflight(servers[0], servers[1], args.ours_params, samples=40, seed=args.seed)
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency, "
            f"{args.rounds} alternating rounds per region after a {args.warmup:g} s warm-up; "
            f"ours: ?lon&lat&{args.ours_params}"
        )
        for region in args.regions:
            bbox = {"chongqing": CHONGQING_BBOX, "china": CHINA_BBOX}[region]
            scripts = {
                s.name: write_script(
                    workdir, f"{s.name}-{region}", paths[s.name], params[s.name], bbox, args.seed
                )
                for s in servers
            }

            def load(
                server: Server, seconds: float, scripts: dict[str, Path] = scripts
            ) -> WrkResult:
                # The server's own CPU per request: steadier than req/s on a shared machine
                # (wrk and other work compete for the cores, not for the server's CPU time).
                assert server.proc is not None
                before = process_cpu_s(server.proc.pid)
                res = run_wrk(
                    server.base,
                    scripts[server.name],
                    seconds=seconds,
                    connections=args.connections,
                    threads=args.threads,
                )
                after = process_cpu_s(server.proc.pid)
                if before is None or after is None or not res.requests:
                    return res
                return replace(res, server_cpu_us=(after - before) / res.requests * 1e6)

            if args.warmup > 0:
                for server in servers:
                    load(server, args.warmup)
            for r in range(args.rounds):
                for server in servers[::-1] if r % 2 else servers:
                    res = load(server, args.seconds)
                    results.setdefault((region, server.name), []).append(res)
                    print(
                        f"  {region:9} {server.name:9} round {r + 1}: "
                        f"{res.requests_per_s:7.0f} req/s, p50 {res.p50_ms:6.1f} ms, "
                        f"p99 {res.p99_ms:6.1f} ms, {res.requests} requests, "
                        f"non-2xx {res.non_2xx}, socket errors {res.socket_errors}, "
                        f"server CPU {_cpu_text(res.server_cpu_us)} µs/request"
                    )
            if args.write_every > 0:
                with Writer(ours.base, token, list(range(1, args.n + 1)), args.write_every) as w:
                    res = load(ours, args.seconds)
                if w.errors or not w.writes:
                    msg = f"the writer failed ({w.writes} writes): {w.errors[:3]}"
                    raise RuntimeError(msg)
                results.setdefault((region, "ours_writes"), []).append(res)
                print(
                    f"  {region:9} ours while a station changes every {args.write_every:g} s "
                    f"({w.writes} writes): {res.requests_per_s:7.0f} req/s, "
                    f"p50 {res.p50_ms:6.1f} ms, p99 {res.p99_ms:6.1f} ms, non-2xx {res.non_2xx}"
                )
    print("servers stopped")
    report(results, args.regions)
    if args.profile:
        profile_in_process(db, districts_file, points, n=500, repeat=5)


def _cpu_text(cpu_us: float | None) -> str:
    return "?" if cpu_us is None else f"{cpu_us:.0f}"


def report(results: dict[tuple[str, str], list[WrkResult]], regions: list[str]) -> None:
    """Per region and server: req/s (best round, median and range over the rounds), the
    ratios of ours to each (best to best; median to median) and the server's CPU per
    request (median over the rounds; ``raw CPU / this``: the floor's over this one's)."""
    print(
        f"\n{'region':10} {'server':15} {'best':>7} {'median':>7} {'range':>13} "
        f"{'ours/this':>9} {'(median)':>8} {'goal':>6} {'CPU µs':>7} {'raw/this':>8} "
        f"{'p99':>9} {'goal':>5} {'non-2xx':>8}"
    )
    for region in regions:
        ours = results[region, "ours"]
        ours_best = max(r.requests_per_s for r in ours)
        ours_median = statistics.median(r.requests_per_s for r in ours)
        raw_cpu = _median_cpu(results.get((region, "raw_asgi"), []))
        for name in ("ours", *REFERENCES, "ours_writes"):
            if (region, name) not in results:
                continue
            runs = results[region, name]
            rates = [r.requests_per_s for r in runs]
            best, median = max(rates), statistics.median(rates)
            p99 = max(r.p99_ms for r in runs)  # the worse round: the goal is a ceiling
            bad = sum(r.non_2xx + r.socket_errors for r in runs)
            cpu = _median_cpu(runs)
            by_cpu = f"{raw_cpu / cpu:8.2f}" if cpu and raw_cpu else ""
            ratio = ratio_median = ratio_goal = p99_goal = ""
            if name == "ours":
                p99_goal = "ok" if p99 < 50 else ">=50"
            elif name == "ours_writes":
                p99_goal = "(info)"
            else:
                ratio, ratio_median = f"{ours_best / best:.2f}", f"{ours_median / median:.2f}"
                if name == "reference":
                    ratio_goal = "ok" if ours_best / best >= 0.90 else "<0.90"
                elif name == "raw_asgi":
                    ratio_goal = "ok" if ours_best / best >= 0.5 else "<0.5"
                else:
                    ratio_goal = "(info)"
            spread = f"{min(rates):.0f}-{max(rates):.0f}"
            print(
                f"{region:10} {name:15} {best:7.0f} {median:7.0f} {spread:>13} {ratio:>9} "
                f"{ratio_median:>8} {ratio_goal:>6} {_cpu_text(cpu):>7} {by_cpu:>8} "
                f"{p99:7.1f}ms {p99_goal:>5} {bad:8d}"
            )
    print(
        "req/s: best round, median and range over the rounds; ours/this: ours' best over "
        "this server's best (median: medians); CPU µs: the server process's CPU per request "
        "(median over the rounds; raw/this: the floor's over this one's, the steadier ratio "
        "on a shared machine); p99: worst round; non-2xx: non-2xx/3xx answers + socket "
        "errors; goals: ours >= 0.90 x the reference's req/s (the plain def route), ours p99 "
        "< 50 ms; reference_async is the same reference as an async def route, printed for "
        "information; raw_asgi: the same tree and orjson as a bare ASGI app, the floor (goal: "
        "ours/raw >= 0.5); ours_writes: ours again while a union changes a station through "
        "the API"
    )


def _median_cpu(runs: list[WrkResult]) -> float | None:
    known = [r.server_cpu_us for r in runs if r.server_cpu_us is not None]
    return statistics.median(known) if known else None


if __name__ == "__main__":
    main()
