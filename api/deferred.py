"""An object made at its first use: the auth limiter of a server started while its
database cannot be reached (it reads the store when made)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Deferred:
    """What ``make`` returns, made at the first use of an attribute (then kept)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
                made = self._made
        return getattr(made, name)
