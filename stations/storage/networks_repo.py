"""Street networks in SQL (schema 9): one row per profile with its arrays as one blob, and
the cache of each network's station lists. Listings never read the blobs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from stations.domain.travel import NetworkInfo, Travel
from stations.storage.sqlbase import SQLBase, dump_json, now, stamp
from stations.storage.store import NetworkStore

_INFO_COLUMNS = (
    "profile, version, source_name, source_sha256, imported_at, imported_by, nodes, edges, "
    "ways, min_lon, min_lat, max_lon, max_lat, speeds, stats, format"
)
# The versions given so far, so that a network imported again (or after a removal) never
# gets a version a worker has already loaded.
_SEQ_KEY = "network_version"


def _info(row: Any) -> NetworkInfo:
    (
        profile,
        version,
        name,
        sha,
        at,
        by,
        nodes,
        edges,
        ways,
        x0,
        y0,
        x1,
        y1,
        speeds,
        stats,
        fmt,
    ) = row
    return NetworkInfo(
        profile=Travel(profile),
        version=int(version),
        source_name=name,
        source_sha256=sha,
        imported_at=datetime.fromisoformat(at),
        imported_by=by,
        nodes=int(nodes),
        edges=int(edges),
        ways=int(ways),
        bbox=(float(x0), float(y0), float(x1), float(y1)),
        format=int(fmt),
        stats=json.loads(stats),
        speeds=json.loads(speeds),
    )


class SQLNetworks(SQLBase, NetworkStore):
    """The NetworkStore interface in SQL tables (plumbing: sqlbase.py)."""

    # -- the interface --------------------------------------------------------------------

    def put_network(self, info: NetworkInfo, arrays: bytes) -> NetworkInfo:
        with self._write() as c:
            self._before_blob_write(c)
            row = c.execute("SELECT value FROM meta WHERE key = ?", (_SEQ_KEY,)).fetchone()
            version = (int(row[0]) if row else 0) + 1
            if row is None:
                c.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_SEQ_KEY, str(version)))
            else:
                c.execute("UPDATE meta SET value = ? WHERE key = ?", (str(version), _SEQ_KEY))
            c.execute("DELETE FROM network_station_lists WHERE profile = ?", (info.profile.value,))
            c.execute("DELETE FROM networks WHERE profile = ?", (info.profile.value,))
            x0, y0, x1, y1 = info.bbox
            c.execute(
                f"INSERT INTO networks ({_INFO_COLUMNS}, arrays) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.profile.value,
                    version,
                    info.source_name,
                    info.source_sha256,
                    stamp(info.imported_at),
                    info.imported_by,
                    info.nodes,
                    info.edges,
                    info.ways,
                    x0,
                    y0,
                    x1,
                    y1,
                    dump_json(info.speeds),
                    dump_json(info.stats),
                    info.format,
                    arrays,
                ),
            )
            stored = c.execute(
                f"SELECT {_INFO_COLUMNS} FROM networks WHERE profile = ?", (info.profile.value,)
            ).fetchone()
        return _info(stored)

    def networks(self) -> list[NetworkInfo]:
        rows = (
            self._conn()
            .execute(f"SELECT {_INFO_COLUMNS} FROM networks ORDER BY profile")
            .fetchall()
        )
        return [_info(r) for r in rows]

    def network_versions(self) -> dict[Travel, int]:
        rows = self._conn().execute("SELECT profile, version FROM networks").fetchall()
        return {Travel(p): int(v) for p, v in rows}

    def network_arrays(self, profile: Travel) -> tuple[NetworkInfo, bytes] | None:
        row = (
            self._blob_conn()
            .execute(
                f"SELECT {_INFO_COLUMNS}, arrays FROM networks WHERE profile = ?",
                (profile.value,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return _info(row[:-1]), bytes(row[-1])

    def remove_network(self, profile: Travel) -> NetworkInfo | None:
        with self._write() as c:
            row = c.execute(
                f"SELECT {_INFO_COLUMNS} FROM networks WHERE profile = ?", (profile.value,)
            ).fetchone()
            if row is None:
                return None
            c.execute("DELETE FROM network_station_lists WHERE profile = ?", (profile.value,))
            c.execute("DELETE FROM networks WHERE profile = ?", (profile.value,))
        return _info(row)

    def put_station_lists(
        self, profile: Travel, *, network_version: int, stations_key: str, arrays: bytes
    ) -> None:
        with self._write() as c:
            current = c.execute(
                "SELECT version FROM networks WHERE profile = ?", (profile.value,)
            ).fetchone()
            if current is None or int(current[0]) != network_version:
                return  # the network changed meanwhile: these lists are of no use
            self._before_blob_write(c)
            c.execute("DELETE FROM network_station_lists WHERE profile = ?", (profile.value,))
            c.execute(
                "INSERT INTO network_station_lists "
                "(profile, network_version, stations_key, built_at, arrays) "
                "VALUES (?, ?, ?, ?, ?)",
                (profile.value, network_version, stations_key, stamp(now()), arrays),
            )

    def station_lists(
        self, profile: Travel, *, network_version: int, stations_key: str
    ) -> bytes | None:
        row = (
            self._blob_conn()
            .execute(
                "SELECT arrays FROM network_station_lists "
                "WHERE profile = ? AND network_version = ? AND stations_key = ?",
                (profile.value, network_version, stations_key),
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])
