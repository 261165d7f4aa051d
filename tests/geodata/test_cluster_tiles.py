"""geodata.cluster_tiles: tile slices against brute force, children partition, bounded bodies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.cluster_tiles import (
    MAX_ZOOM,
    TilePoints,
    check_tile,
    max_entries,
    mercator,
    tile_body,
)


def body(points, z, x, y, n_points, keep=None, **kw):
    ids = np.arange(1, n_points + 1, dtype=np.int64)
    cat = (ids % 3).astype(np.int8)
    return tile_body(
        points, z, x, y, ids=ids, state=cat, category=cat, n_categories=3, keep=keep, **kw
    )


def brute(lon, lat, z, x, y):
    """Which points lie in tile z/x/y, from the tile's own corner coordinates in degrees."""
    n = 2**z
    west, east = x / n * 360 - 180, (x + 1) / n * 360 - 180
    north = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * y / n))))
    south = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + 1) / n))))
    return (lon >= west) & (lon < east) & (lat <= north) & (lat > south)


def ids_in(b):
    found = [p[2] for p in b["p"]]
    return found


lons = st.floats(73, 135, allow_nan=False)
lats = st.floats(18, 53, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(st.tuples(lons, lats), min_size=1, max_size=300),
    z=st.integers(0, 12),
    pick=st.integers(0, 299),
)
def test_the_count_of_a_tile_is_a_brute_force_count(pts, z, pick):
    lon, lat = (np.array(v) for v in zip(*pts, strict=True))
    points = TilePoints.of(lon, lat)
    x, y = mercator(lon[pick % len(lon)], lat[pick % len(lon)])
    tx, ty = int(x * 2**z), int(y * 2**z)
    b = body(points, z, tx, ty, len(lon), max_points=20, cell_px=64)
    expected = brute(lon, lat, z, tx, ty)
    # Far from the edges the two ways agree exactly; a point within float error of an
    # edge may go either way in the degrees version only.
    # (A clustered tile's n counts the bubbles centred in it: the slice is what is brute.)
    inside = len(points.in_tile(z, tx, ty)[0])
    assert inside >= 1
    assert abs(inside - int(expected.sum())) <= int(np.sum(_near_edge(lon, lat, z, tx, ty)))
    assert sum(c[2] for c in b["c"]) + len(b["p"]) == b["n"]
    for c in b["c"]:
        assert sum(c[3:]) == c[2] and c[2] >= 2


def _near_edge(lon, lat, z, tx, ty):
    x, y = mercator(lon, lat)
    n = 2**z
    fx, fy = x * n, y * n
    return (np.abs(fx - np.round(fx)) < 1e-9) | (np.abs(fy - np.round(fy)) < 1e-9)


@settings(max_examples=80, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False)),
        min_size=1,
        max_size=200,
    ),
    z=st.integers(0, 10),
    grid=st.booleans(),
)
def test_the_four_children_share_out_a_tile_exactly(pts, z, grid):
    # Points on tile edges included: snap some to the children's shared lines.
    lon, lat = (np.array(v) for v in zip(*pts, strict=True))
    points = TilePoints.of(lon, lat)
    x, y = mercator(lon[0], lat[0])
    tx, ty = int(x * 2**z), int(y * 2**z)
    if grid:  # put half the points exactly on the children's shared lines
        half = len(lon) // 2
        xs = np.full(half, (2 * tx + 1) / 2 ** (z + 1))
        lon[:half] = xs * 360 - 180
    parent = points.in_tile(z, tx, ty)[0]
    children = np.concatenate(
        [points.in_tile(z + 1, 2 * tx + i, 2 * ty + j)[0] for i in (0, 1) for j in (0, 1)]
    )
    assert sorted(children.tolist()) == sorted(parent.tolist())


def test_edges_are_half_open():
    # x = 0.5 exactly (lon 0) and y = 0.5 exactly (lat 0): both in the tile right and below.
    points = TilePoints.of(np.array([0.0]), np.array([0.0]))
    assert len(points.in_tile(1, 1, 1)[0]) == 1
    for x, y in ((0, 0), (0, 1), (1, 0)):
        assert len(points.in_tile(1, x, y)[0]) == 0
    # The east edge of the world (180°) wraps to the west one; the poles stay in.
    edge = TilePoints.of(np.array([180.0, 10.0, 10.0]), np.array([0.0, 90.0, -90.0]))
    assert edge.in_tile(0, 0, 0)[0].tolist() == [0, 1, 2]


def test_the_body_is_bounded_however_many_points():
    rng = np.random.default_rng(1)
    n = 200_000
    lon = 106.5 + rng.normal(0, 0.05, n)
    lat = 29.5 + rng.normal(0, 0.05, n)
    points = TilePoints.of(lon, lat)
    x, y = mercator(106.5, 29.5)
    for z in (0, 5, 10, 14):
        tx, ty = int(x * 2**z), int(y * 2**z)
        b = body(points, z, tx, ty, n)
        assert len(b["p"]) + len(b["c"]) <= max_entries()
        assert sum(c[2] for c in b["c"]) + len(b["p"]) == b["n"]
    assert body(points, 0, 0, 0, n)["n"] == n
    for p in b["p"]:
        assert 0 <= p[0] < 256 and 0 <= p[1] < 256


def test_keep_filters_by_original_position_and_points_carry_their_id_and_state():
    lon = np.array([106.50, 106.51, 106.52])
    lat = np.array([29.50, 29.51, 29.52])
    points = TilePoints.of(lon[::-1], lat[::-1])  # ids by position in these reversed arrays
    keep = np.array([True, False, True])
    b = body(points, 8, *(int(v * 256) for v in mercator(106.51, 29.51)), 3, keep=keep)
    assert sorted(ids_in(b)) == [1, 3]
    assert {p[2]: p[3] for p in b["p"]} == {1: 1, 3: 0}


@pytest.mark.parametrize(("z", "x", "y"), [(-1, 0, 0), (MAX_ZOOM + 1, 0, 0), (2, 4, 0), (2, 0, -1)])
def test_a_tile_outside_the_scheme_is_refused(z, x, y):
    with pytest.raises(ValueError, match=r"zoom|x and y"):
        check_tile(z, x, y)


def test_points_by_the_edge_are_sent_to_be_drawn_not_counted():
    # Two points either side of the line between tiles 1/0/0 and 1/1/0 (lon 0), 2 px apart
    # at zoom 8, and one far away.
    lon = np.array([-0.004, 0.004, 90.0])
    lat = np.array([10.0, 10.0, 10.0])
    points = TilePoints.of(lon, lat)
    x, y = mercator(-0.004, 10.0)
    tx, ty = int(x * 256), int(y * 256)
    b = body(points, 8, tx, ty, 3)
    assert ids_in(b) == [1] and b["n"] == 1
    assert len(b["e"]) == 1 and b["e"][0][0] >= 256  # the other one, just east of the tile
    b = body(points, 8, tx + 1, ty, 3)
    assert ids_in(b) == [2] and len(b["e"]) == 1 and b["e"][0][0] < 0


def _all_tiles(points, z, n_points, **kw):
    """Every tile at zoom z holding or next to a point: their bodies."""
    n = 2**z
    tiles = {(int(x * n), int(y * n)) for x, y in zip(points.x, points.y, strict=True)}
    near = {(a + i, b + j) for a, b in tiles for i in (-1, 0, 1) for j in (-1, 0, 1)}
    return [body(points, z, a, b, n_points, **kw) for a, b in near if 0 <= a < n and 0 <= b < n]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    z=st.integers(3, 12),
    spread=st.floats(0.001, 2.0),
)
def test_every_station_is_counted_once_over_the_tiles_whatever_the_clustering(seed, z, spread):
    rng = np.random.default_rng(seed)
    lon = 106.5 + rng.normal(0, spread, 300)
    lat = 29.5 + rng.normal(0, spread, 300)
    points = TilePoints.of(lon, lat)
    bodies = _all_tiles(points, z, 300, max_points=20)
    # The bubbles and points of all the tiles covering the stations add up to them, each
    # point once.
    assert sum(b["n"] for b in bodies) == 300
    assert sum(sum(c[2] for c in b["c"]) + len(b["p"]) for b in bodies) == 300
    found = [p[2] for b in bodies for p in b["p"]]
    assert len(found) == len(set(found))
    for b in bodies:
        assert len(b["p"]) + len(b["c"]) <= max_entries(20)
        for c in b["c"]:
            assert 0 <= c[0] < 256 and 0 <= c[1] < 256 and sum(c[3:]) == c[2] >= 2


def test_a_city_on_a_tile_corner_is_one_bubble_whichever_tile_holds_it():
    # 2,000 stations within a few pixels of the corner the four tiles 10/x/y to x+1/y+1
    # share (and none elsewhere): one bubble over the four, not one per tile.
    z, tx, ty = 10, 823, 420
    n = 2**z
    rng = np.random.default_rng(3)
    x = (tx + 1) / n + rng.normal(0, 4 / 256 / n, 2000)
    y = (ty + 1) / n + rng.normal(0, 4 / 256 / n, 2000)
    lon = x * 360 - 180
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * y))))
    points = TilePoints.of(lon, lat)
    bodies = [body(points, z, tx + i, ty + j, 2000) for i in (0, 1) for j in (0, 1)]
    bubbles = [c for b in bodies for c in b["c"]]
    assert len(bubbles) == 1 and bubbles[0][2] + sum(len(b["p"]) for b in bodies) == 2000
    # Each tile still holds a share of the stations: the old per-tile cells made four.
    assert all(len(points.in_tile(z, b["x"], b["y"])[0]) > 400 for b in bodies)
