"""geodata.network: the arrays every package builds with Network.from_segments (CSR, pieces,
one-way rules, geodesic lengths, steps) and their npz round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geodata.network import Network, NetworkFormatError

GEOD = Geod(ellps="WGS84")
LON = np.array([106.55, 106.551, 106.552, 106.552])
LAT = np.array([29.56, 29.56, 29.561, 29.56])


def _net() -> Network:
    # 0-1 both ways, 1-2 one way 1 -> 2, 2-3 one way 3 -> 2 (backward only), steps on 1-2;
    # a piece allowed neither way and a loop are dropped.
    return Network.from_segments(
        "walk",
        LON,
        LAT,
        [0, 1, 3, 0, 2, 1],
        [1, 2, 2, 3, 2, 1],
        forward=[True, True, True, False, True, True],
        backward=[True, False, False, False, True, True],
        steps=[False, True, False, False, False, False],
        way=[0, 0, 1, 1, 1, 1],
        way_ids=[1001, 1002],
    )


def _edges(net: Network) -> set[tuple[int, int]]:
    src = net.edge_sources()
    return set(zip(src.tolist(), net.indices.tolist(), strict=True))


def test_edges_follow_the_one_way_rules_and_drop_unusable_pieces() -> None:
    net = _net()
    assert _edges(net) == {(0, 1), (1, 0), (1, 2), (3, 2)}
    assert net.seg_u.size == 3 and net.edges == 4 and net.nodes == 4
    # Each piece names its edges; -1 where that way is forbidden.
    for p in range(net.seg_u.size):
        u, v = int(net.seg_u[p]), int(net.seg_v[p])
        for e, a, b in ((net.seg_fwd[p], u, v), (net.seg_back[p], v, u)):
            if e >= 0:
                assert (int(net.edge_sources()[e]), int(net.indices[e])) == (a, b)
                assert net.edge_seg[e] == p
    assert np.all(np.diff(net.edge_sources()) >= 0)  # CSR rows in order


def test_lengths_are_geodesic_and_steps_are_slower() -> None:
    net = _net()
    src = net.edge_sources()
    _, _, want = GEOD.inv(LON[src], LAT[src], LON[net.indices], LAT[net.indices])
    assert net.length_m == pytest.approx(want, rel=1e-6)
    assert net.seg_length_m[net.edge_seg] == pytest.approx(net.length_m)
    flat = net.seconds(4.5)
    slow = net.seconds(4.5, 0.4)
    on_steps = net.steps
    assert on_steps.tolist() == [
        e == (1, 2) for e in zip(src.tolist(), net.indices.tolist(), strict=True)
    ]
    assert slow[on_steps] == pytest.approx(flat[on_steps] / 0.4)
    assert slow[~on_steps] == pytest.approx(flat[~on_steps])
    assert flat == pytest.approx(net.length_m / (4.5 / 3.6), rel=1e-6)


def test_ways_and_bbox() -> None:
    net = _net()
    assert net.way_ids[net.edge_way].tolist() == [
        {(0, 1): 1001, (1, 0): 1001, (1, 2): 1001, (3, 2): 1002}[e]
        for e in zip(net.edge_sources().tolist(), net.indices.tolist(), strict=True)
    ]
    assert net.bbox == (LON.min(), LAT.min(), LON.max(), LAT.max())


def test_npz_round_trip_keeps_every_array() -> None:
    net = _net()
    back = Network.from_npz(net.to_npz(), meta={"source": "x"})
    assert back.profile == "walk" and back.meta == {"source": "x"}
    for name in Network._ARRAYS:
        assert np.array_equal(getattr(back, name), getattr(net, name)), name
        assert getattr(back, name).dtype == getattr(net, name).dtype, name


def test_damaged_or_foreign_npz_is_refused() -> None:
    with pytest.raises(NetworkFormatError):
        Network.from_npz(b"not an npz at all")
    data = bytearray(_net().to_npz())
    with pytest.raises(NetworkFormatError):
        Network.from_npz(bytes(data[: len(data) // 2]))


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        Network.from_segments("car", LON, LAT, [0], [1], forward=[True], backward=[True])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.booleans(), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_csr_holds_exactly_the_allowed_directions(pieces) -> None:
    rng = np.random.default_rng(len(pieces))
    lon = 106.55 + rng.uniform(0, 0.01, 8)
    lat = 29.56 + rng.uniform(0, 0.01, 8)
    net = Network.from_segments(
        "ebike",
        lon,
        lat,
        [p[0] for p in pieces],
        [p[1] for p in pieces],
        forward=[p[2] for p in pieces],
        backward=[p[3] for p in pieces],
    )
    want: list[tuple[int, int]] = []
    for u, v, f, b in pieces:
        if u != v:
            want += [(u, v)] * f + [(v, u)] * b
    src = net.edge_sources()
    assert sorted(zip(src.tolist(), net.indices.tolist(), strict=True)) == sorted(want)
    assert net.indptr[-1] == net.edges == len(want)
    assert ((net.seg_fwd >= 0) | (net.seg_back >= 0)).all()
