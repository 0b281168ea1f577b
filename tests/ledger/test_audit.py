"""The audit recomputes everything and names the first tampered place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import (
    EMPTY_ROOT,
    ChainBrokenError,
    Checkpoint,
    Ledger,
    TamperedCheckpointError,
    TamperedEntryError,
    TamperedNodeError,
    audit,
    generate_key,
    leaf_hash,
    sign_checkpoint,
)

Items = list[tuple[str, dict[str, Any]]]
SIZE = 40


@pytest.fixture
def filled(ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items]) -> Ledger:
    """A ledger of SIZE entries with checkpoints at sizes 10, 25 and SIZE."""
    for start, stop in [(0, 10), (10, 25), (25, SIZE)]:
        ledger.append_many(bodies(stop - start, start=start))
        ledger.sign_checkpoint(keys[0])
    return ledger


def execute(ledger: Ledger, sql: str, **params: Any) -> None:
    """Run the attacker's SQL directly against the database."""
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_clean_ledger_passes(filled: Ledger, keys: tuple[str, str]) -> None:
    report = audit(filled, verifier_key=keys[1])
    assert report.size == SIZE
    assert report.root == filled.root()
    # stored from level 4 up (schema v0011): (4, 0), (4, 1), (5, 0)
    assert report.nodes_checked == sum(SIZE >> level for level in range(4, 6)) == 3
    assert report.checkpoints_checked == 3
    assert report.signatures_verified
    assert audit(filled.engine).root == report.root  # an Engine works too


def test_empty_ledger_passes(ledger: Ledger) -> None:
    report = audit(ledger)
    assert (report.size, report.root, report.nodes_checked) == (0, EMPTY_ROOT, 0)


def test_flipped_byte_in_a_record(filled: Ledger) -> None:
    record = filled.entry(7).record
    flipped = record.replace(b'"n":7', b'"n":8')
    assert flipped != record
    execute(filled, "UPDATE ledger_entries SET record = :r WHERE idx = 7", r=flipped)
    with pytest.raises(TamperedEntryError) as caught:
        audit(filled)
    assert caught.value.index == 7


def test_rewritten_record_with_recomputed_leaf_hash(filled: Ledger) -> None:
    # A smarter attacker also fixes the leaf_hash column; the next prev link breaks.
    forged = filled.entry(12).record.replace(b'"ok":true', b'"ok":false')
    execute(
        filled,
        "UPDATE ledger_entries SET record = :r, leaf_hash = :h WHERE idx = 12",
        r=forged,
        h=leaf_hash(forged),
    )
    with pytest.raises(ChainBrokenError) as caught:
        audit(filled)
    assert caught.value.index == 13


def test_deleted_row(filled: Ledger) -> None:
    execute(filled, "DELETE FROM ledger_entries WHERE idx = 5")
    with pytest.raises(ChainBrokenError) as caught:
        audit(filled)
    assert caught.value.index == 5


def test_deleted_last_row(filled: Ledger) -> None:
    # Entry 39 lies past the last stored node (which covers 0..31): the checkpoint signed
    # at 40 is what shows the deletion. A tail no checkpoint covers can be cut unseen.
    execute(filled, "DELETE FROM ledger_entries WHERE idx = :i", i=SIZE - 1)
    with pytest.raises(TamperedCheckpointError, match="exceeds the 39 entries") as caught:
        audit(filled)
    assert caught.value.size == SIZE


def test_deleted_rows_under_a_stored_node(filled: Ledger) -> None:
    execute(filled, "DELETE FROM ledger_entries WHERE idx >= 30")
    with pytest.raises(TamperedNodeError, match="past the 30 entries") as caught:
        audit(filled)
    assert (caught.value.level, caught.value.index) == (4, 1)


def test_swapped_rows(filled: Ledger) -> None:
    execute(filled, "UPDATE ledger_entries SET idx = -1 WHERE idx = 3")
    execute(filled, "UPDATE ledger_entries SET idx = 3 WHERE idx = 9")
    execute(filled, "UPDATE ledger_entries SET idx = 9 WHERE idx = -1")
    with pytest.raises(TamperedEntryError, match="names index 9") as caught:
        audit(filled)
    assert caught.value.index == 3


def test_rewritten_prev_hash_column(filled: Ledger) -> None:
    execute(filled, "UPDATE ledger_entries SET prev_hash = :h WHERE idx = 20", h=bytes(32))
    with pytest.raises(TamperedEntryError, match="prev_hash") as caught:
        audit(filled)
    assert caught.value.index == 20


def test_rewritten_node_hash(filled: Ledger) -> None:
    execute(filled, "UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 1", h=bytes(32))
    with pytest.raises(TamperedNodeError) as caught:
        audit(filled)
    assert (caught.value.level, caught.value.index) == (4, 1)


def test_deleted_node(filled: Ledger) -> None:
    execute(filled, "DELETE FROM ledger_nodes WHERE level = 5 AND idx = 0")
    with pytest.raises(TamperedNodeError, match="missing") as caught:
        audit(filled)
    assert (caught.value.level, caught.value.index) == (5, 0)


def test_checkpoint_replaced_by_one_from_another_key(filled: Ledger, keys: tuple[str, str]) -> None:
    attacker, _ = generate_key("test.freshproof.local/ledger")
    forged = sign_checkpoint(Checkpoint(origin=filled.origin, size=25, root=bytes(32)), attacker)
    execute(
        filled,
        "UPDATE ledger_checkpoints SET note = :n, root = :r WHERE size = 25",
        n=forged,
        r=bytes(32),
    )
    with pytest.raises(TamperedCheckpointError, match="signature") as caught:
        audit(filled, verifier_key=keys[1])
    assert caught.value.size == 25


def test_checkpoint_replaced_by_a_validly_signed_fork(
    filled: Ledger, keys: tuple[str, str]
) -> None:
    # Even a holder of the signing key cannot make a checkpoint of another tree pass.
    forged = sign_checkpoint(Checkpoint(origin=filled.origin, size=25, root=bytes(32)), keys[0])
    execute(
        filled,
        "UPDATE ledger_checkpoints SET note = :n, root = :r WHERE size = 25",
        n=forged,
        r=bytes(32),
    )
    with pytest.raises(TamperedCheckpointError, match="recomputed tree") as caught:
        audit(filled, verifier_key=keys[1])
    assert caught.value.size == 25


def test_checkpoint_root_column_disagreeing_with_its_note(filled: Ledger) -> None:
    execute(filled, "UPDATE ledger_checkpoints SET root = :r WHERE size = 10", r=bytes(32))
    with pytest.raises(TamperedCheckpointError):
        audit(filled)


def test_audit_of_many_entries_checks_every_checkpoint(
    sqlite_ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items]
) -> None:
    # Speed is measured in bench/ledger.py, not here; this pins what a multi-level tree with
    # several signed sizes audits to.
    for start in range(0, 20_000, 5_000):
        sqlite_ledger.append_many(bodies(5_000, start=start))
        sqlite_ledger.sign_checkpoint(keys[0])
    report = audit(sqlite_ledger, verifier_key=keys[1])
    assert report.size == 20_000 and report.checkpoints_checked == 4
    assert report.root == sqlite_ledger.root(20_000)
    # every perfect subtree of 16 leaves and more is stored once: sum over levels >= 4 of
    # floor(n / 2^level)
    assert report.nodes_checked == sum(20_000 >> level for level in range(4, 15))
