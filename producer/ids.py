"""Identifiers drawn from the seeded generator: fast, unique within a run, reproducible by seed.

Each id space has a random 80-bit prefix shaped like a version-4 UUID and a 48-bit counter that
is scrambled by a bijection, so ids look random, never repeat and cost one multiply to make.
"""

from __future__ import annotations

import random

MASK48 = (1 << 48) - 1
MULT = 0x9E3779B97F4B  # odd, so multiplying is a bijection modulo 2**48


_VARIANT = {c: "89ab"[i % 4] for i, c in enumerate("0123456789abcdef")}


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID string from the seeded generator (never from os.urandom)."""
    h = "%032x" % rng.getrandbits(128)  # noqa: UP031 - faster than an f-string here
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class IdSpace:
    """A stream of unique UUID-shaped ids: `next()` returns a new one each call."""

    __slots__ = ("_n", "_prefix", "_salt")

    def __init__(self, rng: random.Random) -> None:
        head = random_uuid(rng)
        self._prefix = head[:24]
        self._salt = rng.getrandbits(48)
        self._n = 0

    def next(self) -> str:
        """Return the next id of this space."""
        self._n += 1
        return f"{self._prefix}{((self._n * MULT) & MASK48) ^ self._salt:012x}"

    def state(self) -> tuple[str, int, int]:
        """(prefix, salt, count) for hot loops that inline `next`; hand the count back later."""
        return self._prefix, self._salt, self._n

    def advance_to(self, count: int) -> None:
        """Record that a hot loop issued ids up to `count`."""
        self._n = count

    @property
    def issued(self) -> int:
        """How many ids this space has handed out."""
        return self._n
