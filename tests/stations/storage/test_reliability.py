"""Uploads under stress: a killed commit is all-or-nothing; ten unions at once lose nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import shapely

from stations.domain.auth import Principal, Role
from stations.domain.errors import DuplicateStationError
from stations.domain.records import station_to_dict
from stations.domain.uploads import UploadStatus
from stations.services.uploads import commit_upload, plan_upload
from stations.storage.sqlite import SQLiteStore

TEN = [
    "500103",
    "500104",
    "500105",
    "500106",
    "500107",
    "500108",
    "500109",
    "500112",
    "500113",
    "500101",
]


def points_in(district, n: int, seed: int) -> np.ndarray:
    geom = district.geometry
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geom.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(4 * n, 2))
        # Keep away from the edge: a station on a border line belongs to one district only.
        inner = shapely.contains_xy(geom.buffer(-0.002), cand[:, 0], cand[:, 1])
        out = np.concatenate([out, cand[inner]])
    return out[:n]


def rows_for(district, n: int, seed: int, prefix: str = "R"):
    for i, (lon, lat) in enumerate(points_in(district, n, seed), start=2):
        yield (
            i,
            {
                "external_id": f"{prefix}{i}",
                "name": f"{district.name}驿站{prefix}{i}",
                "lon": lon,
                "lat": lat,
                "hours": "每天 8:00-20:00",
                "amenities": "热水",
            },
        )


def union(adcode: str) -> Principal:
    return Principal(f"t{adcode}", f"{adcode}工会", Role.DISTRICT, adcode)


def snapshot(store: SQLiteStore):
    return (
        [station_to_dict(s) for s in store.iter_all()],
        len(store.audit()),
        store.data_version(),
    )


@pytest.mark.slow
def test_a_commit_killed_midway_leaves_before_or_after(db_path: Path, districts):
    store = SQLiteStore(db_path)
    by = union("500112")
    commit_upload(
        store,
        plan_upload(
            rows_for(districts.get("500112"), 50, 1, "OLD"),
            store=store,
            districts=districts,
            by=by,
            filename="old.csv",
            crs="wgs84",
        ).id,
        by=by,
    )
    upload = plan_upload(
        rows_for(districts.get("500112"), 20_000, 2),
        store=store,
        districts=districts,
        by=by,
        filename="big.csv",
        crs="wgs84",
    )
    before = snapshot(store)
    store.close()
    exe = Path(sys.executable).with_name("yizhan")
    wal = db_path.with_name(db_path.name + "-wal")
    outcomes = set()
    for delay_s in (0.05, 0.3):
        size0 = wal.stat().st_size if wal.exists() else 0
        proc = subprocess.Popen(
            [
                str(exe),
                "upload",
                "commit",
                upload.id,
                "--union",
                "district:500112",
                "--database",
                f"sqlite:///{db_path}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        # Wait until the transaction is writing (the WAL grows), then a little more.
        while time.monotonic() < deadline and proc.poll() is None:
            if wal.exists() and wal.stat().st_size > size0 + 64 * 1024:
                break
            time.sleep(0.005)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with SQLiteStore(db_path) as store:
            state = snapshot(store)
            if state == before:
                outcomes.add("before")
                assert store.get_upload(upload.id).status is UploadStatus.DRY_RUN
            else:
                outcomes.add("after")
                assert store.count() == 20_050
                assert store.get_upload(upload.id).status is UploadStatus.COMMITTED
                break
    assert "before" in outcomes  # at least one kill landed inside the transaction
    with SQLiteStore(db_path) as store:
        if store.get_upload(upload.id).status is UploadStatus.DRY_RUN:
            commit_upload(store, upload.id, by=by)
        assert store.count() == 20_050
        assert sum(1 for e in store.audit() if e.action == "create") == 20_050


def test_ten_unions_uploading_at_once_lose_nothing(db_path: Path, districts):
    SQLiteStore(db_path).close()
    errors: list[BaseException] = []

    def work(adcode: str, seed: int) -> None:
        store = SQLiteStore(db_path)  # its own connection, as a separate worker would
        try:
            by = union(adcode)
            up = plan_upload(
                rows_for(districts.get(adcode), 150, seed),
                store=store,
                districts=districts,
                by=by,
                filename=f"{adcode}.csv",
                crs="wgs84",
            )
            assert up.counts["create"] == 150, up.counts
            commit_upload(store, up.id, by=by)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(a, i)) for i, a in enumerate(TEN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SQLiteStore(db_path) as store:
        stations = list(store.iter_all())
        assert len(stations) == 1500
        keys = [(str(s.owner), s.external_id) for s in stations]
        assert len(set(keys)) == 1500
        for adcode in TEN:
            assert sum(k[0] == f"district:{adcode}" for k in keys) == 150
        assert len([b for b in store.batches(limit=100) if b.kind == "upload"]) == 10


def test_two_dry_runs_creating_the_same_code_second_commit_refused(db_path, districts):
    with SQLiteStore(db_path) as store:
        by = union("500103")
        rows = list(rows_for(districts.get("500103"), 5, 3))
        a = plan_upload(
            iter(rows), store=store, districts=districts, by=by, filename="a", crs="wgs84"
        )
        b = plan_upload(
            iter(rows), store=store, districts=districts, by=by, filename="b", crs="wgs84"
        )
        commit_upload(store, a.id, by=by)
        before = snapshot(store)
        with pytest.raises(DuplicateStationError):
            commit_upload(store, b.id, by=by)
        assert snapshot(store) == before
        assert store.get_upload(b.id).status is UploadStatus.DRY_RUN


def test_commit_refused_when_a_station_changed_since_the_dry_run(db_path, districts):
    from stations.domain.errors import StaleWriteError

    with SQLiteStore(db_path) as store:
        by = union("500103")
        rows = list(rows_for(districts.get("500103"), 3, 4))
        commit_upload(
            store,
            plan_upload(
                iter(rows), store=store, districts=districts, by=by, filename="a", crs="wgs84"
            ).id,
            by=by,
        )
        changed = [(n, {**r, "name": r["name"] + "改"}) for n, r in rows]
        plan = plan_upload(
            iter(changed), store=store, districts=districts, by=by, filename="b", crs="wgs84"
        )
        first = next(store.iter_all())
        store.update(
            first.with_changes(brand="别人改的"), expected_version=first.version, actor="someone"
        )
        before = snapshot(store)
        with pytest.raises(StaleWriteError):
            commit_upload(store, plan.id, by=by)
        assert snapshot(store) == before
