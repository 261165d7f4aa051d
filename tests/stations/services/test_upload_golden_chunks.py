"""The golden test's broken sheets again, in chunks of 1 to 3 rows: its sheets (25 rows at
most) never crossed a chunk boundary (1,000 rows), so a row's checks that depend on the
rows of other chunks (duplicates within the file, seen codes, the chunk's registry query)
were compared against the reference only on the bench file."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stations.services import uploads
from tests.stations.services.test_upload_golden import (
    ADMIN,
    YUZHONG,
    _as_rows,
    _both,
    _sheet,
    golden_store,  # noqa: F401 (the fixture)
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_broken_sheets_in_small_chunks_plan_to_the_same_report(
    golden_store,  # noqa: F811
    districts,
    data,
    monkeypatch,
):
    size = data.draw(st.sampled_from([1, 2, 3]))
    real = uploads._chunks
    monkeypatch.setattr(uploads, "_chunks", lambda rows, _size=size: real(rows, _size))
    try:
        sheet = data.draw(_sheet(districts))
        crs = data.draw(st.sampled_from([None, "gcj02", "wgs84", "bd09"]))
        by = data.draw(st.sampled_from([ADMIN, YUZHONG]))
        full_list = data.draw(st.booleans()) and by is YUZHONG
        _both(
            golden_store, _as_rows(sheet), districts=districts, by=by, crs=crs, full_list=full_list
        )
    finally:
        monkeypatch.setattr(uploads, "_chunks", real)
