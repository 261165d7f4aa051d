"""A demand layer: weighted points where outdoor workers are, and the problems of reading one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from stations.domain.auth import CITY_UNION
from stations.domain.validation import text_problem, visible


@dataclass(frozen=True, slots=True)
class RowProblem:
    """What is wrong with one row of a demand file, by the row number the user sees."""

    row: int
    column: str
    code: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        value = None if self.value is None else str(self.value)[:200]
        return {
            "row": self.row,
            "column": self.column,
            "code": self.code,
            "message": self.message,
            "value": value,
        }


class DemandFileError(ValueError):
    """A demand file that cannot be stored; ``problems`` lists every bad row."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        shown = "; ".join(f"row {p.row} {p.column}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{len(problems)} problem(s): {shown}{more}")


@dataclass(frozen=True, slots=True)
class DemandLayer:
    """A named set of WGS-84 demand points with non-negative weights."""

    name: str
    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    labels: tuple[str, ...] = ()
    sample: bool = False
    updated_at: datetime | None = None
    actor: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    owner: str = CITY_UNION  # who may replace or delete it (and the city union)

    def __len__(self) -> int:
        return len(self.lon)

    @property
    def total_weight(self) -> float:
        return float(self.weight.sum())

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "points": len(self),
            "total_weight": round(self.total_weight, 3),
            "sample": self.sample,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "owner": self.owner,
        }


class LayerNameError(ValueError):
    """A demand layer name that cannot be one."""


def check_layer_name(name: str) -> str:
    """Return the layer name stripped, or raise LayerNameError saying what a name may be."""
    name = name.strip()
    bad = (
        not name
        or len(name) > 64
        or any(c in name for c in "/\\?#%")
        or text_problem(name, line_breaks=False) is not None
    )
    if bad:
        msg = (
            "a demand layer name is 1 to 64 characters without / \\ ? # % or control "
            f"characters: {visible(name)!r}"
        )
        raise LayerNameError(msg)
    return name
