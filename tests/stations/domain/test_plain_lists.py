"""The plain lane's list cells, read word by word, read as every other row's are."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stations.domain import validation
from stations.domain.model import AMENITY_LABELS, ENTRY_METHOD_LABELS

_WORD = st.sampled_from(
    [
        *AMENITY_LABELS,
        *AMENITY_LABELS.values(),
        *ENTRY_METHOD_LABELS,
        *ENTRY_METHOD_LABELS.values(),
        "Hot_Water",
        "QR",
        "饮水机",
        "飞机场",
        "x" * 300,
        "",
    ]
)
_SEPARATOR = st.sampled_from(["、", ",", "，", ";", " ", "/", "|", " 、 ", "\t", "\n"])


@settings(max_examples=400, deadline=None)
@given(
    key=st.sampled_from(["amenities", "entry_methods"]),
    words=st.lists(st.tuples(_WORD, _SEPARATOR), max_size=8),
    edge=st.sampled_from(["", " ", "、"]),
)
def test_a_list_cell_read_word_by_word_is_what_list_cells_reads(key, words, edge):
    text = edge + "".join(w + s for w, s in words) + edge
    expected = validation._list_cells((key, {key: text}.get))
    assert validation._plain_list(key, text) == expected
    assert validation._plain_list(key, text) == expected  # the words kept read the same
    assert validation._plain_list(key, None) == validation._list_cells((key, {}.get))
