"""The change feed's rules: a page's stations each once in their last state (whatever the
page boundaries, a mirror ends where replaying every row one by one ends), and cursors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stations.domain.feed import (
    Cursor,
    CursorError,
    FeedMeta,
    FeedRow,
    expired,
    latest,
    parse_cursor,
    row_check,
)

# (station id, deleted?) per audit row, in id order.
_TRAIL = st.lists(st.tuples(st.integers(1, 6), st.booleans()), max_size=60)


def _rows(trail: list[tuple[int, bool]]) -> list[FeedRow]:
    return [
        FeedRow(i, sid, None if gone else {"id": sid, "n": i})
        for i, (sid, gone) in enumerate(trail, start=1)
    ]


@given(_TRAIL, st.lists(st.integers(1, 10), min_size=1, max_size=20))
def test_pages_of_any_size_leave_the_mirror_where_every_row_does(trail, sizes):
    rows = _rows(trail)
    one_by_one: dict[int, dict] = {}
    for r in rows:
        if r.after is None:
            one_by_one.pop(r.station_id, None)
        else:
            one_by_one[r.station_id] = r.after
    mirror: dict[int, dict] = {}
    start, k = 0, 0
    while start < len(rows):
        page = tuple(rows[start : start + sizes[k % len(sizes)]])
        changed, deleted = latest(page)
        ids = [d["id"] for d in changed] + deleted
        assert len(ids) == len(set(ids)) == len({r.station_id for r in page})  # each once
        for sid in deleted:
            mirror.pop(sid, None)
        for doc in changed:
            mirror[doc["id"]] = doc
        start += len(page)
        k += 1
    assert mirror == one_by_one


@given(st.text(alphabet="0123456789abcdef", min_size=1, max_size=32), st.integers(0, 2**63 - 1))
def test_a_cursor_reads_back_as_given(epoch, audit_id):
    check = row_check(audit_id, 3, "2025-01-01T00:00:00+08:00")
    cursor = Cursor(epoch, audit_id, check)
    assert parse_cursor(cursor.token()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v1",
        "v1.ab.1",
        "v1.AB.1.00000000",
        "v1.ab.01.00000000",
        "v1.ab.1.0000000g",
        f"v1.ab.{2**63}.00000000",
        "v1.ab.1.00000000 ",
        "v1.ab.1.00000000\n",
    ],
)
def test_anything_else_is_not_a_cursor(text):
    with pytest.raises(CursorError):
        parse_cursor(text)


def test_when_a_cursor_has_expired():
    meta = FeedMeta("ab", 10)
    good = Cursor("ab", 20, "12345678")
    assert not expired(good, meta, found_check="12345678", head_id=30)
    assert expired(good, meta, found_check="87654321", head_id=30)  # another row now
    assert expired(good, meta, found_check=None, head_id=30)  # no such row
    assert expired(Cursor("cd", 20, "12345678"), meta, found_check="12345678", head_id=30)
    assert expired(Cursor("ab", 9, "12345678"), meta, found_check="12345678", head_id=30)
    assert not expired(good, meta, found_check=None, head_id=15)  # a replica behind
    assert not expired(Cursor("ab", 10, "x"), FeedMeta("ab", 0), found_check=None, head_id=5)
