"""Multi-index hashing of 64-bit perceptual hashes: which stored hashes can be within t bits.

A hash is cut into bands of ``WIDTHS`` bits (band 0 the highest bits), each kept in an
indexed column. Two hashes ``d`` bits apart differ in band ``k`` by ``d_k`` bits, with
``d_0 + d_1 + d_2 = d``. Give the bands probe radii ``r_k`` whose slots ``r_k + 1`` sum to
``t + 1``: if every band missed (``d_k > r_k``, i.e. ``d_k >= r_k + 1``), then
``d >= t + 1``. So every hash within ``t`` bits has some band within that band's radius,
and looking up the values within ``r_k`` bits of each band finds all of them (the
pigeonhole principle; Norouzi, Punjani, Fleet, "Fast exact search in Hamming space with
multi-index hashing", 2014). A radius of -1 means the band is not looked up at all.

Why three bands of 22, 21 and 21 bits, probed at radii (2, 1, 1) for the default 6 bits,
and not ``t + 1`` bands looked up by equality: seven bands of 9 or 10 bits let a random
stored hash through with about 1 in 80 (13,000 candidates among a million photos, each
fetched and compared); four 16-bit bands at radii (1, 1, 1, 0) take 52 lookups and let
through 1 in 1,260 (800 per million, ~1 ms of fetching and comparing on SQLite); three
bands take 298 lookups and let through 1 in 12,000 (about 80 per million). Wider bands
still would need thousands of lookups. Measured in ``bench/growth.py``.

Past ``MAX_PROBES`` lookups per hash (thresholds of 11 bits and more) a plan is not worth
its lookups: ``probe_plan`` says None and the caller scans every stored hash instead.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations
from math import comb

from vision.phash import HASH_BITS

__all__ = [
    "BANDS",
    "MAX_PROBES",
    "WIDTHS",
    "from_bands",
    "from_signed",
    "probe_plan",
    "radii",
    "to_bands",
    "to_signed",
]

WIDTHS = (22, 21, 21)
"""Bits per band, highest bits first; the widest first, as it gets the spare probe slot."""

BANDS = len(WIDTHS)
"""How many bands a hash is cut into (each an indexed column of ``claim_photo_bands``)."""

MAX_PROBES = 4096
"""The most indexed lookups one hash may take; beyond it (thresholds >= 11) scan instead."""

# Each band's shift from the lowest bit: band 0 holds bits 63..42, band 2 bits 20..0.
_SHIFTS = tuple(sum(WIDTHS[k + 1 :]) for k in range(BANDS))
assert sum(WIDTHS) == HASH_BITS


def to_bands(value: int) -> tuple[int, ...]:
    """The hash's bands, highest bits first."""
    return tuple(
        (value >> shift) & ((1 << width) - 1) for shift, width in zip(_SHIFTS, WIDTHS, strict=True)
    )


def from_bands(bands: tuple[int, ...]) -> int:
    """The hash whose bands these are (``to_bands`` undone)."""
    return sum(band << shift for band, shift in zip(bands, _SHIFTS, strict=True))


def to_signed(value: int) -> int:
    """The hash as a signed 64-bit integer (two's complement), as a BIGINT column holds it."""
    return value - (1 << HASH_BITS) if value >> (HASH_BITS - 1) else value


def from_signed(value: int) -> int:
    """The hash a signed 64-bit integer holds (``to_signed`` undone)."""
    return value & ((1 << HASH_BITS) - 1)


def radii(max_distance: int) -> tuple[int, ...]:
    """Each band's probe radius for a threshold: slots ``r + 1`` summing to ``t + 1``,
    spread evenly, the extra ones to the first bands (6 → (2, 1, 1); 1 → (0, 0, -1))."""
    if max_distance < 0:
        raise ValueError(f"a threshold is 0 bits or more, not {max_distance}")
    slots = max_distance + 1
    return tuple(slots // BANDS + (k < slots % BANDS) - 1 for k in range(BANDS))


@cache
def _masks(radius: int, width: int) -> tuple[int, ...]:
    """Every XOR mask of at most ``radius`` set bits within a band of ``width`` bits."""
    return tuple(
        sum(1 << bit for bit in bits)
        for flipped in range(radius + 1)
        for bits in combinations(range(width), flipped)
    )


def _probes(radius: int, width: int) -> int:
    # Counted without building the masks: a large threshold must not enumerate millions.
    return sum(comb(width, d) for d in range(radius + 1))


def probe_plan(values: list[int], max_distance: int) -> list[set[int]] | None:
    """Per band, the values to look up so that every stored hash within ``max_distance``
    bits of one of ``values`` is among the rows found; None where that takes more than
    ``MAX_PROBES`` lookups per hash (scan every stored hash instead)."""
    plan = radii(max_distance)
    if sum(_probes(r, w) for r, w in zip(plan, WIDTHS, strict=True)) > MAX_PROBES:
        return None
    wanted: list[set[int]] = [set() for _ in range(BANDS)]
    for value in values:
        for k, band in enumerate(to_bands(value)):
            wanted[k].update(band ^ mask for mask in _masks(plan[k], WIDTHS[k]))
    return wanted
