"""One background thread that re-reads a read model when woken (the ops snapshot, the
events calendar): readers keep what there is and wake it, the thread does the reading."""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundRefresh:
    """Runs ``work`` holding ``lock`` in a daemon thread named ``name``, once per
    :meth:`wake` (wakes while it works are folded into one more run). The thread starts at
    the first wake; :meth:`close` stops it."""

    def __init__(self, name: str, lock: threading.Lock, work: Callable[[], object]) -> None:
        self._name = name
        self._lock = lock
        self._work = work
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            with self._lock:
                self._work()

    def close(self, timeout: float) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
