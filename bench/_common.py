"""Shared helpers for the benchmarks: timing, a synthetic China-wide registry, servers."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# This checkout's packages before any installed yizhan: an editable install may point
# at another work tree, whose code the benchmark would otherwise measure.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))

from stations.services.demo import AMENITY_SHARE  # noqa: E402  (the sample registry's shares)

CHINA_BBOX = (73.5, 18.0, 135.0, 53.5)  # lon/lat degrees, WGS-84
CHONGQING_BBOX = (105.3, 28.2, 110.2, 32.2)

# Where stations cluster: (lon, lat, weight, spread in degrees). Big cities hold most of them.
_CITIES = (
    (121.47, 31.23, 6.0, 0.35),  # 上海
    (116.40, 39.90, 6.0, 0.35),  # 北京
    (106.55, 29.56, 5.0, 0.45),  # 重庆
    (113.26, 23.13, 5.0, 0.35),  # 广州
    (114.06, 22.54, 5.0, 0.20),  # 深圳
    (104.07, 30.67, 4.0, 0.35),  # 成都
    (120.16, 30.27, 3.5, 0.30),  # 杭州
    (114.31, 30.59, 3.5, 0.30),  # 武汉
    (108.94, 34.34, 3.0, 0.30),  # 西安
    (118.80, 32.06, 3.0, 0.25),  # 南京
    (117.20, 39.13, 3.0, 0.30),  # 天津
    (113.62, 34.75, 3.0, 0.30),  # 郑州
    (112.94, 28.23, 2.5, 0.25),  # 长沙
    (120.38, 36.07, 2.0, 0.25),  # 青岛
    (123.43, 41.80, 2.0, 0.25),  # 沈阳
    (126.64, 45.76, 1.5, 0.25),  # 哈尔滨
    (102.71, 25.04, 1.5, 0.25),  # 昆明
    (106.63, 26.65, 1.2, 0.20),  # 贵阳
    (108.37, 22.82, 1.2, 0.20),  # 南宁
    (119.30, 26.08, 1.5, 0.20),  # 福州
    (118.09, 24.48, 1.2, 0.15),  # 厦门
    (117.00, 36.65, 1.5, 0.25),  # 济南
    (117.23, 31.82, 1.5, 0.25),  # 合肥
    (115.86, 28.68, 1.2, 0.20),  # 南昌
    (112.55, 37.87, 1.2, 0.20),  # 太原
    (114.51, 38.04, 1.5, 0.25),  # 石家庄
    (125.32, 43.82, 1.2, 0.20),  # 长春
    (111.75, 40.84, 0.8, 0.20),  # 呼和浩特
    (103.83, 36.06, 0.8, 0.20),  # 兰州
    (101.78, 36.62, 0.5, 0.15),  # 西宁
    (106.23, 38.49, 0.5, 0.15),  # 银川
    (87.62, 43.83, 0.8, 0.25),  # 乌鲁木齐
    (91.13, 29.65, 0.3, 0.10),  # 拉萨
    (110.35, 20.02, 0.6, 0.15),  # 海口
)

# Canonical OSM hours (as stations.domain.validation stores them) and their share.
HOURS = (
    ("Mo-Fr 09:00-18:00", 0.30),
    ("08:00-20:00", 0.24),
    ("Mo-Fr 09:00-17:00; Sa-Su 10:00-16:00; PH off", 0.10),
    ("08:30-21:00", 0.10),
    ("Mo-Sa 08:00-19:00; PH off", 0.10),
    ("Mo-Fr 08:30-17:30; PH off", 0.08),
    ("24/7", 0.08),
)
STATUS_SHARE = {"active": 0.90, "temporarily_closed": 0.04, "planned": 0.03, "closed": 0.03}

FloatArray = npt.NDArray[np.float64]


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The fastest of ``repeat`` runs of ``run``, in seconds (garbage collector paused)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def china_points(
    n: int, rng: np.random.Generator, *, clustered: float = 0.6
) -> tuple[FloatArray, FloatArray]:
    """``n`` WGS-84 lon/lat points over China's bbox: a share ``clustered`` around big cities
    (Gaussian, a city's share by its weight), the rest uniform over the bbox."""
    minx, miny, maxx, maxy = CHINA_BBOX
    n_city = round(n * clustered)
    weights = np.array([c[2] for c in _CITIES])
    city = rng.choice(len(_CITIES), size=n_city, p=weights / weights.sum())
    centre = np.array([(c[0], c[1]) for c in _CITIES])[city]
    spread = np.array([c[3] for c in _CITIES])[city]
    near = centre + rng.standard_normal((n_city, 2)) * spread[:, None]
    lon = np.concatenate([near[:, 0], rng.uniform(minx, maxx, n - n_city)])
    lat = np.concatenate([near[:, 1], rng.uniform(miny, maxy, n - n_city)])
    lon, lat = np.clip(lon, minx, maxx), np.clip(lat, miny, maxy)
    order = rng.permutation(n)
    return lon[order], lat[order]


def make_stations(lon: Sequence[float], lat: Sequence[float], *, seed: int) -> list[Any]:
    """Station objects at the given points, built directly (validation is too slow for 200k).

    Ids are 1..n in order; every station is owned by ``industry:bench`` in district 000000.
    """
    from stations.domain.model import AMENITIES, ENTRY_METHODS, Owner, Station, Status

    rng = np.random.default_rng(seed)
    n = len(lon)
    owner = Owner.parse("industry:bench")
    hours_p = np.array([p for _, p in HOURS])
    hours_pick = rng.choice(len(HOURS), size=n, p=hours_p / hours_p.sum())
    status_names = list(STATUS_SHARE)
    status_p = np.array(list(STATUS_SHARE.values()))
    status_pick = rng.choice(len(status_names), size=n, p=status_p / status_p.sum())
    has = rng.random((n, len(AMENITIES))) < np.array([AMENITY_SHARE[a] for a in AMENITIES])
    entry_a = rng.integers(0, len(ENTRY_METHODS), n)
    entry_b = rng.integers(0, len(ENTRY_METHODS), n)
    statuses = [Status(s) for s in status_names]
    stations = []
    for i in range(n):
        hours = HOURS[hours_pick[i]][0]
        entries = sorted({ENTRY_METHODS[entry_a[i]], ENTRY_METHODS[entry_b[i]]})
        stations.append(
            Station(
                external_id=f"B{i + 1:07d}",
                owner=owner,
                name=f"基准工会驿站{i + 1}号",
                lon=float(lon[i]),
                lat=float(lat[i]),
                district_adcode="000000",
                hours=hours,
                address=f"基准市基准区测试路{i % 997 + 1}号",
                host="基准社区服务中心",
                contact_phone="023-6000000",
                self_service_24h=hours == "24/7",
                entry_methods=tuple(entries),
                amenities=tuple(a for a, yes in zip(AMENITIES, has[i], strict=True) if yes),
                status=statuses[status_pick[i]],
                id=i + 1,
            )
        )
    return stations


def write_china_district(path: Path) -> Path:
    """A boundary file with ONE district (000000 全国) covering China's bbox, for load_districts."""
    minx, miny, maxx, maxy = CHINA_BBOX
    ring = [[minx - 1, miny - 1], [maxx + 1, miny - 1], [maxx + 1, maxy + 1], [minx - 1, maxy + 1]]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"adcode": "000000", "name": "全国"},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        ],
    }
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def build_registry(workdir: Path, *, n: int, seed: int, log: Callable[[str], None] = print) -> Path:
    """A SQLite registry of ``n`` stations over China in ``workdir`` (reused if it matches).

    Also writes ``points.npz`` (ids, lon, lat, the same points) and ``china.geojson``.
    """
    from stations.domain.changes import Create
    from stations.storage.sqlite import SQLiteStore

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "registry.sqlite3"
    stamp = workdir / "stamp.json"
    want = {"n": n, "seed": seed, "version": 1}
    write_china_district(workdir / "china.geojson")
    if db.exists() and stamp.exists() and json.loads(stamp.read_text()) == want:
        log(f"reusing the registry in {db}")
        return db
    for old in workdir.glob("registry.sqlite3*"):
        old.unlink()
    start = time.perf_counter()
    lon, lat = china_points(n, np.random.default_rng(seed))
    stations = make_stations(lon, lat, seed=seed + 1)
    store = SQLiteStore(db)
    try:
        store.apply([Create(s) for s in stations], actor="bench", kind="import")
        if store.count() != n:
            msg = f"the registry holds {store.count()} stations, not {n}"
            raise RuntimeError(msg)
    finally:
        store.close()
    ids = np.array([s.id for s in stations], dtype=np.int64)  # kept: Create honours a given id
    np.savez(workdir / "points.npz", ids=ids, lon=lon, lat=lat)
    stamp.write_text(json.dumps(want))
    log(f"built a {n:,}-station registry in {time.perf_counter() - start:.1f} s: {db}")
    return db


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, *, timeout_s: float = 10.0) -> tuple[int, Any]:
    """GET ``url``; return the status and the decoded JSON body (None if not JSON)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


class Server:
    """A server subprocess on 127.0.0.1, stopped (process group and all) on exit."""

    def __init__(self, name: str, argv: list[str], *, port: int, env: dict[str, str]) -> None:
        self.name, self.argv, self.port, self.env = name, argv, port, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, path: str, *, timeout_s: float) -> float:
        """Poll ``path`` until it answers 200; return the seconds it took."""
        assert self.proc is not None
        start = time.perf_counter()
        while time.perf_counter() - start < timeout_s:
            if self.proc.poll() is not None:
                msg = f"{self.name} server exited with {self.proc.returncode}: {self.tail()}"
                raise RuntimeError(msg)
            with contextlib.suppress(OSError):
                if get_json(self.base + path, timeout_s=2.0)[0] == 200:
                    return time.perf_counter() - start
            time.sleep(0.2)
        msg = f"{self.name} server not ready after {timeout_s:.0f} s: {self.tail()}"
        raise TimeoutError(msg)

    def tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)  # SIGTERM: uvicorn shuts down gracefully
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


@contextlib.contextmanager
def running(servers: Sequence[Server]) -> Iterator[None]:
    """Stop every server when the block ends, whether normally, by error or by Ctrl-C."""
    try:
        yield
    finally:
        for server in servers:
            server.stop()


def python() -> str:
    """The interpreter running this benchmark (the project's venv)."""
    return sys.executable
