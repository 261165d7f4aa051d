"""Positions as clerks write them: a number, degrees-minutes-seconds (106°34′12.5″,
106度34分12.5秒, with E/N or 东经/北纬), or both in one cell ("106.57,29.55" either way
round, told apart by range)."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Literal

Order = Literal["lonlat", "latlon"]

# In China longitudes are 73–136 and latitudes 3–54: the ranges do not overlap, so the
# order of a pair is told by its numbers (Chongqing: lon 105–111, lat 28–33).
LON_RANGE = (73.0, 136.0)
LAT_RANGE = (3.0, 54.0)

_DMS = re.compile(
    r"""^\s*(?P<pre>[NSEW]|东经|北纬|西经|南纬)?\s*
    (?P<deg>\d+(?:\.\d+)?)\s*(?:°|度|º|˚|d)\s*
    (?:(?P<min>\d+(?:\.\d+)?)\s*(?:['′’]|分|m)\s*)?
    (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:"|″|”|''|′′|秒|s)\s*)?
    (?P<post>[NSEW])?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PLAIN = re.compile(
    r"^\s*(?P<pre>[NSEW]|东经|北纬|西经|南纬)?\s*(?P<num>[-+]?\d+(?:\.\d+)?)\s*(?P<post>[NSEW])?\s*$",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"\s*[,;/|、]\s*|\s+")
_NEGATIVE = ("S", "W", "西经", "南纬")


def parse_degrees(value: Any) -> float | None:
    """A coordinate written in degrees (decimal or degrees-minutes-seconds), or None when
    the text is not one. Numbers pass through."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    plain = _PLAIN.match(text)
    if plain is not None:
        number = float(plain["num"])
        sign = plain["pre"] or plain["post"] or ""
        return -abs(number) if sign.upper() in _NEGATIVE else number
    found = _DMS.match(text)
    if found is None:
        return None
    minutes = float(found["min"] or 0)
    seconds = float(found["sec"] or 0)
    if minutes >= 60 or seconds >= 60:
        return None
    number = float(found["deg"]) + minutes / 60 + seconds / 3600
    sign = found["pre"] or found["post"] or ""
    return -number if sign.upper() in _NEGATIVE else number


def is_degrees_text(value: Any) -> bool:
    """Whether a cell is degrees-minutes-seconds text, or a number with its hemisphere
    (E106.5, 北纬29.5): not a plain number."""
    if not isinstance(value, str):
        return False
    if value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        return False  # a plain number: the common case, told without a regex
    return bool(re.search(r"[°度º˚′″'\"分秒东北西南NSEWnsew]", value))


def _in(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def split_pair(value: Any) -> tuple[float, float, Order] | str:
    """A position written in one cell as (lon, lat, the order it was written in), or the
    reason in Chinese why it cannot be read."""
    text = unicodedata.normalize("NFKC", str(value)).strip().strip("()[]")
    parts = [p for p in _SEPARATORS.split(text) if p]
    if len(parts) != 2:
        parts = [p for p in re.split(r"\s*[,;/|、]\s*", text) if p.strip()]
    if len(parts) != 2:
        # "106°34′12.5″E 29°33′0″N": two DMS values with blanks inside and between.
        parts = [p for p in re.split(r"(?<=[″\"秒NSEWnsew])\s+", text) if p.strip()]
    if len(parts) != 2:
        return f"经纬度应写成“经度,纬度”两个数，而不是“{text[:60]}”"
    first, second = parse_degrees(parts[0]), parse_degrees(parts[1])
    if first is None or second is None:
        return f"经纬度“{text[:60]}”中有不是度数的部分"
    labelled = [re.search(r"北纬|N|n", p) is not None for p in parts]
    if labelled[0] and not labelled[1]:
        return second, first, "latlon"
    if labelled[1] and not labelled[0]:
        return first, second, "lonlat"
    if _in(first, LON_RANGE) and _in(second, LAT_RANGE):
        return first, second, "lonlat"
    if _in(first, LAT_RANGE) and _in(second, LON_RANGE):
        return second, first, "latlon"
    return (
        f"经纬度“{text[:60]}”无法判断哪个是经度、哪个是纬度"
        f"（我国经度在 {LON_RANGE[0]:.0f}–{LON_RANGE[1]:.0f}、纬度在 "
        f"{LAT_RANGE[0]:.0f}–{LAT_RANGE[1]:.0f} 之间）"
    )


ORDER_WORDS: dict[Order, str] = {"lonlat": "“经度,纬度”", "latlon": "“纬度,经度”"}
