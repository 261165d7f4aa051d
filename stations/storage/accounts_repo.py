"""Console accounts and their sessions in SQL (password hashes and session digests only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stations.domain.accounts import Account, AccountExistsError, AccountNotFoundError, Session
from stations.domain.auth import Role
from stations.storage.sqlbase import SQLBase, stamp
from stations.storage.store import AccountStore


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SQLAccounts(SQLBase, AccountStore):
    """The AccountStore interface in SQL tables (plumbing: sqlbase.py)."""

    @staticmethod
    def _account(r: Any) -> Account:
        return Account(
            id=int(r["id"]),
            username=r["username"],
            name=r["name"],
            role=Role(r["role"]),
            code=r["code"],
            password_hash=r["password_hash"],
            created_at=datetime.fromisoformat(r["created_at"]),
            password_changed_at=datetime.fromisoformat(r["password_changed_at"]),
            disabled_at=_time(r["disabled_at"]),
        )

    def add_account(self, account: Account) -> Account:
        try:
            with self._write() as c:
                new_id = c.execute(
                    "INSERT INTO accounts (username, name, role, code, password_hash, created_at,"
                    " password_changed_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (
                        account.username,
                        account.name,
                        account.role.value,
                        account.code,
                        account.password_hash,
                        stamp(account.created_at),
                        stamp(account.password_changed_at),
                        stamp(account.disabled_at) if account.disabled_at else None,
                    ),
                ).fetchone()[0]
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise AccountExistsError(account.username) from None
            raise
        return self.get_account(int(new_id))

    def get_account(self, account_id: int) -> Account:
        row = self._conn().execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise AccountNotFoundError(account_id)
        return self._account(row)

    def find_account(self, username: str) -> Account | None:
        row = (
            self._conn()
            .execute("SELECT * FROM accounts WHERE username = ?", (username,))
            .fetchone()
        )
        return None if row is None else self._account(row)

    def list_accounts(self) -> list[Account]:
        rows = self._conn().execute("SELECT * FROM accounts ORDER BY role, code, username")
        return [self._account(r) for r in rows]

    def save_account_state(self, account: Account, *, end_sessions_at: datetime | None) -> None:
        """Store an account's password hash and disabled time; with ``end_sessions_at``,
        end every session of it in the same transaction (a disabled account is out at once)."""
        assert account.id is not None
        with self._write() as c:
            cur = c.execute(
                "UPDATE accounts SET password_hash = ?, password_changed_at = ?, disabled_at = ?"
                " WHERE id = ?",
                (
                    account.password_hash,
                    stamp(account.password_changed_at),
                    stamp(account.disabled_at) if account.disabled_at else None,
                    account.id,
                ),
            )
            if cur.rowcount == 0:
                raise AccountNotFoundError(account.id)
            if end_sessions_at is not None:
                c.execute(
                    "UPDATE sessions SET ended_at = ? WHERE account_id = ? AND ended_at IS NULL",
                    (stamp(end_sessions_at), account.id),
                )

    # -- sessions -------------------------------------------------------------------------

    @staticmethod
    def _session(r: Any) -> Session:
        return Session(
            id_sha256=r["id_sha256"],
            account_id=int(r["account_id"]),
            csrf=r["csrf"],
            created_at=datetime.fromisoformat(r["created_at"]),
            expires_at=datetime.fromisoformat(r["expires_at"]),
            last_seen_at=datetime.fromisoformat(r["last_seen_at"]),
            ended_at=_time(r["ended_at"]),
        )

    def add_session(self, session: Session, *, purge_before: datetime) -> None:
        """Store a new session; sessions that ended or expired before ``purge_before`` go."""
        with self._write() as c:
            c.execute(
                "DELETE FROM sessions WHERE expires_at < ? OR ended_at < ?",
                (stamp(purge_before), stamp(purge_before)),
            )
            c.execute(
                "INSERT INTO sessions (id_sha256, account_id, csrf, created_at, expires_at,"
                " last_seen_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (
                    session.id_sha256,
                    session.account_id,
                    session.csrf,
                    stamp(session.created_at),
                    stamp(session.expires_at),
                    stamp(session.last_seen_at),
                ),
            )

    def find_session(self, id_sha256: str) -> tuple[Session, Account] | None:
        """A session and its account, in one read (every signed-in request makes it)."""
        row = (
            self._conn()
            .execute(
                "SELECT s.id_sha256, s.account_id, s.csrf, s.created_at AS s_created,"
                " s.expires_at, s.last_seen_at, s.ended_at, a.* FROM sessions s"
                " JOIN accounts a ON a.id = s.account_id WHERE s.id_sha256 = ?",
                (id_sha256,),
            )
            .fetchone()
        )
        if row is None:
            return None
        session = Session(
            id_sha256=row["id_sha256"],
            account_id=int(row["account_id"]),
            csrf=row["csrf"],
            created_at=datetime.fromisoformat(row["s_created"]),
            expires_at=datetime.fromisoformat(row["expires_at"]),
            last_seen_at=datetime.fromisoformat(row["last_seen_at"]),
            ended_at=_time(row["ended_at"]),
        )
        return session, self._account(row)

    def touch_session(self, id_sha256: str, *, seen_at: datetime, expires_at: datetime) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE sessions SET last_seen_at = ?, expires_at = ?"
                " WHERE id_sha256 = ? AND ended_at IS NULL",
                (stamp(seen_at), stamp(expires_at), id_sha256),
            )

    def end_session(self, id_sha256: str, at: datetime) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE sessions SET ended_at = coalesce(ended_at, ?) WHERE id_sha256 = ?",
                (stamp(at), id_sha256),
            )

    def list_sessions(self, account_id: int) -> list[Session]:
        rows = self._conn().execute(
            "SELECT * FROM sessions WHERE account_id = ? ORDER BY created_at", (account_id,)
        )
        return [self._session(r) for r in rows]
