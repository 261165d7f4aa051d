"""A pytest plugin (``-p tests.no_playwright``) that makes Playwright impossible to import,
as on a machine without it: for checking what the browser tests do then."""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec


class _NoPlaywright:
    def find_spec(self, name: str, path: object, target: object = None) -> ModuleSpec | None:
        if name == "playwright" or name.startswith("playwright."):
            msg = f"No module named {name!r} (tests.no_playwright)"
            raise ModuleNotFoundError(msg, name=name)
        return None


sys.meta_path.insert(0, _NoPlaywright())
