"""Each station's public code: short, stable, typed from a poster without mistakes.

Eight characters from an alphabet without look-alikes (no 0/O, 1/I/L): seven random and a
check character, so that a mistyped code is refused (编号有误), never another station's.
The check makes ``sum(i * value(ch_i) for i in 1..8) % 31 == 0``: 31 is prime and the
weights 1..8 are distinct and non-zero modulo 31, so every single substitution and every
swap of two neighbours changes the sum. Shown as ``K7MQ-3XPA``; read case-insensitively,
full-width forms, spaces and hyphens ignored.

Not the database id: ids are sequential and would tell the registry's size, and a code
stays when a station changes owner, is edited or uploaded again; a deleted station's code
is never given to another (kept in the ``station_codes`` table).
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import lru_cache

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 31, a prime
LENGTH = 8
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_INV_8 = pow(LENGTH, -1, BASE)


class InvalidCodeError(ValueError):
    """Not a station code: wrong length, a character outside the alphabet, or a failed check."""

    code = "invalid_station_code"

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"驿站编号有误：{text[:40]!r} 不是有效的 8 位驿站编号")


def _check_char(body: str) -> str:
    weighted = sum((i + 1) * _VALUE[ch] for i, ch in enumerate(body))
    return ALPHABET[(-weighted * _INV_8) % BASE]


def new_code() -> str:
    """A fresh random code (canonical form: 8 upper-case characters, no hyphen)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH - 1))
    return body + _check_char(body)


_BODIES = BASE ** (LENGTH - 1)


def new_codes(n: int) -> list[str]:
    """``n`` fresh random codes for a bulk insert, each drawn as :func:`new_code` draws one
    (uniformly among the 31**7 bodies: one draw below 31**7 is seven independent digits,
    the least significant first), written three digits at a time from tables."""
    chars, weights, sums = _triples()
    out = []
    for _ in range(n):
        value = secrets.randbelow(_BODIES)
        low, rest = value % _TRIPLE, value // _TRIPLE
        mid, top = rest % _TRIPLE, rest // _TRIPLE
        body = chars[low] + chars[mid] + ALPHABET[top]
        # _check_char's weighted sum: positions 1-3, 4-6 (each +3 on the first's) and 7.
        weighted = weights[low] + weights[mid] + 3 * sums[mid] + 7 * top
        out.append(body + ALPHABET[(-weighted * _INV_8) % BASE])
    return out


_TRIPLE = BASE**3


@lru_cache(maxsize=1)
def _triples() -> tuple[list[str], list[int], list[int]]:
    """Every three digits (least significant first) as text, their weighted sum in
    positions 1-3 and their plain sum: built once, 29,791 of each."""
    chars: list[str] = []
    weights: list[int] = []
    sums: list[int] = []
    for x in range(_TRIPLE):
        d = (x % BASE, x // BASE % BASE, x // BASE**2)
        chars.append("".join(ALPHABET[i] for i in d))
        weights.append(d[0] + 2 * d[1] + 3 * d[2])
        sums.append(sum(d))
    return chars, weights, sums


def is_valid(code: str) -> bool:
    """Whether ``code`` (canonical form) is a well-formed code whose check holds."""
    if len(code) != LENGTH or any(ch not in _VALUE for ch in code):
        return False
    return sum((i + 1) * _VALUE[ch] for i, ch in enumerate(code)) % BASE == 0


def parse_code(text: str) -> str:
    """The canonical code in ``text`` as a person typed it; InvalidCodeError if none."""
    canonical = "".join(
        ch for ch in unicodedata.normalize("NFKC", str(text)).upper() if ch not in " -\t"
    )
    if not is_valid(canonical):
        raise InvalidCodeError(str(text))
    return canonical


def display_code(code: str) -> str:
    """``K7MQ3XPA`` as people read it: ``K7MQ-3XPA``."""
    return f"{code[:4]}-{code[4:]}"
