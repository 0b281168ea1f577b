"""Near-duplicate evidence: the hash scan over stored photos, and the hold on auto-pay."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from claims.compensation import DUPLICATE_EVIDENCE, propose
from claims.duplicates import (
    MAX_MATCHES,
    DuplicateMatch,
    find_duplicates,
    remember_photos,
    scan_duplicates,
    search_duplicates,
)
from claims.errors import InvalidPolicyError
from claims.hash_bands import WIDTHS
from claims.responsibility import Reason, Verdict
from claims.service import ClaimsConfig
from claims.tables import claims

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
# Over 2**63: stored as hex, because it would overflow a signed BIGINT column.
BASE = 0xF0F0_F0F0_F0F0_F0F0


def _file(
    conn: sa.Connection,
    claim_id: str,
    evidence_idx: int,
    hashes: list[int],
    shas: list[str] | None = None,
) -> None:
    """A claim row and its photo hashes, as file_claim leaves them."""
    conn.execute(
        sa.insert(claims).values(
            id=claim_id,
            request_hash="0" * 64,
            order_id=f"ORD-{claim_id}",
            lot="LOT-1",
            category="chilled",
            line_value=Decimal("12.50"),
            currency="EUR",
            delivered_at=NOW,
            status="open",
            defective=1,
            responsible_party="carrier",
            confidence=0.9,
            verdict=json.dumps({}),
            ticket=json.dumps({}),
            compensation=json.dumps({}),
            evidence_idx=evidence_idx,
            verdict_idx=evidence_idx + 1,
            created_at=NOW,
        )
    )
    shas = shas or [f"{claim_id}-{n}" for n in range(len(hashes))]
    remember_photos(conn=conn, claim_id=claim_id, photos=list(zip(shas, hashes, strict=True)))


def _flip(value: int, bits: int) -> int:
    """``value`` with its lowest ``bits`` bits inverted: exactly that Hamming distance."""
    return value ^ ((1 << bits) - 1)


def test_matches_within_the_threshold_closest_first(claims_db: sa.Engine) -> None:
    with claims_db.begin() as conn:
        _file(conn, "far", 10, [_flip(BASE, 7)])
        _file(conn, "edge", 20, [_flip(BASE, 6)])
        _file(conn, "same", 30, [BASE])
        _file(conn, "near", 40, [_flip(BASE, 2)])
    with claims_db.connect() as conn:
        (found,) = find_duplicates(conn=conn, phashes=[BASE], max_distance=6)
    assert found == (
        DuplicateMatch("same", "same-0", 0, 30),
        DuplicateMatch("near", "near-0", 2, 40),
        DuplicateMatch("edge", "edge-0", 6, 20),  # the threshold is inclusive
    )


def test_each_photo_gets_its_own_matches_and_none_is_not_looked_up(claims_db: sa.Engine) -> None:
    other = 0x0123_4567_89AB_CDEF
    with claims_db.begin() as conn:
        _file(conn, "a", 1, [BASE, other])
    with claims_db.connect() as conn:
        found = find_duplicates(
            conn=conn, phashes=[_flip(other, 1), None, _flip(BASE, 20)], max_distance=6
        )
    assert found == [(DuplicateMatch("a", "a-1", 1, 1),), (), ()]


def test_a_photo_filed_twice_in_one_claim_is_one_match(claims_db: sa.Engine) -> None:
    with claims_db.begin() as conn:
        _file(conn, "twice", 5, [BASE, BASE], ["one-photo", "one-photo"])
    with claims_db.connect() as conn:
        (found,) = find_duplicates(conn=conn, phashes=[BASE], max_distance=0)
    assert found == (DuplicateMatch("twice", "one-photo", 0, 5),)


def test_matches_are_capped(sqlite_claims_db: sa.Engine) -> None:
    with sqlite_claims_db.begin() as conn:
        for n in range(MAX_MATCHES + 3):
            _file(conn, f"c{n:02d}", n, [BASE])
    with sqlite_claims_db.connect() as conn:
        (found,) = find_duplicates(conn=conn, phashes=[BASE], max_distance=6)
    assert [m.claim_id for m in found] == [f"c{n:02d}" for n in range(MAX_MATCHES)]


def test_nothing_stored_nothing_found(sqlite_claims_db: sa.Engine) -> None:
    with sqlite_claims_db.connect() as conn:
        assert find_duplicates(conn=conn, phashes=[BASE, None], max_distance=6) == [(), ()]


def test_duplicate_evidence_holds_auto_pay_but_not_the_amount() -> None:
    verdict = Verdict("carrier", "urn:carrier", 0.9, (Reason("TEMPERATURE_ABUSE", "x"),))
    clean, held = (
        propose(
            verdict=verdict,
            defects=frozenset({"spoilage"}),
            line_value=Decimal("12.50"),
            currency="EUR",
            duplicate_evidence=duplicate,
        )
        for duplicate in (False, True)
    )
    assert clean.auto_pay and DUPLICATE_EVIDENCE not in clean.reason
    assert not held.auto_pay and DUPLICATE_EVIDENCE in held.reason
    assert (held.kind, held.amount) == (clean.kind, clean.amount)


def test_threshold_is_configuration() -> None:
    assert ClaimsConfig().duplicate_max_distance == 6
    assert ClaimsConfig(duplicate_max_distance=0).duplicate_max_distance == 0
    for bad in (-1, 32, True):
        with pytest.raises(InvalidPolicyError):
            ClaimsConfig(duplicate_max_distance=bad)


# ---- the index against the scan ---------------------------------------------------------


def _spread(rng: random.Random, value: int, per_band: tuple[int, ...]) -> int:
    """``value`` with exactly ``per_band[k]`` random bits flipped in band ``k`` (0 highest)."""
    shift = 64
    for width, flips in zip(WIDTHS, per_band, strict=True):
        shift -= width
        for bit in rng.sample(range(width), flips):
            value ^= 1 << (shift + bit)
    return value


def _splits(rng: random.Random, total: int, most: int) -> list[tuple[int, ...]]:
    """Ways of spreading ``total`` differing bits over the bands: all, or ``most`` of them."""
    every = [
        (a, b, total - a - b)
        for a in range(min(total, WIDTHS[0]) + 1)
        for b in range(min(total - a, WIDTHS[1]) + 1)
        if total - a - b <= WIDTHS[2]
    ]
    return every if len(every) <= most else rng.sample(every, most)


@pytest.mark.parametrize("t", [0, 1, 3, 6, 7, 10, 11])
def test_the_index_finds_what_the_scan_finds(claims_db: sa.Engine, t: int) -> None:
    """Random stored hashes, and for each looked-up hash one stored photo at t - 1, t or
    t + 1 bits with the differing bits spread over the bands every way (a sample of the
    ways for wide thresholds); 11 bits is past the index (scanned instead)."""
    rng = random.Random(t)
    queries: list[int | None] = []
    designed: list[tuple[str, bool]] = []  # each looked-up hash's neighbour: found or not
    with claims_db.begin() as conn:
        for n in range(150):  # unrelated photos, a few claims with several
            _file(conn, f"noise{n:03d}", 10_000 + n, [rng.getrandbits(64)] * (1 + n % 3))
        for distance in (t - 1, t, t + 1):
            for split in _splits(rng, distance, 60) if distance >= 0 else []:
                query = rng.getrandbits(64)
                claim_id = f"d{distance:02d}-{'.'.join(map(str, split))}"
                _file(conn, claim_id, len(queries), [_spread(rng, query, split)])
                queries.append(query)
                designed.append((claim_id, distance <= t))
    with claims_db.connect() as conn:
        indexed = find_duplicates(conn=conn, phashes=[*queries, None], max_distance=t)
        scanned = scan_duplicates(conn=conn, phashes=[*queries, None], max_distance=t)
    assert indexed.pop() == scanned.pop() == ()  # None: not looked up
    assert indexed == scanned
    for found, (claim_id, within) in zip(indexed, designed, strict=True):
        assert (claim_id in {m.claim_id for m in found}) is within, (claim_id, found)
        assert all(m.distance <= t for m in found)


def test_a_copy_stored_after_the_search_is_found_when_it_completes(claims_db: sa.Engine) -> None:
    """The search runs before the write lock; a claim that commits meanwhile is caught by
    ``complete`` (under the lock), and one seen by both steps is reported once."""
    with claims_db.begin() as conn:
        _file(conn, "before", 10, [BASE])
    with claims_db.connect() as conn:
        search = search_duplicates(conn=conn, phashes=[BASE, None], max_distance=6)
    with claims_db.begin() as conn:
        _file(conn, "meanwhile", 20, [_flip(BASE, 3)])
    with claims_db.begin() as conn:
        found = search.complete(conn)
    assert found == [
        (
            DuplicateMatch("before", "before-0", 0, 10),
            DuplicateMatch("meanwhile", "meanwhile-0", 3, 20),
        ),
        (),
    ]
    with claims_db.connect() as conn:
        assert search.complete(conn) == find_duplicates(
            conn=conn, phashes=[BASE, None], max_distance=6
        )
