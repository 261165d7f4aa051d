"""Read an OpenStreetMap extract (``.osm.pbf``, ``.osm`` XML, ``.osm.bz2``/``.osm.gz``) into the
street network of one travel profile (walk or e-bike), with pyosmium.

Two passes, both filtered in C++: the ways with a ``highway`` tag (their tags decide, in
:data:`PROFILES`, whether and which way the profile may travel them; their node refs are
kept), then only the nodes those ways use (``osmium.filter.IdFilter``), so memory follows
what the profile uses, not the file's buildings. Ways cut at the extract's edge refer to
nodes absent from the file: they are split at the missing nodes and their pieces kept
(counted as ``clipped_ways``). Nodes are renumbered 0..n-1 (only the nodes the kept ways
use); the lengths are geodesic (geodata.network.Network.from_segments).

The profiles (one table, :data:`PROFILES`):

- **walk**: footway (crossings are ``footway=crossing``), path, pedestrian, steps (flagged:
  slower, ``network_steps_factor``), living_street, residential, service, unclassified,
  track, corridor, cycleway, tertiary/secondary/primary and their ``_link``; motorway and
  trunk (and ``_link``) only with ``foot=yes|designated|permissive``; ``foot=no`` never;
  ``access=no|private`` only with ``foot=yes|designated|permissive``. Walking ignores
  ``oneway`` except ``oneway:foot=yes|-1``. Pedestrian areas (``area=yes``) are skipped: their
  outline is not a path across them.
- **ebike** (e-bikes ride where bicycles do in Chongqing's rules: no motorways, no steps):
  residential, service, living_street, unclassified, track, cycleway,
  tertiary/secondary/primary and their ``_link``; path, footway and pedestrian only with
  ``bicycle=yes|designated|permissive``; never motorway, trunk or steps; ``bicycle=no``
  never; ``access=no|private`` only with ``bicycle=yes|designated|permissive``. Obeys
  ``oneway=yes|1|true`` (and ``-1``/``reverse``: against the nodes' order), and
  ``junction=roundabout|circular`` implies one-way; ``oneway:bicycle=no`` lifts it.
"""

from __future__ import annotations

import os
import time
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import osmium

from geodata.network import Network
from stations.domain.travel import NetworkFileError, Travel

Progress = Callable[[str, float], None]

_YES = frozenset({"yes", "designated", "permissive"})
_NO_ACCESS = frozenset({"no", "private"})
_ONEWAY = frozenset({"yes", "1", "true"})
_REVERSE = frozenset({"-1", "reverse"})
_MAJOR = frozenset(
    {"tertiary", "tertiary_link", "secondary", "secondary_link", "primary", "primary_link"}
)
_MOTOR = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})


@dataclass(frozen=True)
class Profile:
    """Which ways a travel profile keeps: ``always`` whatever the mode tag says (unless it is
    no), ``if_allowed`` only with the mode tag yes|designated|permissive, never otherwise."""

    mode: str  # the OSM access key of the mode: foot, bicycle
    always: frozenset[str]
    if_allowed: frozenset[str]
    oneway: bool  # obeys oneway=* (else only oneway:<mode>)


PROFILES: Mapping[Travel, Profile] = {
    Travel.WALK: Profile(
        mode="foot",
        always=frozenset(
            {
                "footway",
                "path",
                "pedestrian",
                "steps",
                "living_street",
                "residential",
                "service",
                "unclassified",
                "track",
                "corridor",
                "cycleway",
            }
        )
        | _MAJOR,
        if_allowed=_MOTOR,
        oneway=False,
    ),
    Travel.EBIKE: Profile(
        mode="bicycle",
        always=frozenset(
            {"residential", "service", "living_street", "unclassified", "track", "cycleway"}
        )
        | _MAJOR,
        if_allowed=frozenset({"path", "footway", "pedestrian"}),
        oneway=True,
    ),
}

# The file names osmium reads (it picks the format from the name).
SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".osm.opl")


@dataclass(frozen=True)
class WayRule:
    """What a profile does with one way: kept, and travelled forward/backward."""

    forward: bool
    backward: bool


def way_rule(profile: Profile, tags: Mapping[str, str]) -> WayRule | str:
    """The rule for a way with these tags, or why it is skipped (a short reason)."""
    highway = tags.get("highway", "")
    mode = tags.get(profile.mode, "")
    if mode == "no":
        return f"{profile.mode}=no"
    if highway not in profile.always and not (highway in profile.if_allowed and mode in _YES):
        return f"highway={highway}"
    if tags.get("access") in _NO_ACCESS and mode not in _YES:
        return f"access={tags['access']}"
    if tags.get("area") == "yes":
        return "area=yes"
    oneway = tags.get(f"oneway:{profile.mode}", "")
    if not oneway and profile.oneway:
        oneway = tags.get("oneway", "")
        if not oneway and tags.get("junction") in ("roundabout", "circular"):
            oneway = "yes"
    if oneway in _ONEWAY:
        return WayRule(True, False)
    if oneway in _REVERSE:
        return WayRule(False, True)
    return WayRule(True, True)


@dataclass
class ReadStats:
    """What the reader counted (JSON-able with :meth:`as_dict`)."""

    ways_by_highway: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    clipped_ways: int = 0  # ways with nodes absent from the file (cut at its edge)
    clipped_dropped: int = 0  # of those, ways without two consecutive nodes in the file
    missing_nodes: int = 0
    segments: int = 0
    read_s: float = 0.0
    ways_s: float = 0.0
    nodes_s: float = 0.0
    build_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ways_by_highway": dict(sorted(self.ways_by_highway.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "clipped_ways": self.clipped_ways,
            "clipped_dropped": self.clipped_dropped,
            "missing_nodes": self.missing_nodes,
            "segments": self.segments,
            "read_s": round(self.read_s, 3),
            "ways_s": round(self.ways_s, 3),
            "nodes_s": round(self.nodes_s, 3),
            "build_s": round(self.build_s, 3),
        }


def _noop(what: str, done: float) -> None:
    """No progress shown."""


def check_file(path: Path, *, max_bytes: int | None = None) -> int:
    """The file's size, or NetworkFileError (missing, unreadable, empty, not an OSM name, too
    large) before anything is read."""
    name = path.name
    if not path.is_file():
        raise NetworkFileError(f"找不到文件 {name}")
    if not name.lower().endswith(SUFFIXES):
        raise NetworkFileError(
            f"{name} 不是 OpenStreetMap 文件：只能导入 .osm.pbf、.osm（或 .osm.bz2、.osm.gz）文件"
        )
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise NetworkFileError(f"无法读取文件 {name}：{exc.strerror or exc}") from None
    if size == 0:
        raise NetworkFileError(f"文件 {name} 是空的")
    if max_bytes is not None and size > max_bytes:
        raise NetworkFileError(
            f"文件 {name} 有 {size / 2**20:,.0f} MB，超过上限 {max_bytes / 2**20:,.0f} MB"
            "（设置 network_max_mb）：请先裁剪出需要的区县"
        )
    return size


def read_network(
    path: Path | str,
    travel: Travel,
    *,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> tuple[Network, ReadStats]:
    """The ``travel`` network of the OpenStreetMap file at ``path`` and what was counted;
    NetworkFileError (Chinese, one line) for a file that cannot be read or has no way the
    profile may use."""
    file = Path(path)
    check_file(file, max_bytes=max_bytes)
    show = progress or _noop
    profile = PROFILES[travel]
    stats = ReadStats()
    t0 = time.perf_counter()
    try:
        refs, starts, way_ids, fwd, back, steps = _read_ways(file, profile, stats, show)
        stats.ways_s = time.perf_counter() - t0
        if not way_ids:
            raise NetworkFileError(f"文件 {file.name} 里没有{travel.label}可走的道路")
        t1 = time.perf_counter()
        need = np.unique(np.frombuffer(refs, dtype=np.int64))
        show("读取节点", 0.35)
        node_ids, lon, lat = _read_nodes(file, need, show)
        stats.nodes_s = time.perf_counter() - t1
    except RuntimeError as exc:  # osmium: "PBF error: invalid BlobHeader size", XML errors
        detail = " ".join(str(exc).split())[:200]
        raise NetworkFileError(f"{file.name} 不是可读的 OpenStreetMap 文件（{detail}）") from None
    t2 = time.perf_counter()
    show("计算路段", 0.9)
    network = _build(travel, refs, starts, way_ids, fwd, back, steps, node_ids, lon, lat, stats)
    if network.edges == 0:
        raise NetworkFileError(f"文件 {file.name} 里没有{travel.label}可走的道路（节点缺失）")
    stats.build_s = time.perf_counter() - t2
    stats.read_s = time.perf_counter() - t0
    show("完成", 1.0)
    return network, stats


def _read_ways(
    file: Path, profile: Profile, stats: ReadStats, show: Progress
) -> tuple[array[int], array[int], array[int], array[int], array[int], array[int]]:
    refs: array[int] = array("q")
    starts: array[int] = array("q")
    way_ids: array[int] = array("q")
    fwd: array[int] = array("b")
    back: array[int] = array("b")
    steps: array[int] = array("b")
    show("读取道路", 0.0)
    last = time.perf_counter()
    processor = osmium.FileProcessor(os.fspath(file), osmium.osm.WAY).with_filter(
        osmium.filter.KeyFilter("highway")
    )
    for n, way in enumerate(processor):
        if not isinstance(way, osmium.osm.Way):
            continue
        tags = way.tags
        rule = way_rule(profile, {t.k: t.v for t in tags})
        if isinstance(rule, str):
            stats.skipped[rule] += 1
            continue
        nodes = way.nodes
        if len(nodes) < 2:
            stats.skipped["fewer than 2 nodes"] += 1
            continue
        highway = tags.get("highway") or ""
        stats.ways_by_highway[highway] += 1
        starts.append(len(refs))
        refs.extend([nd.ref for nd in nodes])
        way_ids.append(way.id)
        fwd.append(rule.forward)
        back.append(rule.backward)
        steps.append(highway == "steps")
        if n % 4096 == 0 and (now := time.perf_counter()) - last >= 2.0:
            last = now
            show(f"读取道路：已保留 {len(way_ids):,} 条", 0.15)
    return refs, starts, way_ids, fwd, back, steps


def _read_nodes(
    file: Path, need: np.ndarray[Any, np.dtype[np.int64]], show: Progress
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    ids: array[int] = array("q")
    lon: array[float] = array("d")
    lat: array[float] = array("d")
    last = time.perf_counter()
    processor = osmium.FileProcessor(os.fspath(file), osmium.osm.NODE).with_filter(
        osmium.filter.IdFilter(need.tolist())
    )
    for n, node in enumerate(processor):
        if not isinstance(node, osmium.osm.Node):
            continue
        loc = node.location
        if not loc.valid():
            continue
        ids.append(node.id)
        lon.append(loc.lon)
        lat.append(loc.lat)
        if n % 16384 == 0 and (now := time.perf_counter()) - last >= 2.0:
            last = now
            show(f"读取节点：{len(ids):,} / {need.size:,}", 0.35 + 0.5 * len(ids) / need.size)
    id_a = np.frombuffer(ids, dtype=np.int64)
    order = np.argsort(id_a, kind="stable")
    return id_a[order], np.frombuffer(lon)[order], np.frombuffer(lat)[order]


def _build(
    travel: Travel,
    refs: array[int],
    starts: array[int],
    way_ids: array[int],
    fwd: array[int],
    back: array[int],
    steps: array[int],
    node_ids: np.ndarray[Any, Any],
    lon: np.ndarray[Any, Any],
    lat: np.ndarray[Any, Any],
    stats: ReadStats,
) -> Network:
    r = np.frombuffer(refs, dtype=np.int64)
    s = np.frombuffer(starts, dtype=np.int64)
    lengths = np.diff(np.append(s, r.size))
    way_of_ref = np.repeat(np.arange(s.size), lengths)
    # Where each ref's node is among the nodes read; -1 when the file lacks it.
    pos = np.searchsorted(node_ids, r)
    pos[pos >= node_ids.size] = 0
    found = node_ids[pos] == r if node_ids.size else np.zeros(r.size, bool)
    pos[~found] = -1
    stats.missing_nodes = int(np.unique(r[~found]).size)
    clipped = np.unique(way_of_ref[~found])
    stats.clipped_ways = int(clipped.size)
    # Segments between consecutive refs of one way whose both nodes are present: a way cut
    # at the extract's edge keeps its pieces.
    same_way = way_of_ref[:-1] == way_of_ref[1:]
    a, b = pos[:-1], pos[1:]
    keep = same_way & (a >= 0) & (b >= 0) & (a != b)
    a, b, w = a[keep], b[keep], way_of_ref[:-1][keep]
    # Only the nodes and ways used, renumbered.
    used, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    u, v = inverse[: a.size], inverse[a.size :]
    used_ways, way_index = np.unique(w, return_inverse=True)
    stats.clipped_dropped = int(np.setdiff1d(clipped, used_ways).size)
    f = np.frombuffer(fwd, dtype=np.int8).astype(bool)[w]
    bk = np.frombuffer(back, dtype=np.int8).astype(bool)[w]
    st = np.frombuffer(steps, dtype=np.int8).astype(bool)[w]
    stats.segments = int(a.size)
    ids = np.frombuffer(way_ids, dtype=np.int64)[used_ways]
    return Network.from_segments(
        travel.value,
        lon[used],
        lat[used],
        u,
        v,
        forward=f,
        backward=bk,
        steps=st,
        way=way_index,
        way_ids=ids,
    )
