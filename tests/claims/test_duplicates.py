"""Near-duplicate evidence: the hash scan over stored photos, and the hold on auto-pay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from claims.compensation import DUPLICATE_EVIDENCE, propose
from claims.duplicates import MAX_MATCHES, DuplicateMatch, find_duplicates
from claims.errors import InvalidPolicyError
from claims.responsibility import Reason, Verdict
from claims.service import ClaimsConfig
from claims.tables import claims, photo_hashes
from vision.phash import format_phash

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
# Over 2**63: stored as hex, because it would overflow a signed BIGINT column.
BASE = 0xF0F0_F0F0_F0F0_F0F0


def _file(conn: sa.Connection, claim_id: str, evidence_idx: int, hashes: list[int]) -> None:
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
    conn.execute(
        sa.insert(photo_hashes),
        [
            {
                "claim_id": claim_id,
                "position": n,
                "sha256": f"{claim_id}-{n}",
                "phash": format_phash(h),
            }
            for n, h in enumerate(hashes)
        ],
    )


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
        _file(conn, "twice", 5, [BASE, BASE])
        conn.execute(sa.update(photo_hashes).values(sha256="one-photo"))
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
