"""pygal, imported without the import finder it leaves behind.

pygal appends a finder to ``sys.meta_path`` (for its map plugins, ``pygal.maps.*``, unused
here) that has only the old ``find_module``: from then on every import that no other finder
resolves (an optional dependency tried and missing, like openpyxl's lxml) warns
ImportWarning, an error under our tests' ``-W error``. It is taken out here, before any
other import can meet it; import pygal from this module.
"""

from __future__ import annotations

import sys

import pygal
from pygal.style import Style

sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

__all__ = ["Style", "pygal"]
