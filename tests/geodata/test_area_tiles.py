"""Area tiles: shapes clipped to each tile, simplified for its zoom, within a pixel of the
truth, and the 全国 / 全市 rule for what the whole registry is called."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geodata.area_tiles import EXACT_FROM, MARGIN_PX, AreaLayer, groups_of, to_unit_square
from geodata.cluster_tiles import mercator
from geodata.districts import District, Districts, chongqing_districts, whole_name


def circle(lon: float, lat: float, r_deg: float, n: int) -> shapely.Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return shapely.Polygon(np.column_stack([lon + r_deg * np.cos(t), lat + r_deg * np.sin(t)]))


def rebuilt(rings: list[list[int]]) -> shapely.Geometry:
    """A feature's rings as one area, filled by the even-odd rule (as the page fills it)."""
    area = shapely.Polygon()
    for ring in rings:
        xy = np.asarray(ring, float).reshape(-1, 2)
        area = shapely.symmetric_difference(area, shapely.make_valid(shapely.Polygon(xy)))
    return area


def exact_in_tile(shape: shapely.Geometry, z: int, tx: int, ty: int) -> shapely.Geometry:
    """``shape`` (unit square) clipped to the tile with its margin, in the tile's pixels."""
    n = 2**z
    pad = MARGIN_PX / 256
    clipped = shapely.clip_by_rect(shape, (tx - pad) / n, (ty - pad) / n, (tx + 1 + pad) / n,
                                   (ty + 1 + pad) / n)  # fmt: skip
    return shapely.transform(clipped, lambda c: c * 256 * n - (tx * 256, ty * 256))


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int]:
    x, y = mercator(lon, lat)
    return int(float(x) * 2**z), int(float(y) * 2**z)


@pytest.fixture(scope="module")
def layer():
    # A fine circle (20,000 vertices, ~110 km across) with a hole, and a square beside it.
    ring = circle(106.5, 29.5, 0.5, 20_000)
    holed = shapely.Polygon(ring.exterior.coords, [circle(106.5, 29.5, 0.1, 500).exterior.coords])
    square = shapely.box(107.1, 29.0, 107.6, 29.5)
    shapes = to_unit_square([holed, square])
    return AreaLayer(shapes, ["500001", "500002"], ["圆区", "方县"]), shapes


@pytest.mark.parametrize("z", [3, 5, 7, 9, 11, 13])
def test_a_tile_holds_its_shapes_clipped_within_a_pixel_of_the_exact_ones(layer, z):
    areas, shapes = layer
    # On the circle's edge: an outline through the tile at every zoom.
    tx, ty = tile_at(106.5 + 0.5 * np.cos(1.0), 29.5 + 0.5 * np.sin(1.0), z)
    body = {k: (name, rings) for k, name, rings in areas.tile(z, tx, ty)}
    assert body["500001"][0] == "圆区"
    for k, shape in zip(["500001", "500002"], shapes, strict=True):
        exact = exact_in_tile(shape, z, tx, ty)
        if exact.is_empty:
            assert k not in body
            continue
        _, rings = body[k]
        xy = np.concatenate([np.asarray(r).reshape(-1, 2) for r in rings])
        assert xy.min() >= -MARGIN_PX and xy.max() <= 256 + MARGIN_PX  # clipped
        drawn = rebuilt(rings)
        assert drawn.is_valid
        # Within a pixel everywhere (half a pixel of simplification, half of rounding),
        # so the area differs by at most a pixel's width along the outline.
        assert shapely.hausdorff_distance(drawn.boundary, exact.boundary) <= 1.5
        assert abs(drawn.area - exact.area) <= exact.boundary.length * 1.0 + 4


def test_low_zooms_carry_few_vertices_high_zooms_the_exact_shape(layer):
    areas, _ = layer
    counts = {z: areas.vertices(z) for z in (3, 7, 11, EXACT_FROM)}
    assert (
        counts[3] < counts[7] < counts[11] < counts[EXACT_FROM] == 20_001 + 501 + 5
    )  # rings closed
    assert counts[3] < 200  # a 110 km circle is ~10 px across at zoom 3
    tx, ty = tile_at(106.5, 29.5, 3)
    (_, _, rings), *_ = areas.tile(3, tx, ty)
    assert sum(len(r) for r in rings) // 2 < 100


def test_a_tile_away_from_the_shapes_is_empty_and_keep_chooses_shapes(layer):
    areas, _ = layer
    assert areas.tile(6, 0, 0) == []
    tx, ty = tile_at(106.5, 29.5, 5)
    assert [k for k, _, _ in areas.tile(5, tx, ty, np.array([False, True]))] == ["500002"]
    with pytest.raises(ValueError):
        areas.tile(3, 8, 0)


def test_groups_dissolve_neighbours_into_one_outline():
    west, east = shapely.box(100, 30, 101, 31), shapely.box(101, 30, 102, 31)
    keys, merged = groups_of(
        np.array([west, east, shapely.box(110, 30, 111, 31)]), ["51"] * 2 + ["52"]
    )
    assert keys == ["51", "52"]
    assert merged[0].equals(shapely.box(100, 30, 102, 31))


def test_the_whole_registry_is_a_city_unless_its_districts_span_provinces():
    assert whole_name(chongqing_districts()) == "全市"
    two = Districts(
        [
            District.from_geometry("500101", "万州区", shapely.box(108, 30, 109, 31)),
            District.from_geometry("510104", "锦江区", shapely.box(104, 30, 105, 31)),
        ],
        source="test",
    )
    assert whole_name(two) == "全国"
