"""While uploads are planned the cyclic collector runs less often (the interpreter's
setting): raised by the first plan, put back by the last, whatever order plans end in."""

from __future__ import annotations

import gc
import threading

from stations.services import uploads


def test_the_threshold_is_raised_while_any_plan_runs_and_put_back_after():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        with uploads._fewer_collections():
            assert gc.get_threshold()[0] == uploads._PLANNING_GC_THRESHOLD
            with uploads._fewer_collections():  # another plan, in another thread say
                pass
            assert gc.get_threshold()[0] == uploads._PLANNING_GC_THRESHOLD
        assert gc.get_threshold() == (700, before[1], before[2])
    finally:
        gc.set_threshold(*before)


def test_plans_ending_out_of_order_in_threads_leave_the_setting_as_it_was():
    before = gc.get_threshold()
    started, release = threading.Barrier(3), threading.Event()

    def plan() -> None:
        with uploads._fewer_collections():
            started.wait()
            release.wait()

    threads = [threading.Thread(target=plan) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    assert gc.get_threshold()[0] == max(before[0], uploads._PLANNING_GC_THRESHOLD)
    release.set()
    for t in threads:
        t.join()
    assert gc.get_threshold() == before


def test_a_plan_that_fails_puts_the_setting_back():
    before = gc.get_threshold()
    try:
        with uploads._fewer_collections():
            raise RuntimeError("a reader refusing the file part-way")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
