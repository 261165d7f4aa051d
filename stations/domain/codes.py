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

import numpy as np
import numpy.typing as npt

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


_BODIES = BASE ** (LENGTH - 1)  # 31**7, just below 2**35
_WORD_BITS = (1 << 35) - 1
_ASCII = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_WEIGHTS = np.arange(1, LENGTH, dtype=np.int64)  # _check_char's weights of the body


def new_codes(n: int) -> list[str]:
    """``n`` fresh random codes for a bulk insert, each drawn as :func:`new_code` draws one
    (uniformly among the 31**7 bodies), made a whole array at a time: a bulk insert of
    100,000 stations drew them one by one in a third of a second."""
    return spell_codes(_draw_bodies(n))


def _draw_bodies(n: int) -> npt.NDArray[np.int64]:
    """``n`` draws uniform below 31**7 from the system's random source (as ``secrets``):
    the low 35 bits of random 64-bit words, those below 31**7 kept (four in five)."""
    kept = np.empty(0, dtype=np.int64)
    while len(kept) < n:
        need = n - len(kept)
        words = np.frombuffer(secrets.token_bytes(8 * (need + need // 4 + 16)), dtype="<u8")
        words = (words & _WORD_BITS).astype(np.int64)
        kept = np.concatenate([kept, words[words < _BODIES]])
    return kept[:n]


def spell_codes(values: npt.NDArray[np.int64]) -> list[str]:
    """The code of each draw below 31**7: its seven digits base 31, the least significant
    first, and their check character (_check_char's, for every draw at once)."""
    digits = np.empty((len(values), LENGTH), dtype=np.int64)
    rest = np.asarray(values, dtype=np.int64)
    for i in range(LENGTH - 1):
        rest, digits[:, i] = np.divmod(rest, BASE)
    digits[:, LENGTH - 1] = (-(digits[:, : LENGTH - 1] @ _WEIGHTS) * _INV_8) % BASE
    text = _ASCII[digits].tobytes().decode("ascii")
    return [text[i : i + LENGTH] for i in range(0, len(text), LENGTH)]


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
