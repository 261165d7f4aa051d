"""Demand layers in SQL: a layer and its weighted points."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from stations.domain.demand import DemandLayer
from stations.domain.errors import (
    ForbiddenError,
)
from stations.storage.sqlbase import SQLBase, now
from stations.storage.store import DemandStore


class SQLDemand(SQLBase, DemandStore):
    """The DemandStore interface in SQL tables (plumbing: sqlbase.py)."""

    @staticmethod
    def _check_demand_owner(
        c: Any, name: str, may_change: Callable[[str], bool] | None
    ) -> str | None:
        """The owner of layer ``name`` (None if there is none), refused (ForbiddenError)
        unless ``may_change`` allows it: checked inside the write's transaction."""
        row = c.execute("SELECT owner FROM demand_layers WHERE name = ?", (name,)).fetchone()
        owner = None if row is None else str(row[0])
        if owner is not None and may_change is not None and not may_change(owner):
            msg = (
                f"需求图层 {name!r} 属于 {owner}，只有它的所有者或市总工会可以替换或删除它"
                f"（the demand layer {name!r} belongs to {owner}: only its owner or the city "
                "union may replace or delete it; pick another name）"
            )
            raise ForbiddenError(msg)
        return owner

    def save_demand(
        self,
        layer: DemandLayer,
        *,
        actor: str,
        may_replace: Callable[[str], bool] | None = None,
    ) -> None:
        labels = layer.labels or ("",) * len(layer)
        with self._write() as c:
            # A replaced layer keeps its owner (the city union may replace a district's).
            owner = self._check_demand_owner(c, layer.name, may_replace) or layer.owner
            c.execute("DELETE FROM demand_layers WHERE name = ?", (layer.name,))
            c.execute(
                "INSERT INTO demand_layers (name, sample, updated_at, actor, source, owner)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    layer.name,
                    int(layer.sample),
                    now().isoformat(),
                    actor,
                    json.dumps(layer.source),
                    owner,
                ),
            )
            c.executemany(
                "INSERT INTO demand_points (layer, seq, lon, lat, weight, label)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (layer.name, i, x, y, w, label)
                    for i, (x, y, w, label) in enumerate(
                        zip(
                            layer.lon.tolist(),
                            layer.lat.tolist(),
                            layer.weight.tolist(),
                            labels,
                            strict=True,
                        )
                    )
                ),
            )

    def find_demand(self, name: str) -> DemandLayer | None:
        conn = self._conn()
        head = conn.execute("SELECT * FROM demand_layers WHERE name = ?", (name,)).fetchone()
        if head is None:
            return None
        rows = conn.execute(
            "SELECT lon, lat, weight, label FROM demand_points WHERE layer = ? ORDER BY seq",
            (name,),
        ).fetchall()
        return DemandLayer(
            head["name"],
            np.array([r[0] for r in rows], np.float64),
            np.array([r[1] for r in rows], np.float64),
            np.array([r[2] for r in rows], np.float64),
            tuple(r[3] for r in rows),
            sample=bool(head["sample"]),
            updated_at=datetime.fromisoformat(head["updated_at"]),
            actor=head["actor"],
            source=json.loads(head["source"]),
            owner=head["owner"],
        )

    def list_demand(self) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT l.name, l.sample, l.updated_at, l.owner, COUNT(p.seq) AS points,"
            " COALESCE(SUM(p.weight), 0) AS total_weight"
            " FROM demand_layers l LEFT JOIN demand_points p ON p.layer = l.name"
            " GROUP BY l.name, l.sample, l.updated_at, l.owner ORDER BY l.name"
        )
        return [
            {
                "name": r["name"],
                "points": r["points"],
                "total_weight": round(r["total_weight"], 3),
                "sample": bool(r["sample"]),
                "updated_at": r["updated_at"],
                "owner": r["owner"],
            }
            for r in rows
        ]

    def delete_demand(self, name: str, *, may_delete: Callable[[str], bool] | None = None) -> bool:
        with self._write() as c:
            self._check_demand_owner(c, name, may_delete)
            return c.execute("DELETE FROM demand_layers WHERE name = ?", (name,)).rowcount > 0
