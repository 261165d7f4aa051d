"""A new station given by its record (an upload's commit) is stored as the Station is."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from stations.domain.changes import Create, CreateRecord, StationQuery
from stations.domain.errors import DuplicateStationError
from stations.domain.records import station_to_dict
from stations.storage import stations_repo
from stations.storage.open import open_store
from stations.storage.sqlbase import dump_doc
from tests.builders import make_bus, make_station

_CLOCK_DICE = {"updated_at", "code"}  # the write's time and a random code


def _stored(store: Any) -> tuple[list[Any], list[Any]]:
    def plain(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if doc is None else {k: v for k, v in doc.items() if k not in _CLOCK_DICE}

    stations = [plain(station_to_dict(s)) for s in store.iter_all()]
    audit = [(e.id, e.station_id, e.action, plain(e.before), plain(e.after)) for e in store.audit()]
    return stations, audit


def _texts(store: Any) -> tuple[list[Any], list[Any]]:
    """The stored text of each station's document and each audit entry's record."""
    c = store._conn()
    docs = [r[0] for r in c.execute("SELECT doc FROM stations ORDER BY id").fetchall()]
    afters = [r[0] for r in c.execute("SELECT after FROM audit ORDER BY id").fetchall()]
    return docs, afters


def _found_by_their_columns(store: Any) -> None:
    """Each station is found by the queries that read the columns kept beside its document
    (owner, district, self-service, position): they say what the document says."""
    for s in store.iter_all():
        box = (s.lon - 1e-4, s.lat - 1e-4, s.lon + 1e-4, s.lat + 1e-4)
        for q in (
            StationQuery(self_service=s.self_service_24h),
            StationQuery(district=s.district_adcode, owner=str(s.owner)),
            StationQuery(bbox=box, status=(s.status,)),
        ):
            assert s.id in [found.id for found in store.query(q).items], q


def _stations(districts: Any) -> list[Any]:
    base = make_station(districts)
    return [
        base,
        dataclasses.replace(base, external_id="B", self_service_24h=True, amenities=()),
        make_bus(districts, external_id="BUS"),  # a mobile station: its stops in the record
    ]


def test_records_bulk_and_one_by_one_are_stored_as_their_stations(
    any_store, districts, tmp_path, monkeypatch
):
    stations = _stations(districts)
    any_store.apply([CreateRecord(station_to_dict(s)) for s in stations], actor="t")
    reference = open_store(f"sqlite:///{tmp_path / 'stations.sqlite3'}")
    one_by_one = open_store(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    try:
        reference.apply([Create(s) for s in stations], actor="t")
        monkeypatch.setattr(stations_repo.SQLStations, "_BULK_ROWS", 1)
        one_by_one.apply([CreateRecord(station_to_dict(s)) for s in stations], actor="t")
        assert _stored(any_store) == _stored(reference) == _stored(one_by_one)
        # As text too (the bulk path binds UTF-8 bytes): dump_doc's, the same documents.
        docs, afters = _texts(any_store)
        assert docs == _texts(one_by_one)[0] == _texts(reference)[0]
        assert all(isinstance(t, str) and t == dump_doc(json.loads(t)) for t in docs + afters)
        for store in (any_store, one_by_one):
            _found_by_their_columns(store)
        got = {s.external_id: s for s in any_store.iter_all()}
        assert got["BUS"].stops == stations[2].stops and got["B"].self_service_24h
        assert [s.code is not None for s in got.values()] == [True] * 3
    finally:
        reference.close()
        one_by_one.close()


def test_a_record_whose_code_is_taken_is_refused_and_nothing_lands(any_store, districts):
    stations = _stations(districts)
    any_store.apply([Create(stations[0])], actor="t")
    before = _stored(any_store), any_store.data_version()
    with pytest.raises(DuplicateStationError):  # from the one-by-one retry
        any_store.apply([CreateRecord(station_to_dict(s)) for s in stations], actor="t")
    assert (_stored(any_store), any_store.data_version()) == before


def test_a_bulk_inserts_larger_page_cache_is_its_transactions_only(tmp_path, districts):
    """SQLite: the bulk insert's cache is set for its write and put back after it (also
    when the write fails), so that a connection keeps SQLite's default."""
    store = open_store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    try:
        c = store._conn()
        before = c.execute("PRAGMA cache_size").fetchone()[0]
        stations = _stations(districts)
        store.apply([CreateRecord(station_to_dict(s)) for s in stations], actor="t")
        assert c.execute("PRAGMA cache_size").fetchone()[0] == before

        def failing_write() -> None:
            with store._write() as w:
                store._before_bulk_insert(w)
                assert w.execute("PRAGMA cache_size").fetchone()[0] == -store._BULK_CACHE_KIB
                raise RuntimeError

        with pytest.raises(RuntimeError):
            failing_write()
        assert c.execute("PRAGMA cache_size").fetchone()[0] == before
    finally:
        store.close()
