"""Multi-index hashing of 64-bit perceptual hashes: which stored hashes can be within t bits.

A hash is cut into ``BANDS`` bands of ``BAND_BITS`` bits (band 0 the highest bits, so band
``k`` is hex digits ``4k .. 4k+3`` of the stored form), and each band is kept in an indexed
column. Two hashes ``d`` bits apart differ in band ``k`` by ``d_k`` bits, with
``d_0 + ... + d_3 = d``. Give the bands probe radii ``r_k`` whose slots ``r_k + 1`` sum to
``t + 1``: if every band missed (``d_k > r_k``, i.e. ``d_k >= r_k + 1``), then
``d >= t + 1``. So every hash within ``t`` bits has some band within that band's radius,
and looking up the values within ``r_k`` bits of each band finds all of them (the
pigeonhole principle; Norouzi, Punjani, Fleet, "Fast exact search in Hamming space with
multi-index hashing", 2014). A radius of -1 means the band is not looked up at all.

Why four 16-bit bands and not ``t + 1`` bands looked up by equality: with the default
threshold of 6 that would be seven bands of 9 or 10 bits, and a random stored hash shares
one of them with about 1 in 80 (13,000 false candidates among a million photos, each
fetched and compared). Four 16-bit bands probed at radii (1, 1, 1, 0) take 52
indexed lookups per photo and let through about 1 in 1,260 (about 800 per million).

Past ``MAX_PROBES`` lookups per hash (thresholds of 16 bits and more, where a pHash
"match" says little anyway) a plan is not worth its lookups: ``probe_plan`` says None and
the caller scans every stored hash instead.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations
from math import comb

from vision.phash import HASH_BITS

__all__ = [
    "BANDS",
    "BAND_BITS",
    "MAX_PROBES",
    "from_bands",
    "from_signed",
    "probe_plan",
    "radii",
    "to_bands",
    "to_signed",
]

BANDS = 4
"""How many bands a hash is cut into (each an indexed column of ``claim_photo_bands``)."""

BAND_BITS = HASH_BITS // BANDS
"""Bits per band: 16, four hex digits of the stored hash."""

MAX_PROBES = 4096
"""The most indexed lookups one hash may take; beyond it (thresholds >= 16) scan instead."""

_MASK = (1 << BAND_BITS) - 1


def to_bands(value: int) -> tuple[int, ...]:
    """The hash's bands, highest bits first: ``0x0123456789abcdef`` → (0x0123, ..., 0xcdef)."""
    return tuple((value >> (BAND_BITS * (BANDS - 1 - k))) & _MASK for k in range(BANDS))


def from_bands(bands: tuple[int, ...]) -> int:
    """The hash whose bands these are (``to_bands`` undone)."""
    value = 0
    for band in bands:
        value = (value << BAND_BITS) | band
    return value


def to_signed(value: int) -> int:
    """The hash as a signed 64-bit integer (two's complement), as a BIGINT column holds it."""
    return value - (1 << HASH_BITS) if value >> (HASH_BITS - 1) else value


def from_signed(value: int) -> int:
    """The hash a signed 64-bit integer holds (``to_signed`` undone)."""
    return value & ((1 << HASH_BITS) - 1)


def radii(max_distance: int) -> tuple[int, ...]:
    """Each band's probe radius for a threshold: slots ``r + 1`` summing to ``t + 1``,
    spread evenly, the extra ones to the first bands (6 → (1, 1, 1, 0); 2 → (0, 0, 0, -1))."""
    if max_distance < 0:
        raise ValueError(f"a threshold is 0 bits or more, not {max_distance}")
    slots = max_distance + 1
    return tuple(slots // BANDS + (k < slots % BANDS) - 1 for k in range(BANDS))


@cache
def _masks(radius: int) -> tuple[int, ...]:
    """Every XOR mask of at most ``radius`` set bits within one band."""
    return tuple(
        sum(1 << bit for bit in bits)
        for flipped in range(radius + 1)
        for bits in combinations(range(BAND_BITS), flipped)
    )


def _probes(radius: int) -> int:
    # Counted without building the masks: a large threshold must not enumerate millions.
    return sum(comb(BAND_BITS, d) for d in range(radius + 1))


def probe_plan(values: list[int], max_distance: int) -> list[set[int]] | None:
    """Per band, the values to look up so that every stored hash within ``max_distance``
    bits of one of ``values`` is among the rows found; None where that takes more than
    ``MAX_PROBES`` lookups per hash (scan every stored hash instead)."""
    plan = radii(max_distance)
    if sum(_probes(r) for r in plan) > MAX_PROBES:
        return None
    wanted: list[set[int]] = [set() for _ in range(BANDS)]
    for value in values:
        for k, (band, radius) in enumerate(zip(to_bands(value), plan, strict=True)):
            wanted[k].update(band ^ mask for mask in _masks(radius))
    return wanted
