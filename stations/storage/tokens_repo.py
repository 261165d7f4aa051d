"""API tokens in SQL (their hashes, never the secrets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stations.domain.auth import Role, TokenRecord
from stations.storage.sqlbase import SQLBase
from stations.storage.store import TokenStore


class SQLTokens(SQLBase, TokenStore):
    """The TokenStore interface in SQL tables (plumbing: sqlbase.py)."""

    def save_token(self, record: TokenRecord) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO tokens (id, name, role, code, secret_sha256, created_at, revoked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.name,
                    record.role.value,
                    record.code,
                    record.secret_sha256,
                    record.created_at.isoformat(),
                    record.revoked_at.isoformat() if record.revoked_at else None,
                ),
            )

    @staticmethod
    def _token(r: Any) -> TokenRecord:
        return TokenRecord(
            id=r["id"],
            name=r["name"],
            role=Role(r["role"]),
            code=r["code"],
            secret_sha256=r["secret_sha256"],
            created_at=datetime.fromisoformat(r["created_at"]),
            revoked_at=datetime.fromisoformat(r["revoked_at"]) if r["revoked_at"] else None,
        )

    def find_token(self, token_id: str) -> TokenRecord | None:
        row = self._conn().execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return None if row is None else self._token(row)

    def list_tokens(self) -> list[TokenRecord]:
        rows = self._conn().execute("SELECT * FROM tokens ORDER BY created_at, id")
        return [self._token(r) for r in rows]

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        with self._write() as c:
            cur = c.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (at.isoformat(), token_id),
            )
            return cur.rowcount > 0
