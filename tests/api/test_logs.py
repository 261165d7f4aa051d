"""The server's log filter: repeated lines are counted, not repeated."""

from __future__ import annotations

import logging

from api.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "yizhan.api") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_a_repeated_line_is_logged_once_then_with_its_count(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("api.logs.time.monotonic", clock)
    repeats = RepeatFilter(every_s=10)
    template = "database unavailable on %s %s: %s"
    shown = []
    for i in range(590):  # one server's outage of 20 s, as reported
        clock.now = 1000.0 + i * 20 / 590
        r = record(template, "GET", f"/v1/stations/{i}", "connection refused")
        if repeats.filter(r):
            shown.append(r.getMessage())
    assert len(shown) == 2
    assert shown[0] == "database unavailable on GET /v1/stations/0: connection refused"
    assert shown[1].endswith("more like this in the 10 s before, not shown]")
    dropped = int(shown[1].split("[and ")[1].split(" ")[0])
    assert 280 < dropped < 300  # every line of the first 10 s but the first
    # Another kind of line is not held back by the first kind.
    assert repeats.filter(record("the database can be reached again"))
    assert repeats.filter(record(template, "GET", "/x", "y", name="yizhan.other"))


def test_the_kinds_remembered_are_bounded():
    repeats = RepeatFilter(every_s=10, kinds=50)
    for i in range(1000):  # lines not templated: every one a new kind
        assert repeats.filter(record(f"line {i}"))
    assert len(repeats._seen) <= 50
