"""Each station's public code, on both stores: given at creation (by the API and by an
upload), kept through edits and owner changes, never given to another station."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stations.domain import codes as domain_codes
from stations.domain.codes import is_valid
from stations.domain.model import Owner
from stations.storage import codes_repo
from tests.builders import make_station


@pytest.fixture
def store(any_store):
    return any_store


def test_a_new_station_gets_a_valid_code_that_edits_keep(store, districts):
    made = store.create(make_station(districts, external_id="A"), actor="t")
    assert made.code is not None and is_valid(made.code)
    assert store.get(made.id).code == made.code
    assert store.station_for_code(made.code) == made.id
    edited = store.update(made.with_changes(name="新名字"), expected_version=1, actor="t")
    assert store.get(made.id).code == made.code == edited.code
    moved = store.update(
        store.get(made.id).with_changes(owner=Owner.parse("industry:jiaotong")),
        expected_version=2,
        actor="t",
    )
    assert store.get(moved.id).code == made.code
    assert next(s for s in store.iter_all() if s.id == made.id).code == made.code


def test_codes_are_distinct_and_a_deleted_stations_code_is_not_reused(store, districts):
    made = [
        store.create(make_station(districts, external_id=f"S{i}"), actor="t") for i in range(30)
    ]
    codes = {s.code for s in made}
    assert len(codes) == 30
    store.delete(made[0].id, expected_version=1, actor="t")
    # The code still names the deleted station (so its page can say it was withdrawn).
    assert store.station_for_code(made[0].code) == made[0].id
    again = store.create(make_station(districts, external_id="S0"), actor="t")
    assert again.code not in codes
    assert store.station_for_code("23456789") is None


def test_codes_drawn_for_a_bulk_insert_are_valid_uniform_and_redrawn_when_taken(
    store, districts, monkeypatch
):
    drawn = domain_codes.new_codes(31 * 400)
    assert all(is_valid(c) for c in drawn)
    for position in range(7):  # each random character uniform over the alphabet
        counts = Counter(c[position] for c in drawn)
        assert set(counts) == set(domain_codes.ALPHABET)
        assert max(counts.values()) < 2 * min(counts.values())
    made = store.create(make_station(districts, external_id="T"), actor="t")
    fresh = domain_codes.new_codes(3)
    draws = iter([[made.code, fresh[0], fresh[0]], [fresh[1], fresh[2]]])
    monkeypatch.setattr(codes_repo, "draw_codes", lambda n: next(draws)[:n] if n else [])
    with store._write() as c:  # the taken code and the repeat are drawn again
        assert codes_repo.new_codes(c.execute, 3) == [fresh[0], fresh[1], fresh[2]]


@given(st.lists(st.integers(0, 31**7 - 1), min_size=1, max_size=50))
def test_a_bulk_code_is_the_draws_seven_digits_and_their_check(values):
    """new_codes spells a whole array of draws at once: the code it makes of a draw is
    that draw's seven digits, least significant first, and their check character."""

    def by_digit(value):
        body = ""
        for _ in range(7):
            value, digit = divmod(value, 31)
            body += domain_codes.ALPHABET[digit]
        return body + domain_codes._check_char(body)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(domain_codes, "_draw_bodies", lambda n: np.array(values[:n], dtype=np.int64))
        made = domain_codes.new_codes(len(values))
    assert made == [by_digit(v) for v in values]
    assert all(is_valid(c) for c in made)


def test_bulk_draws_are_below_the_bodies_and_as_many_as_asked(monkeypatch):
    """The draws are the low 35 bits of random words, those at or above 31**7 left out
    (and made up for by more words)."""
    high = (31**7).to_bytes(8, "little")  # the first value not a body: left out
    words = iter([high * 3 + (5).to_bytes(8, "little") + bytes(8 * 100), bytes(8 * 100)])
    monkeypatch.setattr(domain_codes.secrets, "token_bytes", lambda n: next(words)[:n])
    drawn = domain_codes._draw_bodies(20)
    assert drawn.tolist() == [5] + [0] * 19
    assert domain_codes._draw_bodies(0).tolist() == []
