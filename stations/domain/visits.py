"""Workers' check-ins (签到) at a station: who they are by occupation, never by name.

A check-in keeps the station, the occupation (one of :data:`OCCUPATIONS`) and the hour; the
keyed hash of the address it came from is kept a short while only, to limit abuse.
"""

from __future__ import annotations

# code -> the label on the poster page and in the figures; the order is the buttons' order.
OCCUPATION_LABELS: dict[str, str] = {
    "delivery": "外卖配送员",
    "courier": "快递员",
    "ride_hailing": "网约车司机",
    "truck": "货车司机",
    "sanitation": "环卫工人",
    "other": "其他",
}
OCCUPATIONS: tuple[str, ...] = tuple(OCCUPATION_LABELS)
# The rollup's column for each occupation (visit_counts.n_<code>).
OCCUPATION_COLUMNS: dict[str, str] = {code: f"n_{code}" for code in OCCUPATIONS}
