"""The one time parser: ISO 8601, Asia/Shanghai unless the text says, within sane years."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.when import TimeError, parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2025-10-01T14:30", "2025-10-01T14:30:00+08:00", id="naive"),
        pytest.param("2025-10-01 14:30", "2025-10-01T14:30:00+08:00", id="space"),
        pytest.param("2025-10-01T06:30Z", "2025-10-01T14:30:00+08:00", id="utc"),
        pytest.param("2025-10-01T00:30-06:00", "2025-10-01T14:30:00+08:00", id="offset"),
        pytest.param("2025-10-01", "2025-10-01T00:00:00+08:00", id="date"),
        pytest.param("2000-01-01T00:00", "2000-01-01T00:00:00+08:00", id="earliest"),
    ],
)
def test_times_are_read_as_shanghai_wall_time(text, expected):
    assert parse_time(text).isoformat() == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0001-01-01T00:00+14:00", id="year-1-east"),
        pytest.param("9999-12-31T23:59-12:00", id="year-9999-west"),
        pytest.param("0001-01-01T00:00", id="year-1-naive"),
        pytest.param("1900-01-01T12:00", id="before-1901-lmt"),
        pytest.param("1999-12-31T23:59", id="just-before"),
        pytest.param("1999-12-31T15:59Z", id="just-before-utc"),
        pytest.param("2100-01-01T00:00", id="just-after"),
    ],
)
def test_times_outside_the_sane_years_are_refused_not_overflowed(text):
    with pytest.raises(TimeError) as caught:
        parse_time(text)
    assert caught.value.code == "time_out_of_range"
    assert "2000-01-01" in str(caught.value) and "2000-01-01" in caught.value.zh


def test_no_time_ever_comes_back_with_local_mean_time():
    # Asia/Shanghai before 1901 is +08:05:43 in the tz database; never answer with it.
    for text in ("2000-01-01T00:00", "2099-12-31T23:59", "2050-06-30T12:00"):
        assert parse_time(text).utcoffset() == timedelta(hours=8)


def test_a_datetime_cell_is_checked_too():
    assert parse_time(datetime(2025, 6, 30, 10, 0)).isoformat() == "2025-06-30T10:00:00+08:00"
    with pytest.raises(TimeError):
        parse_time(datetime(1899, 12, 31))


@pytest.mark.parametrize("text", ["tomorrow", "2025-13-01", "", "10:00"])
def test_unreadable_times_say_how_to_write_one(text):
    with pytest.raises(TimeError) as caught:
        parse_time(text)
    assert caught.value.code == "invalid_time"
    assert "2025-10-01T14:30" in str(caught.value) and "例" in caught.value.zh
