"""Events in SQL: one row per event, every change with its audit row in the same transaction."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from stations.domain.events import (
    WEEKDAYS,
    Event,
    EventKind,
    EventNotFoundError,
    EventSpec,
    Recurrence,
    Repeat,
    StaleEventError,
    last_day,
    parts_by_owner,
)
from stations.storage.sqlbase import SQLBase, dump_json, stamp
from stations.storage.store import EventStore

_COLUMNS = (
    "id, owner, title, kind, station_ids, starts_at, ends_at, last_day, recurrence, offer, "
    "audience, while_supplies_last, version, created_at, created_by, updated_at, updated_by"
)


def _recurrence_json(r: Recurrence) -> str:
    return dump_json(r.as_dict())


def _recurrence(text: str) -> Recurrence:
    d = json.loads(text or "{}")
    repeat = Repeat(d.get("kind", "none"))
    return Recurrence(
        repeat=repeat,
        weekdays=tuple(WEEKDAYS.index(w) for w in d.get("weekdays", [])),
        until=date.fromisoformat(d["until"]) if d.get("until") else None,
        dates=tuple(date.fromisoformat(x) for x in d.get("dates", [])),
        skip_holidays=bool(d.get("skip_holidays", True)),
    )


def _event(r: Any) -> Event:
    return Event(
        id=int(r["id"]),
        owner=r["owner"],
        title=r["title"],
        kind=EventKind(r["kind"]),
        station_ids=tuple(int(i) for i in json.loads(r["station_ids"])),
        start=datetime.fromisoformat(r["starts_at"]),
        end=datetime.fromisoformat(r["ends_at"]),
        offer=r["offer"],
        audience=r["audience"],
        while_supplies_last=bool(r["while_supplies_last"]),
        recurrence=_recurrence(r["recurrence"]),
        version=int(r["version"]),
        created_at=datetime.fromisoformat(r["created_at"]),
        created_by=r["created_by"],
        updated_at=datetime.fromisoformat(r["updated_at"]),
        updated_by=r["updated_by"],
    )


def _spec(event: Event) -> EventSpec:
    return EventSpec(**{name: getattr(event, name) for name in EventSpec.__dataclass_fields__})


def _values(spec: EventSpec) -> tuple[Any, ...]:
    return (
        spec.title,
        spec.kind.value,
        json.dumps(list(spec.station_ids)),
        stamp(spec.start),
        stamp(spec.end),
        last_day(spec).isoformat(),
        _recurrence_json(spec.recurrence),
        spec.offer,
        spec.audience,
        int(spec.while_supplies_last),
    )


def _snapshot(event: Event) -> str:
    return dump_json(
        {"id": event.id, "owner": event.owner, "version": event.version, **event.as_body()}
    )


class SQLEvents(SQLBase, EventStore):
    """The EventStore interface in SQL tables (plumbing: sqlbase.py)."""

    @staticmethod
    def _audit_event(
        c: Any,
        event_id: int,
        action: str,
        actor: str,
        at: datetime,
        before: Event | None,
        after: Event | None,
    ) -> None:
        c.execute(
            "INSERT INTO event_audit (event_id, action, actor, at, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                event_id,
                action,
                actor,
                stamp(at),
                None if before is None else _snapshot(before),
                None if after is None else _snapshot(after),
            ),
        )

    @staticmethod
    def _read_event(c: Any, event_id: int) -> Event | None:
        row = c.execute(f"SELECT {_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else _event(row)

    def _insert_event(
        self, c: Any, spec: EventSpec, *, owner: str, actor: str, at: datetime
    ) -> Event:
        event_id = int(
            c.execute(
                "INSERT INTO events (title, kind, station_ids, starts_at, ends_at, last_day, "
                "recurrence, offer, audience, while_supplies_last, owner, version, "
                "created_at, created_by, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) RETURNING id",
                (*_values(spec), owner, stamp(at), actor, stamp(at), actor),
            ).fetchone()[0]
        )
        event = self._read_event(c, event_id)
        assert event is not None
        self._audit_event(c, event_id, "create", actor, at, None, event)
        return event

    def add_event(self, spec: EventSpec, *, owner: str, actor: str, at: datetime) -> Event:
        with self._write() as c:
            return self._insert_event(c, spec, owner=owner, actor=actor, at=at)

    def _stations_passed(
        self, c: Any, moved: dict[int, tuple[str, str]], actor: str, at: datetime
    ) -> None:
        """The events at stations that passed to another union pass with them
        (stations.domain.events.parts_by_owner), each change audited: an event all of
        whose stations passed is the new union's (an ``update`` of its owner); one at
        stations of both keeps those still of its union and a copy of it is made at the
        others (an ``update`` and a ``create``)."""
        for old in sorted({o for o, _ in moved.values()}):
            rows = c.execute(f"SELECT {_COLUMNS} FROM events WHERE owner = ?", (old,))
            for before in [_event(r) for r in rows.fetchall()]:
                if not moved.keys() & set(before.station_ids):
                    continue
                owners = self._owners_of(c, before.station_ids)
                parts = parts_by_owner(before, owners)
                (owner, kept), others = parts[0], parts[1:]
                if owner == before.owner and not others:
                    continue
                c.execute(
                    "UPDATE events SET owner = ?, station_ids = ?, version = version + 1, "
                    "updated_at = ?, updated_by = ? WHERE id = ?",
                    (owner, json.dumps(list(kept)), stamp(at), actor, before.id),
                )
                after = self._read_event(c, before.id)
                self._audit_event(c, before.id, "update", actor, at, before, after)
                for other, ids in others:
                    copy = replace(_spec(before), station_ids=ids)
                    self._insert_event(c, copy, owner=other, actor=actor, at=at)

    @staticmethod
    def _owners_of(c: Any, station_ids: tuple[int, ...]) -> dict[int, str]:
        marks = ", ".join("?" * len(station_ids))
        rows = c.execute(f"SELECT id, owner FROM stations WHERE id IN ({marks})", station_ids)
        return {int(r[0]): str(r[1]) for r in rows.fetchall()}

    def update_event(
        self,
        event_id: int,
        spec: EventSpec,
        *,
        actor: str,
        at: datetime,
        expected_version: int | None = None,
    ) -> Event:
        with self._write() as c:
            before = self._read_event(c, event_id)
            if before is None:
                raise EventNotFoundError(event_id)
            if expected_version is not None and expected_version != before.version:
                raise StaleEventError(event_id, expected_version, before.version)
            c.execute(
                "UPDATE events SET title = ?, kind = ?, station_ids = ?, starts_at = ?, "
                "ends_at = ?, last_day = ?, recurrence = ?, offer = ?, audience = ?, "
                "while_supplies_last = ?, version = version + 1, updated_at = ?, "
                "updated_by = ? WHERE id = ?",
                (*_values(spec), stamp(at), actor, event_id),
            )
            after = self._read_event(c, event_id)
            self._audit_event(c, event_id, "update", actor, at, before, after)
            assert after is not None
            return after

    def delete_event(self, event_id: int, *, actor: str, at: datetime) -> Event:
        with self._write() as c:
            before = self._read_event(c, event_id)
            if before is None:
                raise EventNotFoundError(event_id)
            c.execute("DELETE FROM events WHERE id = ?", (event_id,))
            self._audit_event(c, event_id, "delete", actor, at, before, None)
            return before

    def find_event(self, event_id: int) -> Event | None:
        return self._read_event(self._conn(), event_id)

    def list_events(self, *, owner: str | None = None, from_day: date | None = None) -> list[Event]:
        clauses, params = ["1 = 1"], []
        if owner is not None:
            clauses.append("owner = ?")
            params.append(owner)
        if from_day is not None:
            clauses.append("last_day >= ?")
            params.append(from_day.isoformat())
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY starts_at, id",
            params,
        )
        return [_event(r) for r in rows]

    def events_version(self) -> int:
        row = self._conn().execute("SELECT max(id) FROM event_audit").fetchone()
        return int(row[0] or 0)

    def event_history(self, event_id: int) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT action, actor, at, before, after FROM event_audit WHERE event_id = ? "
            "ORDER BY id",
            (event_id,),
        )
        return [
            {
                "action": r["action"],
                "actor": r["actor"],
                "at": r["at"],
                "before": json.loads(r["before"]) if r["before"] else None,
                "after": json.loads(r["after"]) if r["after"] else None,
            }
            for r in rows
        ]
