"""geodata.tiles: one table of tile providers, their hosts, keys and coordinate systems."""

from __future__ import annotations

import pytest

from geodata.crs import CoordinateSystem
from geodata.tiles import TILE_PROVIDERS, custom_provider, drawn_in, usable_providers

KEY = "0123456789abcdef0123456789abcdef"


def test_each_provider_has_what_a_map_needs():
    for name, p in TILE_PROVIDERS.items():
        assert p.name == name and p.label and p.attribution and p.attribution_url
        assert all(u.startswith("https://") and "{z}" in u for u in p.urls), name
        assert all(("{s}" in u) == bool(p.subdomains) for u in p.urls), name
        assert 16 <= p.max_zoom <= 20


@pytest.mark.parametrize(
    ("name", "hosts"),
    [
        ("osm", ("https://tile.openstreetmap.org",)),
        ("amap", tuple(f"https://webrd0{i}.is.autonavi.com" for i in range(1, 5))),
        ("tianditu", tuple(f"https://t{i}.tianditu.gov.cn" for i in range(8))),
    ],
)
def test_hosts_spell_out_every_subdomain(name, hosts):
    assert TILE_PROVIDERS[name].hosts() == hosts


def test_a_provider_that_needs_a_key_is_usable_only_with_one():
    assert set(usable_providers({})) == {"osm", "amap"}
    usable = usable_providers({"YIZHAN_TIANDITU_KEY": KEY})
    assert set(usable) == {"osm", "amap", "tianditu"}
    assert all(f"tk={KEY}" in u and "{key}" not in u for u in usable["tianditu"].urls)
    # A key is quoted: it cannot add parameters to the tile URL.
    odd = usable_providers({"YIZHAN_TIANDITU_KEY": "a&b=c"})["tianditu"]
    assert all("tk=a%26b%3Dc" in u for u in odd.urls)


def test_points_are_drawn_in_the_tiles_system():
    assert drawn_in(TILE_PROVIDERS["amap"]) is CoordinateSystem.GCJ02
    # CGCS2000 and WGS-84 differ by centimetres: Tianditu's tiles take stored positions.
    assert drawn_in(TILE_PROVIDERS["tianditu"]) is CoordinateSystem.WGS84
    assert drawn_in(TILE_PROVIDERS["osm"]) is CoordinateSystem.WGS84


def test_a_deployments_own_tiles_are_wgs84_with_their_hosts():
    own = custom_provider("https://{s}.tiles.example.org/{z}/{x}/{y}.png", "© 我们")
    assert own.crs is CoordinateSystem.WGS84
    assert own.hosts() == tuple(f"https://{s}.tiles.example.org" for s in "abc")
    assert custom_provider("/tiles/{z}/{x}/{y}.png", "© 我们").hosts() == ("'self'",)
    assert "custom" in usable_providers({}, (own,))
