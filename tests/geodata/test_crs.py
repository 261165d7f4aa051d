"""WGS-84 ⇄ GCJ-02 ⇄ BD-09 and CGCS2000: round trips within a centimetre, checked
against an independent implementation (prcoords), shifted only where the providers shift."""

from __future__ import annotations

import functools
import math

import numpy as np
import prcoords
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geodata.crs import (
    CoordinateSystem,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_shift_area,
    outside_china_shift_area,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geodata.distance import distance_m

JIEFANGBEI = (106.5772, 29.5570)
china_lon = st.floats(73.5, 135.0)
china_lat = st.floats(18.0, 53.5)


@pytest.fixture(autouse=True, scope="module")
def _shift_area_built():
    """Build the outline once up front: its first use (~0.3 s) is no test's own time."""
    from geodata.crs import _shift_area

    _shift_area()


def _round_trip_ok(lon, lat, forward, inverse) -> bool:
    """A point comes back where it was; or, just outside the border, it stands for a
    shifted point inside with the very same shifted position (both readings are valid)."""
    shifted = forward(lon, lat)
    back = inverse(*shifted)
    if distance_m(lon, lat, *back) < 0.01:
        return True
    return (
        not in_shift_area(lon, lat)
        and in_shift_area(*back)
        and distance_m(*forward(*back), *shifted) < 0.01
    )


@given(china_lon, china_lat)
def test_gcj02_round_trip_within_a_centimetre(lon, lat):
    assert _round_trip_ok(lon, lat, wgs84_to_gcj02, gcj02_to_wgs84)


@given(china_lon, china_lat)
def test_bd09_round_trip_within_a_centimetre(lon, lat):
    assert _round_trip_ok(lon, lat, wgs84_to_bd09, bd09_to_wgs84)
    assume(in_shift_area(lon, lat))
    g = wgs84_to_gcj02(lon, lat)
    assert distance_m(*g, *bd09_to_gcj02(*gcj02_to_bd09(*g))) < 0.01


def test_round_trips_on_arrays_of_ten_thousand_points():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73.5, 135, 10_000), rng.uniform(18, 53.5, 10_000)
    inside = in_shift_area(lon, lat)
    assert 0.2 < inside.mean() < 0.8
    for crs in ("gcj02", "bd09", "cgcs2000"):
        x, y = from_wgs84(lon, lat, crs=crs)
        assert x.shape == lon.shape
        bx, by = to_wgs84(x, y, crs=crs)
        assert float(np.max(distance_m(lon[inside], lat[inside], bx[inside], by[inside]))) < 0.01
        back = distance_m(lon, lat, bx, by) < 0.01
        # Abroad, only the band just outside the border may read as shifted.
        assert back[~inside].mean() > 0.99, crs


@settings(max_examples=300)
@given(china_lon, china_lat)
def test_forward_transforms_agree_with_prcoords(lon, lat):
    assume(in_shift_area(lon, lat))
    ref_g = prcoords.wgs_gcj(prcoords.Coords(lat, lon), check_china=False)
    assert distance_m(*wgs84_to_gcj02(lon, lat), ref_g.lon, ref_g.lat) < 0.01
    ref_b = prcoords.wgs_bd(prcoords.Coords(lat, lon), check_china=False)
    assert distance_m(*wgs84_to_bd09(lon, lat), ref_b.lon, ref_b.lat) < 0.01


@settings(max_examples=300)
@given(china_lon, china_lat)
def test_precise_inverses_agree_with_prcoords(lon, lat):
    assume(in_shift_area(lon, lat))
    # prcoords' iterative ("bored") inverses stop at about a centimetre; ours go further.
    g = wgs84_to_gcj02(lon, lat)
    ours = gcj02_to_wgs84(*g)
    ref = prcoords.gcj_wgs_bored(prcoords.Coords(g[1], g[0]), check_china=False)
    assert distance_m(*ours, ref.lon, ref.lat) < 0.03
    assert distance_m(lon, lat, *ours) <= max(distance_m(lon, lat, ref.lon, ref.lat), 0.001)
    b = wgs84_to_bd09(lon, lat)
    ours = bd09_to_wgs84(*b)
    ref = prcoords.bd_wgs_bored(prcoords.Coords(b[1], b[0]), check_china=False)
    assert distance_m(*ours, ref.lon, ref.lat) < 0.03
    assert distance_m(lon, lat, *ours) <= max(distance_m(lon, lat, ref.lon, ref.lat), 0.001)


def test_the_one_step_inverse_is_not_good_enough_but_ours_is():
    # The common one-step inverse (prcoords.gcj_wgs) is off by metres; ours by < 1 mm.
    rng = np.random.default_rng(3)
    worst_naive = worst_ours = 0.0
    for lon, lat in zip(rng.uniform(97, 122, 500), rng.uniform(22, 40, 500), strict=True):
        if not in_shift_area(lon, lat):
            continue
        g = wgs84_to_gcj02(lon, lat)
        naive = prcoords.gcj_wgs(prcoords.Coords(g[1], g[0]), check_china=False)
        worst_naive = max(worst_naive, distance_m(lon, lat, naive.lon, naive.lat))
        worst_ours = max(worst_ours, distance_m(lon, lat, *gcj02_to_wgs84(*g)))
    assert worst_naive > 0.5
    assert worst_ours < 0.001


def test_known_offsets_in_chongqing():
    g = wgs84_to_gcj02(*JIEFANGBEI)
    assert 300 < distance_m(*JIEFANGBEI, *g) < 700
    b = gcj02_to_bd09(*g)
    assert 500 < distance_m(*g, *b) < 1300


@pytest.mark.parametrize(
    "point",
    [
        (139.69, 35.69),
        (-0.1276, 51.5072),
        (151.2, -33.87),
        (121.5654, 25.0330),
        (120.3014, 22.6273),
        (119.5664, 23.5711),
        (105.8342, 21.0278),
        (126.9780, 37.5665),
        (106.9057, 47.8864),
        (100.5018, 13.7563),
        (129.0756, 35.1796),
    ],
    ids=[
        "tokyo",
        "london",
        "sydney",
        "taipei",
        "kaohsiung",
        "penghu",
        "hanoi",
        "seoul",
        "ulaanbaatar",
        "bangkok",
        "busan",
    ],
)
def test_points_outside_the_shifted_area_are_not_shifted(point):
    assert outside_china_shift_area(*point)
    for forward in (wgs84_to_gcj02, wgs84_to_bd09, gcj02_to_bd09):
        assert forward(*point) == point
    for inverse in (gcj02_to_wgs84, bd09_to_wgs84, bd09_to_gcj02):
        assert inverse(*point) == point


@pytest.mark.parametrize(
    "point",
    [
        JIEFANGBEI,
        (114.1694, 22.3193),  # Hong Kong, Kowloon
        (114.1577, 22.2855),  # Hong Kong Island, Central
        (113.5439, 22.1987),  # Macau peninsula
        (109.5120, 18.2528),  # Sanya, Hainan
        (121.4737, 31.2304),  # Shanghai
        (87.6168, 43.8256),  # Ürümqi
        (126.6424, 45.7567),  # Harbin
        (118.0894, 24.4798),  # Xiamen island, 6 km from Kinmen
    ],
    ids=[
        "chongqing",
        "kowloon",
        "central",
        "macau",
        "sanya",
        "shanghai",
        "urumqi",
        "harbin",
        "xiamen",
    ],
)
def test_mainland_hong_kong_and_macau_are_shifted(point):
    assert in_shift_area(*point)
    assert 200 < distance_m(*point, *wgs84_to_gcj02(*point)) < 800


@functools.cache
def _border_vertices() -> np.ndarray:
    """The vertices of the mainland's border (WGS-84 close enough: the shift is < 1 km)."""
    from geodata.crs import _shift_area

    parts = shapely.get_parts(shapely.from_wkb(_shift_area().wkb))
    main = parts[np.argmax(shapely.area(parts))]  # the mainland, whose land borders matter
    return shapely.get_coordinates(main.exterior)


def _border_points(n: int, seed: int, *, within_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Random WGS-84 points within ``within_m`` of where the shifted area ends."""
    vertices = _border_vertices()
    rng = np.random.default_rng(seed)
    x, y = vertices[rng.integers(0, len(vertices), n)].T
    spread = within_m / 111_000
    return x + rng.uniform(-spread, spread, n), y + rng.uniform(-spread, spread, n)


@pytest.mark.parametrize(("crs", "shift_m"), [("gcj02", 800), ("bd09", 2000)])
def test_round_trips_hold_at_the_border(crs, shift_m):
    lon, lat = _border_points(4000, 11, within_m=2000)
    inside = in_shift_area(lon, lat)
    assert 0.2 < inside.mean() < 0.8  # the sample straddles the border
    x, y = from_wgs84(lon, lat, crs=crs)
    bx, by = to_wgs84(x, y, crs=crs)
    error_m = distance_m(lon, lat, bx, by)
    assert float(np.max(error_m[inside])) < 0.01
    # Outside, a point either comes back, or reads as the inside point with the same
    # shifted position: converting it forward again gives what was sent, to a centimetre.
    again = distance_m(*from_wgs84(bx, by, crs=crs), x, y)
    assert float(np.max(again)) < 0.01
    assert float(np.max(error_m[~inside])) < shift_m  # no further than the shift itself


@settings(max_examples=200)
@given(st.integers(0, 2**32 - 1))
def test_round_trip_property_near_the_border(seed):
    lon, lat = _border_points(1, seed, within_m=1500)
    assert _round_trip_ok(float(lon[0]), float(lat[0]), wgs84_to_gcj02, gcj02_to_wgs84)
    assert _round_trip_ok(float(lon[0]), float(lat[0]), wgs84_to_bd09, bd09_to_wgs84)


def test_shift_area_follows_amap_s_border_not_a_box():
    # The old box reached from 72° to 137.8° E and 0.8° to 55.8° N.
    box_corners = [(72.5, 1.0), (137.0, 55.0), (135.0, 25.0), (75.0, 50.0)]
    assert not any(in_shift_area(*p) for p in box_corners)
    lon, lat = np.array([106.5772, 121.5654]), np.array([29.5570, 25.0330])
    assert in_shift_area(lon, lat).tolist() == [True, False]


def test_scalars_give_floats_arrays_keep_shape_and_nan_passes():
    x, y = wgs84_to_gcj02(*JIEFANGBEI)
    assert type(x) is float and type(y) is float
    arr = np.full((2, 3), JIEFANGBEI[0]), np.full((2, 3), JIEFANGBEI[1])
    x, y = to_wgs84(*arr, crs="bd09")
    assert x.shape == (2, 3)
    x, y = gcj02_to_wgs84(np.array([math.nan, 106.5]), np.array([29.5, 29.5]))
    assert math.isnan(x[0]) and not math.isnan(x[1])


def test_inputs_are_not_modified():
    lon, lat = np.array([106.5]), np.array([29.5])
    to_wgs84(lon, lat, crs="gcj02")
    x, _ = to_wgs84(lon, lat, crs="wgs84")
    x[0] = 0
    assert lon[0] == 106.5


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WGS-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("GCJ02", "gcj02"),
        ("高德", "gcj02"),
        ("amap", "gcj02"),
        ("tencent", "gcj02"),
        ("Baidu", "bd09"),
        ("百度", "bd09"),
        ("bd09ll", "bd09"),
        ("EPSG:4490", "cgcs2000"),
        (CoordinateSystem.BD09, "bd09"),
    ],
)
def test_crs_names(name, expected):
    assert parse_crs(name).value == expected


def test_unknown_crs_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"wgs84.*gcj02.*bd09"):
        parse_crs("utm50")


def test_cgcs2000_moves_a_point_by_less_than_a_metre():
    assert distance_m(*JIEFANGBEI, *to_wgs84(*JIEFANGBEI, crs="cgcs2000")) < 1.0


def test_conversions_from_many_threads_at_once_agree_with_one():
    # The border test uses a GEOS prepared geometry, which is not thread-safe: threads
    # must take turns with it (used at once, it crashes the process).
    from concurrent.futures import ThreadPoolExecutor

    lon, lat = _border_points(2000, 3, within_m=3000)
    expected = from_wgs84(lon, lat, crs="gcj02")

    def convert(_: int):
        return from_wgs84(lon, lat, crs="gcj02")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(convert, range(32)))
    for x, y in results:
        assert np.array_equal(x, expected[0]) and np.array_equal(y, expected[1])


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_threads_converting_near_the_border_share_one_outline():
    # A server's 40 request threads each converting a point near the coast once held 40
    # copies of the 151,000-vertex outline (+148 MB per worker, ~50 ms each first time).
    import threading

    from geodata.crs import _shift_area

    _shift_area()
    lon, lat = _border_points(50, 5, within_m=3000)
    expected = wgs84_to_gcj02(lon, lat)
    results = []
    started = threading.Barrier(20)

    def convert() -> None:
        started.wait()  # all alive at once: 20 distinct threads
        results.append(wgs84_to_gcj02(lon, lat))

    before_mb = _rss_mb()
    threads = [threading.Thread(target=convert) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grown_mb = _rss_mb() - before_mb
    assert len(results) == 20
    for x, y in results:
        assert np.array_equal(x, expected[0]) and np.array_equal(y, expected[1])
    assert grown_mb < 20, f"{grown_mb:.0f} MB more for 20 threads"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(60.0, 150.0), st.floats(-10.0, 60.0)), min_size=1, max_size=200),
    st.sampled_from(["gcj02", "bd09", "wgs84", "cgcs2000"]),
)
def test_a_point_converted_in_an_array_gets_exactly_its_floats_alone(points, crs):
    # An upload converts a chunk of rows at once and must say what one write says.
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    x, y = to_wgs84(lon, lat, crs=crs)
    for i, (px, py) in enumerate(points):
        assert to_wgs84(px, py, crs=crs) == (x[i], y[i])


def test_the_box_told_without_the_outline_lies_wholly_inside_it():
    # Points inside SURELY_SHIFTED are called shifted without reading Amap's outline:
    # the box must lie inside it, and every point get the outline's own answer.
    from geodata.crs import SURELY_SHIFTED, _shift_area, _shifted

    outline = shapely.from_wkb(_shift_area().wkb)
    assert shapely.contains(outline, shapely.box(*SURELY_SHIFTED))
    rng = np.random.default_rng(18)
    w, s, e, n = SURELY_SHIFTED
    x = np.concatenate([rng.uniform(w - 30, e + 20, 20_000), [w, e, 106.5, np.nan]])
    y = np.concatenate([rng.uniform(s - 10, n + 15, 20_000), [30.0, 30.0, s, 30.0]])
    got = _shifted(x, y)
    assert got.shape == x.shape
    assert (got == _shift_area().contains(x, y)).all()
    assert got[:-4].any() and not got[:-4].all()
    inner = (x > w) & (x < e) & (y > s) & (y < n)
    assert inner.sum() > 1000 and got[inner].all()
