"""Benchmark single-point k-nearest queries over 200,000 stations spread across China.

The reference, measured in the same run on the same points, is a bare scipy ``cKDTree``
k=10 query on precomputed Earth-centred (ECEF) vectors: no lon/lat conversion, no geodesic
distances, no filters. Every case makes one query per Python call, as the API does; the
figure is the best of several passes over the same query points. Correctness is checked
against a brute-force pyproj ``Geod`` ranking of every station.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Callable
from datetime import datetime

# One point per call: OpenMP (pykdtree) and BLAS threads only add wake-ups, so the process
# runs them single-threaded, as geodata.nearest does; set before numpy/pykdtree load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from _common import best_of, china_points, make_stations
from pykdtree.kdtree import KDTree
from pyproj import Geod
from scipy.spatial import cKDTree

from geodata.hours import TZ
from geodata.nearest import (
    FAR_M,
    NEAR_M,
    NearestIndex,
    _arc,
    _arcs_mid,
    _Frame,
    bearings_deg,
    ecef,
)
from stations.domain.model import Status
from stations.readmodel.index import StationIndex

AT = datetime(2025, 3, 12, 14, 0, tzinfo=TZ)  # a Wednesday, no holiday, 14:00
EARTH_R_M = 6_371_008.8
K = 10
TIE_M = 0.01


def haversine_m(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle metres on the mean sphere from one point to many (degrees in)."""
    p1, p2 = np.radians(lat), np.radians(lats)
    dphi, dlam = p2 - p1, np.radians(lons - lon)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_R_M * np.arcsin(np.sqrt(h))


def check(
    index: NearestIndex,
    qlon: list[float],
    qlat: list[float],
    *,
    mask: np.ndarray | None,
    mask_key: object,
) -> tuple[int, int, float, float, float]:
    """Compare ours with a brute-force Geod top-k over every (masked) station.

    Returns (mismatches, tie reorders, max distance error m, max bearing error deg, seconds
    per brute-force query).
    """
    geod = Geod(ellps="WGS84")
    members = np.flatnonzero(mask) if mask is not None else np.arange(len(index))
    lons, lats = index.lon[members], index.lat[members]
    mismatches = ties = 0
    dist_err = bear_err = 0.0
    brute_s = 0.0
    for x, y in zip(qlon, qlat, strict=True):
        start = time.perf_counter()
        az, _, d = geod.inv(np.full(len(lons), x), np.full(len(lons), y), lons, lats)
        top = np.argpartition(d, K)[:K] if len(d) > K else np.arange(len(d))
        top = top[np.argsort(d[top], kind="stable")]
        brute_s += time.perf_counter() - start
        want_ids, want_d = members[top], d[top]
        got = index.with_bearings(x, y, index.query(x, y, k=K, mask=mask, mask_key=mask_key))
        pos = np.searchsorted(members, got.index)
        true_d = d[pos]  # Geod's distance to the stations we returned
        dist_err = max(dist_err, float(np.max(np.abs(got.distance_m - true_d))))
        diff = np.abs((got.bearing_deg - np.mod(az[pos], 360.0) + 180.0) % 360.0 - 180.0)
        bear_err = max(bear_err, float(np.max(diff)))
        if np.array_equal(got.index, want_ids):
            continue
        # Not the same ids: fine only if they are equally near (ties within a centimetre).
        if len(got) == len(want_ids) and np.all(np.abs(np.sort(true_d) - want_d) <= TIE_M):
            ties += 1
        else:
            mismatches += 1
    return mismatches, ties, dist_err, bear_err, brute_s / len(qlon)


Point = tuple[float, float]


def per_query_us(points: list[Point], step: Callable[[float, float], object], repeat: int) -> float:
    """Best-of-``repeat`` µs per call of ``step(lon, lat)`` over ``points`` (nan if none)."""
    if not points:
        return float("nan")

    def run() -> None:
        for x, y in points:
            step(x, y)

    return best_of(repeat, run) / len(points) * 1e6


def print_steps(title: str, steps: list[tuple[str, float]], whole: float) -> None:
    """A step-by-step table; what the steps do not explain is printed as the rest."""
    print(f"\n{title}, µs/query:")
    for name, us in steps:
        print(f"  {name:56} {us:7.1f}")
    rest = whole - sum(us for _, us in steps)
    print(f"  {'the rest (glue between the steps, measured as the gap)':56} {rest:7.1f}")
    print(f"  {'whole':56} {whole:7.1f}")


def regime(distance_m: float) -> str:
    """Which path of NearestIndex.query a k-th distance takes."""
    return "near" if distance_m <= NEAR_M else "mid" if distance_m <= FAR_M else "far"


def far_steps(
    index: NearestIndex,
    pts: list[Point],
    frames: dict[Point, _Frame],
    share: float,
    mask: np.ndarray,
    repeat: int,
) -> None:
    """A filtered query by the path its 10th station takes: near (one curvature), mid
    (re-ranked by _arcs_mid) and far (re-ranked by Geod); and the mid path's steps."""
    key = ("bench", share)
    members, sub = index._subset(key, mask)
    assert sub is not None

    def ours(x: float, y: float) -> object:
        return index.query(x, y, k=K, mask=mask, mask_key=key)

    by: dict[str, list[Point]] = {"near": [], "mid": [], "far": []}
    for p in pts:
        by[regime(float(ours(*p).distance_m[-1]))].append(p)  # type: ignore[attr-defined]
    print(
        f"\nquery with a {share:.0%} filter, by where its 10th station is, µs/query: "
        + ", ".join(
            f"{name} {per_query_us(q, ours, repeat):.1f} ({len(q)} queries)"
            for name, q in by.items()
            if q
        )
    )
    mid = by["mid"]
    if not mid:
        return
    m = K + 1
    cand = {p: members[sub.query(frames[p].xyz, k=m)[1].reshape(-1)] for p in mid}
    chords = {p: sub.query(frames[p].xyz, k=m)[0].reshape(-1).tolist() for p in mid}
    ends = {p: index._zsn[c].tolist() for p, c in cand.items()}
    print_steps(
        f"the mid path ({len(mid)} queries)",
        [
            ("_Frame", per_query_us(mid, _Frame, repeat)),
            (
                f"pykdtree query k={m}",
                per_query_us(mid, lambda x, y: sub.query(frames[x, y].xyz, k=m), repeat),
            ),
            (
                f"_arcs_mid on {m} points (plain floats)",
                per_query_us(
                    mid, lambda x, y: _arcs_mid(frames[x, y], chords[x, y], ends[x, y]), repeat
                ),
            ),
        ],
        per_query_us(mid, ours, repeat),
    )


def where_the_time_goes(
    index: NearestIndex,
    sindex: StationIndex,
    pts: list[Point],
    masks: dict[float, np.ndarray],
    repeat: int,
) -> None:
    """Time each step of the slower paths on its own: near, far (Geod re-rank), bearings,
    and the library search."""
    tree = index._tree
    assert tree is not None
    frames = {p: _Frame(*p) for p in pts}
    near = [p for p in pts if index.query(*p, k=K).distance_m[-1] <= NEAR_M]
    raw = {p: tree.query(frames[p].xyz, k=K) for p in near}
    chords = {p: c.reshape(-1) for p, (c, _) in raw.items()}
    print_steps(
        f"NearestIndex.query, k={K}, no filter, 10th station within NEAR_M ({len(near)} queries)",
        [
            ("_Frame(lon, lat): math + np.array", per_query_us(near, _Frame, repeat)),
            (
                f"pykdtree query(frame.xyz, k={K})",
                per_query_us(near, lambda x, y: tree.query(frames[x, y].xyz, k=K), repeat),
            ),
            (
                "_arc(frame, chord): 3 numpy ufuncs on 10 values",
                per_query_us(near, lambda x, y: _arc(frames[x, y], chords[x, y]), repeat),
            ),
        ],
        per_query_us(near, lambda x, y: index.query(x, y, k=K), repeat),
    )

    found = {p: index.query(*p, k=K) for p in pts}
    xyz_found = {p: index.xyz[f.index] for p, f in found.items()}
    print_steps(
        f"with_bearings after query, k={K} ({len(pts)} queries)",
        [
            (
                "bearings_deg on the 10 points (plain floats)",
                per_query_us(pts, lambda x, y: bearings_deg(x, y, xyz_found[x, y]), repeat),
            ),
        ],
        per_query_us(pts, lambda x, y: index.with_bearings(x, y, found[x, y]), repeat),
    )

    for share, mask in masks.items():
        far_steps(index, pts, frames, share, mask, repeat)

    active = (Status.ACTIVE,)
    open_now, open_key = sindex.open_mask(AT)
    mask = sindex.filter_mask(statuses=active)
    assert mask is not None
    both = mask & open_now
    key = ("bench-search", open_key)
    print_steps(
        f"StationIndex.search(open_now=True), k={K} ({len(pts)} queries)",
        [
            (
                "open_mask(at) (cached per minute; its key names the subset tree)",
                per_query_us(pts, lambda x, y: sindex.open_mask(AT), repeat),
            ),
            (
                "nearest.query(mask, mask_key) (the cached subset tree; no O(n) step)",
                per_query_us(
                    pts, lambda x, y: index.query(x, y, k=K, mask=both, mask_key=key), repeat
                ),
            ),
            (
                "with_bearings",
                per_query_us(pts, lambda x, y: index.with_bearings(x, y, found[x, y]), repeat),
            ),
        ],
        per_query_us(pts, lambda x, y: sindex.search(x, y, k=K, at=AT, open_now=True), repeat),
    )


def profile(name: str, run: Callable[[], object], *, top: int) -> None:
    """cProfile one pass of a case; print the functions taking the most time of their own."""
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, s in enumerate(lines) if s.lstrip().startswith("ncalls")), 0)
    print(f"\ncProfile, one pass of {name!r} (sorted by own time; profiling inflates calls):")
    print("\n".join(lines[start - 2 : start + top + 1]))


def cases_named(prefix: str, cases: list[tuple[str, Callable[[], None]]]) -> list[str]:
    return [name for name, _ in cases if name.startswith(prefix)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="stations (default 200000)")
    parser.add_argument("--queries", type=int, default=2000, help="query points (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes; the best is kept")
    parser.add_argument("--brute", type=int, default=50, help="queries for brute-force timing")
    parser.add_argument("--check", type=int, default=200, help="queries checked against Geod")
    parser.add_argument("--clustered", type=float, default=0.6, help="share near big cities")
    parser.add_argument("--seed", type=int, default=20250312)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile every case (step timings print whenever ours is slower)",
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    lon, lat = china_points(args.n, rng, clustered=args.clustered)
    # Riders ask from where stations are: queries follow the same mixture, other draws.
    q_lon, q_lat = china_points(args.queries, rng, clustered=args.clustered)
    qlon, qlat = [float(v) for v in q_lon], [float(v) for v in q_lat]
    pts = list(zip(qlon, qlat, strict=True))

    print(
        f"{args.n:,} stations over China ({args.clustered:.0%} around 34 cities, the rest "
        f"uniform), {args.queries:,} query points from the same mixture; k={K}, one query "
        f"per call, best of {args.repeat} passes"
    )
    print(
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} (set by this script "
        f"before numpy/pykdtree load: one point per call gains nothing from threads); "
        f"Python {sys.version.split()[0]}"
    )

    start = time.perf_counter()
    xyz = ecef(lon, lat)
    ck = cKDTree(xyz)
    ck_s = time.perf_counter() - start
    start = time.perf_counter()
    index = NearestIndex(lon, lat)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    stations = make_stations(lon, lat, seed=args.seed + 1)
    make_s = time.perf_counter() - start
    start = time.perf_counter()
    sindex = StationIndex(stations, version=1)
    sindex_s = time.perf_counter() - start
    pk = KDTree(xyz)
    print(
        f"build: cKDTree {ck_s * 1e3:.0f} ms, NearestIndex {ours_s * 1e3:.0f} ms, "
        f"{args.n:,} Station objects {make_s:.1f} s, StationIndex {sindex_s:.1f} s"
    )

    q_xyz = ecef(q_lon, q_lat)
    rows_1d = [np.ascontiguousarray(v) for v in q_xyz]  # (3,) each, as cKDTree takes it
    rows_2d = [v.reshape(1, 3) for v in rows_1d]  # (1, 3) each, as pykdtree takes it
    masks = {}
    for share in (0.01, 0.30):
        mask = np.zeros(args.n, np.bool_)
        mask[np.random.default_rng(args.seed + 2).permutation(args.n)[: int(args.n * share)]] = 1
        masks[share] = mask

    def ckdtree() -> None:
        for v in rows_1d:
            ck.query(v, k=K)

    def pykdtree() -> None:
        for v in rows_2d:
            pk.query(v, k=K)

    def ours() -> None:
        for x, y in pts:
            index.query(x, y, k=K)

    def ours_bearings() -> None:
        for x, y in pts:
            index.with_bearings(x, y, index.query(x, y, k=K))

    def ours_mask(share: float) -> Callable[[], None]:
        mask, key = masks[share], ("bench", share)

        def run() -> None:
            for x, y in pts:
                index.query(x, y, k=K, mask=mask, mask_key=key)

        return run

    def search(**kw: object) -> Callable[[], None]:
        def run() -> None:
            for x, y in pts:
                sindex.search(x, y, k=K, at=AT, **kw)  # type: ignore[arg-type]

        return run

    open_mask, _ = sindex.open_mask(AT)
    active = sindex.status_mask(Status.ACTIVE)
    ebike = sindex.filter_mask(amenities=("ebike_charging",))
    aed = sindex.filter_mask(amenities=("aed",))
    assert ebike is not None
    assert aed is not None
    share_open = np.mean(open_mask & active)
    cases: list[tuple[str, Callable[[], None]]] = [
        ("reference: scipy cKDTree, bare", ckdtree),
        ("pykdtree, bare", pykdtree),
        ("ours: NearestIndex.query", ours),
        ("ours: query + with_bearings", ours_bearings),
        ("ours: query, filter 1 %", ours_mask(0.01)),
        ("ours: query, filter 30 %", ours_mask(0.30)),
        (f"search open_now ({share_open:.0%})", search(open_now=True)),
        (
            f"search open_now+ebike ({np.mean(open_mask & ebike):.0%})",
            search(open_now=True, amenities=("ebike_charging",)),
        ),
        (
            f"search open_now+aed ({np.mean(open_mask & aed):.1%})",
            search(open_now=True, amenities=("aed",)),
        ),
    ]

    # The first query with a new filter builds that filter's tree; later ones reuse it.
    x0, y0 = pts[0]
    first: dict[str, Callable[[], object]] = {
        "filter 1 %": lambda: index.query(x0, y0, mask=masks[0.01], mask_key=("bench", 0.01)),
        "filter 30 %": lambda: index.query(x0, y0, mask=masks[0.30], mask_key=("bench", 0.30)),
        "open_now": lambda: sindex.search(x0, y0, at=AT, open_now=True),
        "open_now+ebike": lambda: sindex.search(
            x0, y0, at=AT, open_now=True, amenities=("ebike_charging",)
        ),
        "open_now+aed": lambda: sindex.search(x0, y0, at=AT, open_now=True, amenities=("aed",)),
    }
    cold = {name: best_of(1, run) for name, run in first.items()}
    for _, run in cases:
        run()  # warm-up pass

    best = dict.fromkeys((name for name, _ in cases), float("inf"))
    for _ in range(args.repeat):  # interleaved, so drifts in machine speed hit every case
        for name, run in cases:
            best[name] = min(best[name], best_of(1, run))

    brute_pts = pts[: args.brute]

    def brute() -> None:
        for x, y in brute_pts:
            d = haversine_m(x, y, lon, lat)
            top = np.argpartition(d, K)[:K]
            top[np.argsort(d[top])]

    brute_s = best_of(max(1, args.repeat // 2), brute) / len(brute_pts)

    n = len(pts)
    ref_us = best["reference: scipy cKDTree, bare"] / n * 1e6
    print(f"\n{'case':40} {'µs/query':>9} {'vs cKDTree':>10}")
    slower = []
    for name, _ in cases:
        us = best[name] / n * 1e6
        ratio = us / ref_us
        flag = ""
        if name.startswith("ours") and ratio > 1.0:
            flag = "  > goal 1.0"
            slower.append(name)
        print(f"{name:40} {us:9.1f} {ratio:10.2f}{flag}")
    print(
        f"{'brute force numpy haversine':40} {brute_s * 1e6:9.0f} {brute_s * 1e6 / ref_us:10.0f}"
        f"  ({len(brute_pts)} queries)"
    )

    counts = {name: {"near": 0, "mid": 0, "far": 0} for name in ("no filter", "1 %")}
    for x, y in pts:
        counts["no filter"][regime(index.query(x, y, k=K).distance_m[-1])] += 1
        found = index.query(x, y, k=K, mask=masks[0.01], mask_key=("bench", 0.01))
        counts["1 %"][regime(found.distance_m[-1])] += 1
    print(
        f"where the 10th station is (near <= {NEAR_M / 1e3:.0f} km: one curvature; mid <= "
        f"{FAR_M / 1e3:.0f} km: re-ranked by both ends' curvature; far: by Geod): "
        + "; ".join(
            f"{name} " + ", ".join(f"{r} {c}" for r, c in regimes.items())
            for name, regimes in counts.items()
        )
    )
    print(
        "first query with a new filter (builds its tree): "
        + ", ".join(f"{name} {s * 1e3:.0f} ms" for name, s in cold.items())
    )

    m = min(args.check, n)
    print(f"\ncorrectness on {m} queries vs brute-force pyproj Geod over every station:")
    for label, mask, key in (
        ("no filter", None, None),
        ("filter 1 %", masks[0.01], ("bench", 0.01)),
    ):
        bad, ties, d_err, b_err, geod_s = check(index, qlon[:m], qlat[:m], mask=mask, mask_key=key)
        print(
            f"  {label:11} mismatches {bad}, tie reorders {ties}, max distance error "
            f"{d_err * 1e3:.3f} mm, max bearing error {b_err:.1e}°, brute-force Geod "
            f"{geod_s * 1e3:.1f} ms/query"
        )

    slow_search = any(best[s] / n * 1e6 > ref_us for s in cases_named("search", cases))
    if slower or slow_search or args.profile:
        where_the_time_goes(index, sindex, pts, masks, args.repeat)
    if args.profile:
        for name, run in cases:
            if not name.startswith(("ref", "pykdtree")):
                profile(name, run, top=10)


if __name__ == "__main__":
    main()
