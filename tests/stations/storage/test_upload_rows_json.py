"""Upload rows' problems, warnings and cells are read back as json wrote them, also what
orjson (the fast reader) does not take."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from stations.storage.sqlbase import dump_json
from stations.storage.uploads_repo import _loads

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too
    | st.floats()  # NaN and infinities as json writes them
    | st.text(st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(_VALUES)
def test_what_json_wrote_reads_back_as_json_reads_it(value):
    text = dump_json(value)
    assert _same(_loads(text), json.loads(text))


def test_nan_and_huge_integers_in_a_cell_read_back():
    got = _loads(dump_json({"经度": float("nan"), "编号": 2**70, "x": math.inf, "y": -(2**63) - 1}))
    assert math.isnan(got["经度"]) and got["编号"] == 2**70 and got["x"] == math.inf
    assert got["y"] == -(2**63) - 1 and type(got["y"]) is int
