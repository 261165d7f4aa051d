"""Read an OpenStreetMap extract (``.osm.pbf``, ``.osm`` XML, ``.osm.bz2``/``.osm.gz``) into the
street network of one travel profile (walk or e-bike), with pyosmium.

One pass, filtered in C++: osmium keeps every node's location and hands over the ways with
a ``highway`` tag, located (their tags decide, in :data:`PROFILES`, whether and which way
the profile may travel them). Two passes (ways, then only their nodes by
``osmium.filter.IdFilter``) were measured slower on the 1 M-edge grid (bench/network_import.py,
reading 6.3-7.2 s against 2.4-6.6 s on a shared 2-core machine) and need more code;
osmium's location index holds every node of the file (about 8-16 bytes a node: a few
hundred MB for a province).

The profiles (one table, :data:`PROFILES`):

- **walk**: footway (crossings are ``footway=crossing``), path, pedestrian, steps (flagged:
  slower, ``network_steps_factor``), living_street, residential, service, unclassified,
  track, corridor, cycleway, tertiary/secondary/primary and their ``_link``; motorway and
  trunk (and ``_link``) only with ``foot=yes|designated|permissive``; ``foot=no`` never;
  ``access=no|private`` only with ``foot=yes|designated|permissive``; ``motorroad=yes``
  (motor vehicles only) likewise. Walking ignores
  ``oneway`` except ``oneway:foot=yes|-1``. Pedestrian areas (``area=yes``) are skipped: their
  outline is not a path across them.
- **ebike** (e-bikes ride where bicycles do in Chongqing's rules: no motorways, no steps):
  residential, service, living_street, unclassified, track, cycleway,
  tertiary/secondary/primary and their ``_link``; path, footway and pedestrian only with
  ``bicycle=yes|designated|permissive``; never motorway, trunk or steps; ``bicycle=no``
  never; ``access=no|private``, ``vehicle=no|private`` and ``motorroad=yes`` only with
  ``bicycle=yes|designated|permissive``. Obeys
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
from typing import Any, Protocol

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
    vehicle: bool = False  # a vehicle: vehicle=no|private refuses it (unless the mode tag allows)


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
        vehicle=True,
    ),
}

# The file names osmium reads (it picks the format from the name).
SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".osm.opl")


@dataclass(frozen=True)
class WayRule:
    """What a profile does with one way: kept, and travelled forward/backward."""

    forward: bool
    backward: bool


class Tags(Protocol):
    """A way's tags: a dict, or pyosmium's TagList read in place (building a dict per way
    tripled the ways pass on the 1 M-edge grid: 3.6 s against 1.0 s)."""

    def get(self, key: str, default: str, /) -> str | None: ...


def way_rule(profile: Profile, tags: Tags) -> WayRule | str:
    """The rule for a way with these tags, or why it is skipped (a short reason)."""
    highway = tags.get("highway", "") or ""
    mode = tags.get(profile.mode, "")
    if mode == "no":
        return f"{profile.mode}=no"
    if highway not in profile.always and not (highway in profile.if_allowed and mode in _YES):
        return f"highway={highway}"
    access = tags.get("access", "")
    if access in _NO_ACCESS and mode not in _YES:
        return f"access={access}"
    # motorroad=yes: motor vehicles only (Chongqing's elevated 快速路 tagged primary), no
    # walkers, no bicycles; vehicle=no: no vehicle, so no e-bike (a pedestrianised street).
    if tags.get("motorroad", "") == "yes" and mode not in _YES:
        return "motorroad=yes"
    vehicle = tags.get("vehicle", "") if profile.vehicle else ""
    if vehicle in _NO_ACCESS and mode not in _YES:
        return f"vehicle={vehicle}"
    if tags.get("area", "") == "yes":
        return "area=yes"
    oneway = tags.get(f"oneway:{profile.mode}", "")
    if not oneway and profile.oneway:
        oneway = tags.get("oneway", "")
        if not oneway and tags.get("junction", "") in ("roundabout", "circular"):
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
            f"文件 {name} 有 {size / 2**20:,.1f} MB，超过上限 {max_bytes / 2**20:,.0f} MB"
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
    stats = ReadStats()
    t0 = time.perf_counter()
    try:
        ways = _read_ways(file, PROFILES[travel], stats, show)
    # osmium: RuntimeError ("PBF error: invalid BlobHeader size", XML errors),
    # InvalidLocationError (XML lon="500"), ValueError ("OSM tag value is too long": > 1024)
    except (RuntimeError, ValueError, osmium.InvalidLocationError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise NetworkFileError(f"{file.name} 不是可读的 OpenStreetMap 文件（{detail}）") from None
    stats.ways_s = time.perf_counter() - t0
    if not ways.way_ids:
        raise NetworkFileError(f"文件 {file.name} 里没有{travel.label}可走的道路")
    t1 = time.perf_counter()
    show("计算路段", 0.9)
    network = _build(travel, ways, stats)
    if network.edges == 0:
        raise NetworkFileError(f"文件 {file.name} 里没有{travel.label}可走的道路（节点缺失）")
    stats.build_s = time.perf_counter() - t1
    stats.read_s = time.perf_counter() - t0
    show("完成", 1.0)
    return network, stats


@dataclass
class _Ways:
    """The kept ways as flat arrays: each way's refs from ``starts[i]``, every ref's
    location (NaN where the file lacks the node)."""

    refs: array[int] = field(default_factory=lambda: array("q"))
    lon: array[float] = field(default_factory=lambda: array("d"))
    lat: array[float] = field(default_factory=lambda: array("d"))
    starts: array[int] = field(default_factory=lambda: array("q"))
    way_ids: array[int] = field(default_factory=lambda: array("q"))
    fwd: array[int] = field(default_factory=lambda: array("b"))
    back: array[int] = field(default_factory=lambda: array("b"))
    steps: array[int] = field(default_factory=lambda: array("b"))


_NAN = float("nan")


def _read_ways(file: Path, profile: Profile, stats: ReadStats, show: Progress) -> _Ways:
    """One pass: osmium keeps every node's location (in C++) and hands over only the ways
    with a highway tag, their nodes located (see the module docstring for why not two)."""
    out = _Ways()
    refs, lon, lat = out.refs, out.lon, out.lat
    show("读取道路", 0.0)
    last = time.perf_counter()
    processor = (
        osmium.FileProcessor(os.fspath(file), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for n, way in enumerate(processor):
        if n % 4096 == 0 and (now := time.perf_counter()) - last >= 2.0:
            last = now
            show(f"读取道路：已保留 {len(out.way_ids):,} 条", 0.0)
        if not isinstance(way, osmium.osm.Way):
            continue  # a highway node (crossing, traffic signals…)
        tags = way.tags
        rule = way_rule(profile, tags)
        if isinstance(rule, str):
            stats.skipped[rule] += 1
            continue
        nodes = way.nodes
        if len(nodes) < 2:
            stats.skipped["fewer than 2 nodes"] += 1
            continue
        highway = tags.get("highway") or ""
        stats.ways_by_highway[highway] += 1
        out.starts.append(len(refs))
        out.way_ids.append(way.id)
        out.fwd.append(rule.forward)
        out.back.append(rule.backward)
        out.steps.append(highway == "steps")
        for nd in nodes:
            refs.append(nd.ref)
            loc = nd.location
            if loc.valid():
                lon.append(loc.lon)
                lat.append(loc.lat)
            else:  # cut at the extract's edge
                lon.append(_NAN)
                lat.append(_NAN)
    return out


def _build(travel: Travel, ways: _Ways, stats: ReadStats) -> Network:
    r = np.frombuffer(ways.refs, dtype=np.int64)
    x = np.frombuffer(ways.lon)
    y = np.frombuffer(ways.lat)
    s = np.frombuffer(ways.starts, dtype=np.int64)
    way_of_ref = np.repeat(np.arange(s.size), np.diff(np.append(s, r.size)))
    found = np.isfinite(x) & np.isfinite(y)
    stats.missing_nodes = int(np.unique(r[~found]).size)
    clipped = np.unique(way_of_ref[~found])
    stats.clipped_ways = int(clipped.size)
    # Segments between consecutive refs of one way whose both nodes are present: a way cut
    # at the extract's edge keeps its pieces.
    keep = (way_of_ref[:-1] == way_of_ref[1:]) & found[:-1] & found[1:] & (r[:-1] != r[1:])
    at = np.flatnonzero(keep)
    ends = np.concatenate([at, at + 1])  # positions in the refs of each piece's two ends
    w = way_of_ref[at]
    # Only the nodes and ways used, renumbered 0..n-1.
    _, first, inverse = np.unique(r[ends], return_index=True, return_inverse=True)
    u, v = inverse[: at.size], inverse[at.size :]
    used_ways, way_index = np.unique(w, return_inverse=True)
    stats.clipped_dropped = int(np.setdiff1d(clipped, used_ways).size)
    stats.segments = int(at.size)
    return Network.from_segments(
        travel.value,
        x[ends[first]],
        y[ends[first]],
        u,
        v,
        forward=np.frombuffer(ways.fwd, dtype=np.int8).astype(bool)[w],
        backward=np.frombuffer(ways.back, dtype=np.int8).astype(bool)[w],
        steps=np.frombuffer(ways.steps, dtype=np.int8).astype(bool)[w],
        way=way_index,
        way_ids=np.frombuffer(ways.way_ids, dtype=np.int64)[used_ways],
    )
