"""Multi-index hashing: the bands of a hash, and probe plans that miss no hash within t bits."""

from __future__ import annotations

import random

import pytest

from claims.hash_bands import (
    BAND_BITS,
    BANDS,
    MAX_PROBES,
    from_bands,
    from_signed,
    probe_plan,
    radii,
    to_bands,
    to_signed,
)


def test_bands_are_the_stored_hex_digits_highest_first() -> None:
    value = 0x0123_4567_89AB_CDEF
    assert to_bands(value) == (0x0123, 0x4567, 0x89AB, 0xCDEF)
    assert from_bands(to_bands(value)) == value
    rng = random.Random(1)
    for _ in range(1000):
        h = rng.getrandbits(64)
        assert from_bands(to_bands(h)) == h
        assert to_bands(h) == tuple(int(f"{h:016x}"[4 * k : 4 * k + 4], 16) for k in range(4))


@pytest.mark.parametrize("t", range(32))
def test_radii_give_the_bands_t_plus_1_slots_evenly(t: int) -> None:
    plan = radii(t)
    assert len(plan) == BANDS
    assert sum(r + 1 for r in plan) == t + 1  # the pigeonhole: t + 1 slots
    assert max(plan) - min(plan) <= 1 and list(plan) == sorted(plan, reverse=True)


def test_the_default_threshold_probes_52_values_per_hash() -> None:
    assert radii(6) == (1, 1, 1, 0)
    plan = probe_plan([0], 6)
    assert plan is not None
    assert [len(values) for values in plan] == [1 + BAND_BITS] * 3 + [1]
    assert radii(0) == (0, -1, -1, -1)  # an exact copy equals in every band: one is enough


def test_wide_thresholds_have_no_plan() -> None:
    assert probe_plan([0], 15) is not None
    assert probe_plan([0], 16) is None  # 4,608 lookups per hash > MAX_PROBES
    assert MAX_PROBES == 4096


def _neighbour(rng: random.Random, value: int, per_band: tuple[int, ...]) -> int:
    """``value`` with exactly ``per_band[k]`` random bits flipped in band ``k``."""
    for k, flips in enumerate(per_band):
        shift = BAND_BITS * (BANDS - 1 - k)
        for bit in rng.sample(range(BAND_BITS), flips):
            value ^= 1 << (shift + bit)
    return value


def _splits(total: int) -> list[tuple[int, ...]]:
    """Every way of spreading ``total`` flipped bits over the four bands."""
    return [
        (a, b, c, total - a - b - c)
        for a in range(min(total, BAND_BITS) + 1)
        for b in range(min(total - a, BAND_BITS) + 1)
        for c in range(min(total - a - b, BAND_BITS) + 1)
        if total - a - b - c <= BAND_BITS
    ]


@pytest.mark.parametrize("t", [0, 1, 2, 3, 4, 6, 7, 10, 15])
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
