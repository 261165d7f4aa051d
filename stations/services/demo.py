"""A deterministic sample registry (示例数据), generated from a seed: Chongqing's, or the
country's (national_rows: about 186,000 stations over the 2,848 counties of 31 provinces).

No public list of real station coordinates exists, so the sample is synthetic: about 5,500
stations across Chongqing's 38 districts, dense in the central districts, with realistic hours,
amenities, a ~7 % share of 24-hour self-service sites and 上图 listings as the providers
give them (GCJ-02 for Amap and Tencent, BD-09 for Baidu), some missing and some imprecise.
Every record is marked ``sample`` and carries 示例 in its name and address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from geodata.crs import from_wgs84
from geodata.districts import District, Districts
from geodata.hours import TZ
from stations.domain.model import Provider

DEFAULT_TOTAL = 5523  # what Chongqing reported in September 2024

# Relative density: the main urban districts hold most outdoor workers.
_CENTRAL = {
    "500103": 12.0,  # 渝中
    "500105": 6.0,  # 江北
    "500106": 4.5,  # 沙坪坝
    "500107": 4.5,  # 九龙坡
    "500108": 5.0,  # 南岸
    "500112": 3.5,  # 渝北
    "500104": 3.0,  # 大渡口
    "500109": 1.8,  # 北碚
    "500113": 1.8,  # 巴南
}

_HOSTS = [
    ("中国工商银行{place}支行", "finance"),
    ("中国建设银行{place}支行", "finance"),
    ("中国农业银行{place}支行", "finance"),
    ("重庆农村商业银行{place}支行", "finance"),
    ("{place}社区服务中心", None),
    ("{place}街道党群服务中心", None),
    ("中国石化{place}加油站", "energy"),
    ("中国石油{place}加油站", "energy"),
    ("{place}环卫所", None),
    ("{place}快递服务站", "transport"),
    ("{place}公交首末站", "transport"),
    ("{place}工会服务站", None),
    ("{place}商业广场", None),
]
_PLACE_WORDS = [
    "中心",
    "东",
    "西",
    "南",
    "北",
    "新城",
    "滨江",
    "花园",
    "民主",
    "人民",
    "建设",
    "和平",
    "学府",
    "临江",
    "龙湖",
    "金开",
    "石桥",
    "大坪",
    "观音",
    "沙滨",
    "江南",
    "桂花",
]
_ROADS = ["路", "街", "大道", "支路"]

_HOURS = [  # (what unions write, weight)
    ("周一至周五 9:00-18:00", 0.30),
    ("每天 8:00-20:00", 0.24),
    ("工作日 9:00-17:00 周末 10:00-16:00", 0.10),
    ("08:30-21:00", 0.10),
    ("周一至周六 8:00-19:00，节假日休息", 0.10),
    ("工作日 8:30-17:30", 0.08),
    ("全天", 0.08),
]

AMENITY_SHARE = {
    "drinking_water": 0.95,
    "hot_water": 0.85,
    "microwave": 0.70,
    "fridge": 0.35,
    "phone_charging": 0.90,
    "ebike_charging": 0.25,
    "toilet": 0.75,
    "seating": 0.95,
    "heating": 0.40,
    "air_conditioning": 0.80,
    "first_aid": 0.60,
    "wifi": 0.65,
    "umbrella": 0.30,
    "repair_tools": 0.15,
    "aed": 0.05,
    "books": 0.35,
}
_LISTED_P = {Provider.AMAP: 0.78, Provider.BAIDU: 0.66, Provider.TENCENT: 0.55}


def _allocate(districts: Districts, total: int) -> dict[str, int]:
    weights = {d.adcode: np.sqrt(d.area_m2 / 1e6) * _CENTRAL.get(d.adcode, 1.0) for d in districts}
    return _allocate_by(weights, total)


def _allocate_by(weights: dict[str, float], total: int) -> dict[str, int]:
    """``total`` split by ``weights``: at least 5 each when it allows, else as even as can be."""
    s = sum(weights.values())
    counts = {k: max(5, round(total * w / s)) for k, w in weights.items()}
    biggest = max(counts, key=lambda k: counts[k])
    counts[biggest] += total - sum(counts.values())
    if counts[biggest] >= 5:
        return counts
    # A total too small for 5 a district (`yizhan demo --total 100` crashed here): as many
    # as there are to each, the rest by the largest remainders of their shares.
    floor = min(5, total // len(weights))
    shares = {k: (total - floor * len(weights)) * w / s for k, w in weights.items()}
    counts = {k: floor + int(share) for k, share in shares.items()}
    by_remainder = sorted(shares, key=lambda k: shares[k] - int(shares[k]), reverse=True)
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def _points(district: District, n: int, rng: np.random.Generator) -> np.ndarray:
    """Points inside the district: most near its urban core, the rest spread out."""
    geom = district.geometry
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    core = shapely.get_coordinates(geom.point_on_surface())[0]
    spread = np.sqrt(district.area_m2) / 111_000 / 5  # degrees, roughly a fifth of its size
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(64, 2 * (n - have))
        clustered = rng.normal(core, spread, size=(m, 2))
        uniform = rng.uniform((minx, miny), (maxx, maxy), size=(m, 2))
        pick = rng.random(m) < 0.7
        cand = np.where(pick[:, None], clustered, uniform)
        inside = shapely.contains_xy(geom, cand[:, 0], cand[:, 1])
        out.append(cand[inside])
        have += int(inside.sum())
    return np.concatenate(out)[:n]


def _listing(
    provider: Provider,
    lon: float,
    lat: float,
    name: str,
    rng: np.random.Generator,
    positions: _Positions,
) -> dict[str, Any]:
    listed = rng.random() < _LISTED_P[provider]
    if not listed:
        return {"provider": provider.value, "listed": False}
    # Most listings sit within a few tens of metres; some were placed carelessly.
    offset_m = rng.uniform(3, 40) if rng.random() < 0.85 else rng.uniform(60, 600)
    angle = rng.uniform(0, 2 * np.pi)
    dlon = offset_m * np.sin(angle) / (111_320 * np.cos(np.radians(lat)))
    dlat = offset_m * np.cos(angle) / 110_574
    crs = "bd09" if provider is Provider.BAIDU else "gcj02"
    checked = datetime(2025, 3, 1, tzinfo=TZ) + timedelta(days=int(rng.integers(0, 600)))
    listing = {
        "provider": provider.value,
        "listed": True,
        "poi_id": f"{provider.value[:2].upper()}{rng.integers(10**9, 10**10)}",
        "listed_name": name if rng.random() < 0.8 else name.replace("工会驿站", "爱心驿站"),
        "listed_lon": None,
        "listed_lat": None,
        "keyword_linked": bool(rng.random() < 0.85),
        "checked_at": checked.isoformat(),
    }
    positions.add(listing, "listed_lon", "listed_lat", 6, lon + dlon, lat + dlat, crs)
    return listing


_BATCH = 2000  # rows whose positions are converted together


class _Positions:
    """WGS-84 positions to convert and write into rows, gathered and converted together:
    one vectorised conversion per coordinate system instead of one call per value (the
    national sample's 750,000 positions: 60 % of its time before)."""

    def __init__(self) -> None:
        self._pending: dict[str, list[tuple[dict[str, Any], str, str, int, float, float]]] = {}

    def add(
        self,
        row: dict[str, Any],
        lon_key: str,
        lat_key: str,
        digits: int,
        lon: float,
        lat: float,
        crs: str,
    ) -> None:
        self._pending.setdefault(crs, []).append((row, lon_key, lat_key, digits, lon, lat))

    def flush(self) -> None:
        for crs, items in self._pending.items():
            lon = np.array([item[4] for item in items], dtype=np.float64)
            lat = np.array([item[5] for item in items], dtype=np.float64)
            x, y = from_wgs84(lon, lat, crs=crs)
            for (row, lon_key, lat_key, digits, _, _), px, py in zip(
                items, np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True
            ):
                row[lon_key] = round(px, digits)
                row[lat_key] = round(py, digits)
        self._pending.clear()


@dataclass(frozen=True)
class _Place:
    """What makes a sample row look like where it is: the address's leading part, the
    phone's area code and the local brand."""

    address: str
    phone: str
    brand: str


def sample_rows(
    districts: Districts, *, total: int = DEFAULT_TOTAL, seed: int = 20241
) -> Iterator[dict[str, Any]]:
    """Yield raw station rows (as a union would upload them) for the sample registry."""
    place = _Place("重庆市", "023-6", "渝工港湾")
    rng = np.random.default_rng(seed)
    counts = _allocate(districts, total)
    yield from _rows(districts, counts, lambda _adcode: rng, lambda _d: place, _HOSTS)


# -- The national sample: ~186,000 stations over the 2,848 counties of 31 provinces

NATIONAL_TOTAL = 186_000  # the ACFTU's count of 工会驿站 at the end of 2024
# No population figures ship with the boundary package, so a county's share follows a
# documented weighting instead, by what kind of place it is: an urban district (…区) 10, a
# county-level city (…市) 4, a county or banner 2; ×3 in a provincial capital or a
# municipality (prefecture code xx01); then ×0.5–1.5 by size (sqrt of km², at 3,600 km²
# and over the extreme): a 区 the more the smaller it is (a city's core is small, a 区 of
# 5,000 km² is mostly farmland), a county the more the bigger. About 70 % of the stations
# fall in the 区: outdoor workers (riders, couriers, sanitation) work in cities.
_NATIONAL_KIND = {"区": 10.0, "市": 4.0}
_OTHER_KIND = 2.0
_CAPITAL_FACTOR = 3.0
_AREA_FULL_KM = 60.0
# The capital's area code for each province's landlines (2-digit adcode prefix).
_AREA_CODES = {
    "11": "010", "12": "022", "13": "0311", "14": "0351", "15": "0471", "21": "024",
    "22": "0431", "23": "0451", "31": "021", "32": "025", "33": "0571", "34": "0551",
    "35": "0591", "36": "0791", "37": "0531", "41": "0371", "42": "027", "43": "0731",
    "44": "020", "45": "0771", "46": "0898", "50": "023", "51": "028", "52": "0851",
    "53": "0871", "54": "0891", "61": "029", "62": "0931", "63": "0971", "64": "0951",
    "65": "0991",
}  # fmt: skip
_NATIONAL_HOSTS = [
    (template.replace("重庆农村商业银行", "农村商业银行"), industry)
    for template, industry in _HOSTS
]


def national_weight(district: District) -> float:
    """A county's relative share of the national sample (see NATIONAL_TOTAL's note)."""
    size = min(float(np.sqrt(district.area_m2 / 1e6)) / _AREA_FULL_KM, 1.0)
    urban = district.name.endswith("区")
    size = 0.5 + (1.0 - size if urban else size)
    kind = next((f for k, f in _NATIONAL_KIND.items() if district.name.endswith(k)), _OTHER_KIND)
    capital = _CAPITAL_FACTOR if district.adcode[2:4] == "01" else 1.0
    return kind * capital * size


def national_counts(districts: Districts, total: int = NATIONAL_TOTAL) -> dict[str, int]:
    """How many of ``total`` sample stations each county gets (at least 5 when it allows)."""
    return _allocate_by({d.adcode: national_weight(d) for d in districts}, total)


def national_rows(
    districts: Districts, *, total: int = NATIONAL_TOTAL, seed: int = 20241
) -> Iterator[dict[str, Any]]:
    """Yield raw rows for the national sample over ``districts`` (the counties of
    geodata.districts.china_counties): deterministic for a seed, each marked 示例.

    Each county draws from its own generator (seed, adcode), so a county's stations do
    not depend on the others: the same seed gives the same stations county by county."""
    counts = national_counts(districts, total)

    def place(district: District) -> _Place:
        prefix = district.province if district.province != district.name else ""
        code = _AREA_CODES.get(district.adcode[:2], "010")
        return _Place(prefix, f"{code}-6", "渝工港湾" if district.adcode[:2] == "50" else "")

    yield from _rows(
        districts,
        counts,
        lambda adcode: np.random.default_rng([seed, int(adcode)]),
        place,
        _NATIONAL_HOSTS,
    )


def _rows(
    districts: Districts,
    counts: dict[str, int],
    rng_for: Callable[[str], np.random.Generator],
    place_of: Callable[[District], _Place],
    hosts: list[tuple[str, str | None]],
) -> Iterator[dict[str, Any]]:
    hours_text = [h for h, _ in _HOURS]
    hours_p = np.array([w for _, w in _HOURS])
    hours_p = hours_p / hours_p.sum()
    amen = list(AMENITY_SHARE)
    amen_p = np.array([AMENITY_SHARE[a] for a in amen])
    seq: dict[str, int] = {}
    positions = _Positions()
    batch: list[dict[str, Any]] = []
    for adcode, n in counts.items():
        if n == 0:  # a sample smaller than the districts leaves some without
            continue
        district = districts.get(adcode)
        rng = rng_for(adcode)
        local = place_of(district)
        short = district.name.removesuffix("区").removesuffix("县")[:2]
        points = _points(district, n, rng)
        for lon, lat in points.tolist():
            template, industry = hosts[int(rng.integers(len(hosts)))]
            place = short + _PLACE_WORDS[int(rng.integers(len(_PLACE_WORDS)))]
            host = template.format(place=place)
            owner = (
                f"industry:{industry}" if industry and rng.random() < 0.35 else f"district:{adcode}"
            )
            key = owner.split(":")[1]
            seq[key] = seq.get(key, 0) + 1
            self_service = bool(rng.random() < 0.07)
            name = f"{host}工会驿站（示例）"
            offered = rng.random(len(amen)) < amen_p
            amenities = [a for a, keep in zip(amen, offered, strict=True) if keep]
            row: dict[str, Any] = {
                "external_id": f"{key}-{seq[key]:05d}",
                "owner": owner,
                "name": name,
                "address": (
                    f"{local.address}{district.name}{place}"
                    f"{_ROADS[int(rng.integers(len(_ROADS)))]}"
                    f"{int(rng.integers(1, 300))}号（示例地址）"
                ),
                "host": host,
                "contact_phone": f"{local.phone}{int(rng.integers(10**6, 10**7)):07d}",
                "amenities": amenities,
                "status": str(
                    rng.choice(
                        ["active", "temporarily_closed", "planned", "closed"],
                        p=[0.93, 0.03, 0.03, 0.01],
                    )
                ),
                "signage_unified": bool(rng.random() < 0.8),
                "brand": local.brand if rng.random() < 0.6 else "",
                "sample": True,
            }
            if self_service:
                methods = ["qr", "face", "fingerprint", "member_code"]
                k = int(rng.integers(1, 3))
                row["hours"] = str(rng.choice(["24小时", "7×24小时", "全天"]))
                row["self_service_24h"] = True
                row["entry_methods"] = list(rng.choice(methods, size=k, replace=False))
                row["registration_required"] = bool(rng.random() < 0.4)
            else:
                row["hours"] = hours_text[int(rng.choice(len(hours_text), p=hours_p))]
                row["entry_methods"] = ["staffed"]
            # Most clerks copy positions from Amap (GCJ-02); some from Baidu or a GPS.
            crs = str(rng.choice(["gcj02", "bd09", "wgs84"], p=[0.6, 0.15, 0.25]))
            row.update(lon=None, lat=None, crs=crs)
            positions.add(row, "lon", "lat", 7, lon, lat, crs)
            row["listings"] = [_listing(p, lon, lat, name, rng, positions) for p in Provider]
            batch.append(row)
        if len(batch) >= _BATCH:
            positions.flush()
            yield from batch
            batch.clear()
    positions.flush()
    yield from batch
