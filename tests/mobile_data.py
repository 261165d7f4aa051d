"""Builders for mobile stations (流动驿站) in tests: a bus with a timetable of stops."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from geodata.districts import Districts
from geodata.hours import TZ
from stations.domain.model import Station, Stop
from tests.builders import make_station

# Two stops in 渝中区, well away from the base (解放碑): a Wednesday-morning stand (not on
# holidays) and a Saturday one.
MARKET = Stop("大坪市场", 106.5200, 29.5400, "We 10:00-14:00; PH off", "周三 10:00-14:00")
SQUARE = Stop("两路口广场", 106.5450, 29.5600, "Sa 09:00-12:00", "周六 9:00-12:00")
WEDNESDAY_11 = "2026-12-02T11:00:00+08:00"  # the bus at MARKET
WEDNESDAY_15 = "2026-12-02T15:00:00+08:00"  # between stops
NEW_YEAR_11 = "2025-01-01T11:00:00+08:00"  # a Wednesday, and a holiday: not there


def make_bus(districts: Districts, *stops: Stop, **overrides: Any) -> Station:
    """A validated mobile station based at 解放碑 with ``stops`` (default MARKET, SQUARE)."""
    overrides.setdefault("external_id", "BUS-1")
    overrides.setdefault("name", "流动驿站一号车")
    base = make_station(districts, **overrides)
    return replace(base, mobile=True, stops=stops or (MARKET, SQUARE))


def at(text: str) -> datetime:
    """An ISO time as an aware Asia/Shanghai datetime."""
    return datetime.fromisoformat(text).astimezone(TZ)
