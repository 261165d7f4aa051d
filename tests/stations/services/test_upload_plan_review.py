"""Review of s14's planning changes: a plan failing part-way leaves no chunk behind, two
plans at once each store their own rows, a commit reads a dry run whole, and the collector's
threshold (raised while any plan runs) is put back however plans end."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from stations.domain.auth import Principal, Role
from stations.formats.io import read_rows
from stations.services import uploads

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import upload as bench_upload

ADMIN = Principal("t", "市总工会", Role.ADMIN, None)


@pytest.fixture(scope="module")
def file_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], dict[str, str]]:
    path = tmp_path_factory.mktemp("review") / "stations.csv"
    bench_upload.make_file(path, 2500, 11)  # three chunks of CHUNK_ROWS (the last partial)
    source = read_rows(path)
    return list(source.rows), source.columns


def _plan(store: Any, rows: Any, columns: dict[str, str], districts: Any, **kw: Any):
    return uploads.plan_upload(
        rows,
        store=store,
        districts=districts,
        by=ADMIN,
        filename="f.csv",
        crs="gcj02",
        columns=columns,
        **kw,
    )


def _chunk_count(store: Any) -> int:
    return store._conn().execute("SELECT count(*) FROM upload_rows").fetchone()[0]


def _report(store: Any, upload_id: str) -> list[Any]:
    return [repr(r) for r in store.iter_upload_rows(upload_id)]


def test_a_plan_failing_after_some_chunks_leaves_nothing_and_the_threshold_back(
    any_store, districts, file_rows
):
    rows, columns = file_rows
    before = gc.get_threshold()

    def failing():
        for i, r in enumerate(rows):
            if i == 2200:  # two chunks stored
                raise OSError("the file went away")
            yield r

    with pytest.raises(OSError, match="went away"):
        _plan(any_store, failing(), columns, districts)
    assert gc.get_threshold() == before
    assert _chunk_count(any_store) == 0
    found, total = any_store.list_uploads(owner=None, every_owner=True, limit=10, offset=0)
    assert (list(found), total) == ([], 0)


def test_two_plans_at_once_store_what_each_planned_alone(any_store, districts, file_rows):
    rows, columns = file_rows
    alone = _plan(any_store, iter(rows), columns, districts)
    want = _report(any_store, alone.id)
    before = gc.get_threshold()
    done: list[Any] = []
    errors: list[BaseException] = []

    def plan() -> None:
        try:
            done.append(_plan(any_store, iter(rows), columns, districts, retention_h=1e6))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=plan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert gc.get_threshold() == before
    for up in done:
        assert up.counts == alone.counts
        assert _report(any_store, up.id) == want
        page = [repr(r) for r in any_store.iter_upload_rows(up.id, limit=7, offset=997)]
        assert page == want[997:1004]


def test_a_dry_run_commits_every_chunk_and_reverts(any_store, districts, file_rows):
    rows, columns = file_rows
    up = _plan(any_store, iter(rows), columns, districts)
    planned = sum(up.counts.get(a, 0) for a in ("create", "update", "close"))
    assert planned > 2000
    result = uploads.commit_upload(any_store, up.id, by=ADMIN, accepted_only=True)
    assert len(result.ids) == planned
    assert _report(any_store, up.id)  # the report stays readable once committed
    uploads.revert_upload(any_store, up.id, by=ADMIN)
    assert any_store.find_upload(up.id).status.value == "reverted"


# -- the collector's threshold ------------------------------------------------------------


def _with_threshold(first: int):
    before = gc.get_threshold()
    gc.set_threshold(first, before[1], before[2])
    return before


def test_nested_plans_with_the_inner_failing_put_the_threshold_back():
    before = _with_threshold(700)
    try:
        with uploads._fewer_collections():
            with pytest.raises(ValueError), uploads._fewer_collections():
                raise ValueError
            assert gc.get_threshold()[0] == uploads._PLANNING_GC_THRESHOLD
        assert gc.get_threshold()[0] == 700
        assert uploads._planning_gc["plans"] == 0
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("first", [0, 1, 10_000, 50_000])
def test_a_threshold_off_or_already_high_is_left_as_it_was(first):
    before = _with_threshold(first)
    try:
        with uploads._fewer_collections():
            assert gc.get_threshold()[0] == max(first, uploads._PLANNING_GC_THRESHOLD) or (
                first == 0 and gc.get_threshold()[0] == 0
            )
        assert gc.get_threshold()[0] == first
    finally:
        gc.set_threshold(*before)


def test_a_threshold_set_by_someone_else_during_a_plan_is_kept():
    before = _with_threshold(700)
    try:
        with uploads._fewer_collections():
            gc.set_threshold(2_000, before[1], before[2])  # the operator's choice
        assert gc.get_threshold()[0] == 2_000
    finally:
        gc.set_threshold(*before)


def test_many_threads_starting_and_ending_plans_leave_the_threshold_as_it_was():
    before = _with_threshold(700)
    try:
        barrier = threading.Barrier(8)

        def plan() -> None:
            barrier.wait()
            for _ in range(200):
                with uploads._fewer_collections():
                    pass

        threads = [threading.Thread(target=plan) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert gc.get_threshold()[0] == 700
        assert uploads._planning_gc["plans"] == 0
    finally:
        gc.set_threshold(*before)


def test_a_commit_racing_a_removal_of_its_dry_run_commits_it_whole(any_store, districts, file_rows):
    """Removing the plan while a commit reads it (a purge from another request) waits for the
    commit, which sees every chunk (checked: it holds in both stores)."""
    rows, columns = file_rows
    up = _plan(any_store, iter(rows[:2200]), columns, districts)
    real = any_store.iter_planned_changes
    removed: list[bool] = []

    def racing(upload_id: str):
        for i, change in enumerate(real(upload_id)):
            if i == 10:
                other = threading.Thread(
                    target=lambda: removed.append(any_store.delete_upload(upload_id))
                )
                other.start()
                other.join(timeout=2)  # blocked behind the commit's transaction
            yield change

    any_store.iter_planned_changes = racing
    try:
        result = uploads.commit_upload(any_store, up.id, by=ADMIN, accepted_only=True)
    finally:
        del any_store.iter_planned_changes
    assert len(result.ids) == sum(up.counts[a] for a in ("create", "update", "close"))
    for _ in range(100):
        if removed:
            break
        threading.Event().wait(0.1)
    assert removed == [False]  # committed: no longer removable
