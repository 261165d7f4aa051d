"""Benchmark the OpenStreetMap import (stations.formats.osm.read_network) on a large file.

Default file: the spike's 1 M-edge grid (/work/spikes/issue17/grid.osm.pbf: 272 k nodes,
68,904 ways, 31 x 31 km). In the same run, the references:

- ``locations``: the reader's own pass (osmium's node location index, the ways with a
  highway tag, every ref's id and location read in Python) doing nothing else: the floor
  of a pyosmium reader;
- ``osmium``: the two-pass alternative, plain (the ways' refs, then their nodes by
  IdFilter), which the reader does not use: slower.

Peak memory: run each under ``/usr/bin/time -v`` with ``--only``::

    /usr/bin/time -v python bench/network_import.py --only reader
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import osmium

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))

from stations.domain.travel import Travel  # noqa: E402
from stations.formats.osm import PROFILES, read_network, way_rule  # noqa: E402

GRID = Path("/work/spikes/issue17/grid.osm.pbf")


def osmium_only(path: Path) -> int:
    """The reader's two passes with nothing done per object but collecting refs."""
    refs: list[int] = []
    ways = osmium.FileProcessor(os.fspath(path), osmium.osm.WAY).with_filter(
        osmium.filter.KeyFilter("highway")
    )
    for way in ways:
        if isinstance(way, osmium.osm.Way):
            refs.extend(n.ref for n in way.nodes)
    need = np.unique(np.array(refs, dtype=np.int64))
    count = 0
    nodes = osmium.FileProcessor(os.fspath(path), osmium.osm.NODE).with_filter(
        osmium.filter.IdFilter(need.tolist())
    )
    for _ in nodes:
        count += 1
    return count


def with_locations(path: Path) -> int:
    """One pass with osmium's location index: the segments' coordinates per way."""
    profile = PROFILES[Travel.WALK]
    refs: array[int] = array("q")
    lon: array[float] = array("d")
    lat: array[float] = array("d")
    processor = (
        osmium.FileProcessor(os.fspath(path))
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        if not isinstance(way, osmium.osm.Way):
            continue
        if isinstance(way_rule(profile, way.tags), str):
            continue
        for n in way.nodes:
            loc = n.location
            refs.append(n.ref)
            if loc.valid():
                lon.append(loc.lon)
                lat.append(loc.lat)
            else:
                lon.append(float("nan"))
                lat.append(float("nan"))
    return len(lon)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=GRID)
    parser.add_argument("--only", choices=("reader", "osmium", "locations"))
    args = parser.parse_args()
    print(f"file {args.file} ({args.file.stat().st_size / 1e6:.1f} MB)")
    runs: dict[str, Callable[[], Any]] = {
        "reader": lambda: read_network(args.file, Travel.WALK),
        "osmium": lambda: osmium_only(args.file),
        "locations": lambda: with_locations(args.file),
    }
    times: dict[str, float] = {}
    for name, run in runs.items():
        if args.only and name != args.only:
            continue
        t0 = time.perf_counter()
        out = run()
        times[name] = time.perf_counter() - t0
        if name == "reader":
            network, stats = out
            print(
                f"read_network walk: {network.nodes:,} nodes, {network.edges:,} edges, "
                f"{network.way_ids.size:,} ways; reading {stats.ways_s:.2f} s, "
                f"build {stats.build_s:.2f} s"
            )
        print(f"{name:10s} {times[name]:7.2f} s")
    if "reader" in times:
        for name in ("osmium", "locations"):
            if name in times:
                print(f"reader / {name}: {times['reader'] / times[name]:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process {peak:,.0f} MB (all runs above)")


if __name__ == "__main__":
    main()
