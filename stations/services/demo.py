"""A deterministic sample registry for Chongqing (示例数据), generated from a seed.

No public list of real station coordinates exists, so the sample is synthetic: about 5,500
stations across the 38 districts, dense in the central districts, with realistic hours,
amenities, a ~7 % share of 24-hour self-service sites and 上图 listings as the providers
give them (GCJ-02 for Amap and Tencent, BD-09 for Baidu), some missing and some imprecise.
Every record is marked ``sample`` and carries 示例 in its name and address.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    provider: Provider, lon: float, lat: float, name: str, rng: np.random.Generator
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
    plon, plat = from_wgs84(lon + dlon, lat + dlat, crs=crs)
    checked = datetime(2025, 3, 1, tzinfo=TZ) + timedelta(days=int(rng.integers(0, 600)))
    return {
        "provider": provider.value,
        "listed": True,
        "poi_id": f"{provider.value[:2].upper()}{rng.integers(10**9, 10**10)}",
        "listed_name": name if rng.random() < 0.8 else name.replace("工会驿站", "爱心驿站"),
        "listed_lon": round(float(plon), 6),
        "listed_lat": round(float(plat), 6),
        "keyword_linked": bool(rng.random() < 0.85),
        "checked_at": checked.isoformat(),
    }


def sample_rows(
    districts: Districts, *, total: int = DEFAULT_TOTAL, seed: int = 20241
) -> Iterator[dict[str, Any]]:
    """Yield raw station rows (as a union would upload them) for the sample registry."""
    rng = np.random.default_rng(seed)
    hours_text = [h for h, _ in _HOURS]
    hours_p = np.array([w for _, w in _HOURS])
    hours_p = hours_p / hours_p.sum()
    amen = list(AMENITY_SHARE)
    amen_p = np.array([AMENITY_SHARE[a] for a in amen])
    seq: dict[str, int] = {}
    for adcode, n in _allocate(districts, total).items():
        if n == 0:  # a sample smaller than the districts leaves some without
            continue
        district = districts.get(adcode)
        short = district.name.removesuffix("区").removesuffix("县")[:2]
        points = _points(district, n, rng)
        for lon, lat in points:
            template, industry = _HOSTS[int(rng.integers(len(_HOSTS)))]
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
                    f"重庆市{district.name}{place}{_ROADS[int(rng.integers(len(_ROADS)))]}"
                    f"{int(rng.integers(1, 300))}号（示例地址）"
                ),
                "host": host,
                "contact_phone": f"023-6{int(rng.integers(10**6, 10**7)):07d}",
                "amenities": amenities,
                "status": str(
                    rng.choice(
                        ["active", "temporarily_closed", "planned", "closed"],
                        p=[0.93, 0.03, 0.03, 0.01],
                    )
                ),
                "signage_unified": bool(rng.random() < 0.8),
                "brand": "渝工港湾" if rng.random() < 0.6 else "",
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
            slon, slat = from_wgs84(float(lon), float(lat), crs=crs)
            row.update(lon=round(float(slon), 7), lat=round(float(slat), 7), crs=crs)
            row["listings"] = [_listing(p, float(lon), float(lat), name, rng) for p in Provider]
            yield row
