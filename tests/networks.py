"""A synthetic street network the size of central Chongqing's, for the store tests and the
benchmarks (bench/network.py, bench/coverage.py --travel, bench/pgrouting.py).

The issue-17 spike's generator (/work/spikes/issue17/graph.py): a ``side`` x ``side`` street
grid 60 m apart around 106.40 E, 29.40 N, jittered (sd 12 m), 3 % of the pieces missing, 10 %
one-way; 522 a side is ~1 M directed edges over 31 x 31 km.
"""

from __future__ import annotations

import numpy as np

from geodata.network import Network


def synthetic_city(
    side: int = 522, seed: int = 7, *, spacing_m: float = 60.0, steps_share: float = 0.0
) -> Network:
    """The grid as a walking network; ``steps_share`` of its pieces are steps."""
    rng = np.random.default_rng(seed)
    ij = np.arange(side * side).reshape(side, side)
    x = (np.arange(side)[None, :] * spacing_m + rng.normal(0, 12, (side, side))).ravel()
    y = (np.arange(side)[:, None] * spacing_m + rng.normal(0, 12, (side, side))).ravel()
    a = np.concatenate([ij[:, :-1].ravel(), ij[:-1, :].ravel()])
    b = np.concatenate([ij[:, 1:].ravel(), ij[1:, :].ravel()])
    keep = rng.random(a.size) > 0.03
    a, b = a[keep], b[keep]
    one_way = rng.random(a.size) < 0.10
    steps = rng.random(a.size) < steps_share
    lat = 29.40 + y / 110_600.0
    lon = 106.40 + x / (111_320.0 * np.cos(np.radians(29.55)))
    return Network.from_segments(
        "walk", lon, lat, a, b, forward=np.ones(a.size, bool), backward=~one_way, steps=steps
    )
