"""The river city: a small generated OpenStreetMap file (.osm XML) for the street-network tests.

Everything is laid out on a local metric grid ``(x, y)`` in metres (x east, y north) from the
origin ``ORIGIN`` (106.550 E, 29.555 N, in Yuzhong district, so the foreign-area check
passes), converted with the WGS-84 metres per degree at the origin (``xy_to_lonlat``); over
1.5 km the flat conversion is off by far less than 0.1 %.

::

     y=1000  W ─ ─ ─ ─ ─ ─ ─ ─ ─ ┬════ bridge (secondary) ════┬ ─ ─ ─ ─ ─ ─ ─ ─ E
             │ west bank          │        river 300 m        │ east bank       │
             │ x = 0..400         ↓ x=400 one-way south       │ x = 700..1100   │
             │ 100 m blocks       ↓ (residential, oneway=yes) │ x=700 tertiary  │
       y=550 B (10, 550)          ↓                           │ y=500 footway   ├── private
       y=250                 Q (390, 250)                     A (730, 250)         service
       y=100 │ x=100, y=0..100 is a staircase (highway=steps)  │                 │
       y=0   └ ─ ─ ─ ─ ─ ─ ─ ─ ─ ┴──── motorway (bridge) ──────┴ ─ ─ ─ ─ ─ ─ ─ ─ ┘
      y=-400           C (200, -400): 400 m from any way

Ways (every street is ``residential`` unless said):

- west bank: columns x = 0, 100, 200, 300, 400 from y = 0 to 1000, rows y = 0, 100, …, 1000
  from x = 0 to 400; column x = 100 is a staircase (``highway=steps``) from y = 0 to 100 and
  residential above; column x = 400 (the riverside street) is **one-way southbound**
  (``oneway=yes``, nodes listed north to south): walk ignores it, e-bike obeys it.
- east bank: the same grid for x = 700..1100; column x = 700 is ``tertiary``; row y = 500 is a
  ``footway`` (walk only).
- the **one bridge**: ``secondary``, ``bridge=yes``, (400, 1000) – (700, 1000).
- a ``motorway`` bridge at the south end (400, 0) – (550, 0) – (700, 0): nobody may use it.
- a ``service`` road with ``access=private`` (1100, 500) – (1200, 500): skipped by both.
- a building outline (no highway): skipped.

Expected answers from ``QUERY`` (walk: 4.5 km/h; the query is 10 m off the x = 400 street):

====  ===========  ===============================  ===============================
      straight     walk route_m                      ebike route_m
====  ===========  ===============================  ===============================
A     ~340 m       10+750+300+750+30 = 1,840 m      10+50+100+800+100+300+750+30 = 2,140 m
B     ~484 m       10+50+400+250+10 = 720 m          10+50+400+350+10 = 820 m
C     unreachable  (400 m from any way; snap 200)    (snap 100)
====  ===========  ===============================  ===============================

So the straight-line order is A, B and the walk order is B, A; C is reported unreachable.
(E-bike must leave the query's one-way street southward, hence its longer routes.)
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from pyproj import Geod

from geodata.districts import chongqing_districts
from stations.domain.travel import NetworkInfo, Travel
from stations.services.network import import_network
from stations.storage.store import NetworkStore

ORIGIN = (106.550, 29.555)
_GEOD = Geod(ellps="WGS84")
# Metres per degree at the origin on the WGS-84 ellipsoid (east and north).
_M_PER_DEG_LON = _GEOD.inv(ORIGIN[0], ORIGIN[1], ORIGIN[0] + 0.01, ORIGIN[1])[2] / 0.01
_M_PER_DEG_LAT = _GEOD.inv(ORIGIN[0], ORIGIN[1] - 0.005, ORIGIN[0], ORIGIN[1] + 0.005)[2] / 0.01

WEST_X = (0, 100, 200, 300, 400)
EAST_X = (700, 800, 900, 1000, 1100)
ROWS_Y = tuple(range(0, 1001, 100))
RIVER_M = 300
BRIDGE_Y = 1000

QUERY_XY = (390.0, 250.0)
A_XY = (730.0, 250.0)
B_XY = (10.0, 550.0)
C_XY = (200.0, -400.0)

# Expected route lengths from QUERY (metres, snap legs included; see the module docstring).
WALK_ROUTE_M = {"A": 1840.0, "B": 720.0}
EBIKE_ROUTE_M = {"A": 2140.0, "B": 820.0}

# OpenStreetMap ids of the special ways (for the reader's tests).
ONEWAY_WAY = 1004  # x = 400, west bank, southbound
STEPS_WAY = 1200  # x = 100, y = 0..100
BRIDGE_WAY = 3000
MOTORWAY_WAY = 3001
FOOTWAY_WAY = 2105  # east bank row y = 500
PRIVATE_WAY = 3002
BUILDING_WAY = 3003


def xy_to_lonlat(x: float, y: float) -> tuple[float, float]:
    """The WGS-84 position of the local point (x, y) metres from ``ORIGIN``."""
    return (ORIGIN[0] + x / _M_PER_DEG_LON, ORIGIN[1] + y / _M_PER_DEG_LAT)


QUERY = xy_to_lonlat(*QUERY_XY)
A = xy_to_lonlat(*A_XY)
B = xy_to_lonlat(*B_XY)
C = xy_to_lonlat(*C_XY)


class _City:
    def __init__(self) -> None:
        self.nodes: dict[tuple[float, float], int] = {}
        self.ways: list[tuple[int, list[int], dict[str, str]]] = []

    def node(self, x: float, y: float) -> int:
        key = (float(x), float(y))
        if key not in self.nodes:
            self.nodes[key] = len(self.nodes) + 1
        return self.nodes[key]

    def way(self, way_id: int, points: list[tuple[float, float]], **tags: str) -> None:
        self.ways.append((way_id, [self.node(x, y) for x, y in points], tags))

    def xml(self) -> str:
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<osm version="0.6" generator="yizhan tests">',
        ]
        for (x, y), nid in self.nodes.items():
            lon, lat = xy_to_lonlat(x, y)
            lines.append(f'  <node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
        for way_id, refs, tags in self.ways:
            lines.append(f'  <way id="{way_id}" version="1">')
            lines.extend(f'    <nd ref="{r}"/>' for r in refs)
            lines.extend(
                f"    <tag k={quoteattr(k.replace('__', ':'))} v={quoteattr(v)}/>"
                for k, v in tags.items()
            )
            lines.append("  </way>")
        lines.append("</osm>")
        return "\n".join(lines) + "\n"


def _bank(city: _City, columns: tuple[int, ...], base_id: int) -> None:
    for i, x in enumerate(columns):
        city.way(base_id + i, [(x, y) for y in ROWS_Y], highway="residential")
    for j, y in enumerate(ROWS_Y):
        city.way(base_id + 100 + j, [(x, y) for x in columns], highway="residential")


def build_city() -> _City:
    """The river city's nodes and ways (see the module docstring)."""
    city = _City()
    _bank(city, WEST_X, 1000)
    _bank(city, EAST_X, 2000)
    by_id = {w[0]: w for w in city.ways}
    # West bank: the riverside street one-way southbound (nodes north to south).
    city.ways.remove(by_id[ONEWAY_WAY])
    city.way(ONEWAY_WAY, [(400, y) for y in reversed(ROWS_Y)], highway="residential", oneway="yes")
    # West bank: x = 100 climbs a staircase between y = 0 and y = 100.
    city.ways.remove(by_id[1001])
    city.way(1001, [(100, y) for y in ROWS_Y if y >= 100], highway="residential")
    city.way(STEPS_WAY, [(100, 0), (100, 100)], highway="steps")
    # East bank: x = 700 is tertiary, row y = 500 a footway.
    city.ways.remove(by_id[2000])
    city.way(2000, [(700, y) for y in ROWS_Y], highway="tertiary", name="滨江路")
    city.ways.remove(by_id[FOOTWAY_WAY])
    city.way(FOOTWAY_WAY, [(x, 500) for x in EAST_X], highway="footway")
    city.way(BRIDGE_WAY, [(400, BRIDGE_Y), (700, BRIDGE_Y)], highway="secondary", bridge="yes")
    city.way(MOTORWAY_WAY, [(400, 0), (550, 0), (700, 0)], highway="motorway", bridge="yes")
    city.way(PRIVATE_WAY, [(1100, 500), (1200, 500)], highway="service", access="private")
    city.way(
        BUILDING_WAY,
        [(-300, 700), (-200, 700), (-200, 800), (-300, 800), (-300, 700)],
        building="yes",
    )
    return city


def write_city(path: Path | str) -> Path:
    """Write the river city as OpenStreetMap XML to ``path``; the path."""
    out = Path(path)
    out.write_text(build_city().xml(), encoding="utf-8")
    return out


def import_city(store: NetworkStore, tmp_path: Path, profile: str = "walk") -> NetworkInfo:
    """Write the river city into ``tmp_path`` and import it as the ``profile`` network of
    ``store`` with the real import service; the stored network's info."""
    path = write_city(Path(tmp_path) / "river_city.osm")
    return import_network(
        store,
        path,
        Travel(profile),
        districts=chongqing_districts(),
        actor="tests",
        max_bytes=64 * 1024 * 1024,
    )
