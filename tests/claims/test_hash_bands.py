"""Multi-index hashing: the bands of a hash, and probe plans that miss no hash within t bits."""

from __future__ import annotations

import random

import pytest

from claims.hash_bands import (
    BANDS,
    MAX_PROBES,
    WIDTHS,
    from_bands,
    from_signed,
    probe_plan,
    radii,
    to_bands,
    to_signed,
)


def test_bands_are_22_21_and_21_bits_highest_first() -> None:
    assert WIDTHS == (22, 21, 21) and sum(WIDTHS) == 64
    value = 0x0123_4567_89AB_CDEF
    assert to_bands(value) == (value >> 42, (value >> 21) & 0x1F_FFFF, value & 0x1F_FFFF)
    assert from_bands(to_bands(value)) == value
    rng = random.Random(1)
    for _ in range(1000):
        h = rng.getrandbits(64)
        bits = f"{h:064b}"
        assert to_bands(h) == (int(bits[:22], 2), int(bits[22:43], 2), int(bits[43:], 2))
        assert from_bands(to_bands(h)) == h


@pytest.mark.parametrize("t", range(32))
def test_radii_give_the_bands_t_plus_1_slots_evenly(t: int) -> None:
    plan = radii(t)
    assert len(plan) == BANDS
    assert sum(r + 1 for r in plan) == t + 1  # the pigeonhole: t + 1 slots
    assert max(plan) - min(plan) <= 1 and list(plan) == sorted(plan, reverse=True)


def test_the_default_threshold_probes_298_values_per_hash() -> None:
    assert radii(6) == (2, 1, 1)
    plan = probe_plan([0], 6)
    assert plan is not None
    assert [len(values) for values in plan] == [1 + 22 + 231, 1 + 21, 1 + 21]
    assert radii(0) == (0, -1, -1)  # an exact copy equals in every band: one is enough


def test_wide_thresholds_have_no_plan() -> None:
    assert probe_plan([0], 10) is not None
    assert probe_plan([0], 11) is None  # 4,918 lookups per hash > MAX_PROBES
    assert MAX_PROBES == 4096


def _neighbour(rng: random.Random, value: int, per_band: tuple[int, ...]) -> int:
    """``value`` with exactly ``per_band[k]`` random bits flipped in band ``k``."""
    shift = 64
    for width, flips in zip(WIDTHS, per_band, strict=True):
        shift -= width
        for bit in rng.sample(range(width), flips):
            value ^= 1 << (shift + bit)
    return value


def _splits(total: int) -> list[tuple[int, ...]]:
    """Every way of spreading ``total`` flipped bits over the three bands."""
    return [
        (a, b, total - a - b)
        for a in range(min(total, WIDTHS[0]) + 1)
        for b in range(min(total - a, WIDTHS[1]) + 1)
        if total - a - b <= WIDTHS[2]
    ]


@pytest.mark.parametrize("t", [0, 1, 2, 3, 4, 5, 6, 7, 8, 10])
def test_every_hash_within_t_bits_has_a_band_in_the_plan(t: int) -> None:
    """However the differing bits fall across the bands, exactly at the threshold too."""
    rng = random.Random(t)
    for _ in range(3):
        query = rng.getrandbits(64)
        plan = probe_plan([query], t)
        assert plan is not None
        for distance in range(t + 1):
            for split in _splits(distance):
                stored = _neighbour(rng, query, split)
                assert (stored ^ query).bit_count() == distance
                assert any(b in plan[k] for k, b in enumerate(to_bands(stored))), split


def test_a_plan_for_several_hashes_covers_each() -> None:
    rng = random.Random(7)
    queries = [rng.getrandbits(64) for _ in range(10)]
    plan = probe_plan(queries, 6)
    assert plan is not None
    for k in range(BANDS):
        alone = set().union(*((probe_plan([q], 6) or [])[k] for q in queries))
        assert plan[k] == alone


def test_a_hash_fits_a_signed_bigint_and_back() -> None:
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 0xF0F0_F0F0_F0F0_F0F0):
        signed = to_signed(value)
        assert -(1 << 63) <= signed < 1 << 63
        assert from_signed(signed) == value
