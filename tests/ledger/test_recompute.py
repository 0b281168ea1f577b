"""The audit's parallel recomputation: the reference's verdict on clean and tampered logs.

Workers are forked processes, each given chunks of a few leaves here so that every
boundary (chunk edges, the levels above the chunks, a partial last chunk) is crossed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
import sqlalchemy as sa

from ledger import AuditError, ChainBrokenError, Ledger, TamperedEntryError, audit, leaf_hash
from ledger.recompute import can_fork, recompute
from tests.ledger.reference import ZERO, record

Items = list[tuple[str, dict[str, Any]]]
SIZE = 37
CHUNK = 4  # leaves per worker task: 10 chunks, the last one partial
# Stored nodes (from level 4 up, schema v0011): (4, 0), (4, 1) and (5, 0). With chunks of
# 4 all lie above the chunks; with chunks of 16, (4, 0) and (4, 1) lie inside them.
CHUNKS = (CHUNK, 16)


@pytest.fixture
def filled(ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items]) -> Ledger:
    """SIZE entries with checkpoints at 10, 25 and SIZE."""
    for start, stop in [(0, 10), (10, 25), (25, SIZE)]:
        ledger.append_many(bodies(stop - start, start=start))
        ledger.sign_checkpoint(keys[0])
    return ledger


def _certified(engine: sa.Engine, chunk: int, signed: list[int]) -> Any:
    """What the fast path alone says: a Recomputed, or None for "ask the reference"."""
    with engine.connect() as conn:
        return recompute(engine, conn, signed_sizes=signed, workers=2, chunk_leaves=chunk)


@pytest.mark.parametrize("chunk", [1, 2, 4, 8, 64])
def test_a_clean_log_gets_the_reference_report(
    filled: Ledger, keys: tuple[str, str], chunk: int
) -> None:
    reference = audit(filled, verifier_key=keys[1], workers=1)
    assert audit(filled, verifier_key=keys[1], workers=2, chunk_leaves=chunk) == reference
    fast = _certified(filled.engine, chunk, [10, 25, SIZE])
    assert fast is not None, "the fast path fell back on a clean log"
    assert (fast.size, fast.nodes_checked) == (SIZE, reference.nodes_checked)


def test_the_parents_connections_outlive_the_workers(filled: Ledger) -> None:
    # Workers are forked with the parent's pooled connections in their memory; they must
    # neither use nor close them (a closed PostgreSQL session or SQLite handle would show
    # on the parent's next statement).
    with filled.engine.connect() as held:
        first = audit(filled, workers=2, chunk_leaves=CHUNK)
        assert held.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar_one() == SIZE
    entry = filled.append(kind="after", body={"n": 1})
    assert entry.index == SIZE
    second = audit(filled, workers=2, chunk_leaves=CHUNK)
    assert (second.size, first.size) == (SIZE + 1, SIZE)


@pytest.mark.parametrize("size", [1, 3, 4, 5, 8, 9, 16, 17])
def test_sizes_on_and_off_chunk_edges(
    ledger: Ledger, bodies: Callable[..., Items], keys: tuple[str, str], size: int
) -> None:
    ledger.append_many(bodies(size))
    ledger.sign_checkpoint(keys[0])
    reference = audit(ledger, verifier_key=keys[1], workers=1)
    assert audit(ledger, verifier_key=keys[1], workers=2, chunk_leaves=CHUNK) == reference
    assert reference.root == ledger.root()
    assert _certified(ledger.engine, CHUNK, [size]) is not None


def _forged(ledger: Ledger, index: int) -> dict[str, Any]:
    forged = ledger.entry(index).record.replace(b'"ok":', b'"ok":1,"x":')
    return {"r": forged, "h": leaf_hash(forged)}


def _split(first: bytes, second: bytes) -> dict[str, Any]:
    return {"a": first[:31], "b": first[31:] + second}


def _node(ledger: Ledger, level: int, idx: int) -> bytes:
    with ledger.engine.connect() as conn:
        return bytes(
            conn.execute(
                sa.text("SELECT hash FROM ledger_nodes WHERE level = :l AND idx = :i"),
                {"l": level, "i": idx},
            ).scalar_one()
        )


TAMPERS: list[tuple[str, str, Callable[[Ledger], dict[str, Any]]]] = [
    (
        "flipped-record",
        "UPDATE ledger_entries SET record = :r WHERE idx = 6",
        lambda led: {"r": led.entry(6).record.replace(b'"n":6', b'"n":7')},
    ),
    (
        "rewritten-mid-chunk",
        "UPDATE ledger_entries SET record = :r, leaf_hash = :h WHERE idx = 9",
        lambda led: _forged(led, 9),
    ),
    (
        "rewritten-chunk-end",
        "UPDATE ledger_entries SET record = :r, leaf_hash = :h WHERE idx = 11",
        lambda led: _forged(led, 11),
    ),
    ("deleted-entry", "DELETE FROM ledger_entries WHERE idx = 5", lambda led: {}),
    ("deleted-last-entry", "DELETE FROM ledger_entries WHERE idx = 36", lambda led: {}),
    ("moved-entry", "UPDATE ledger_entries SET idx = 99 WHERE idx = 4", lambda led: {}),
    (
        "prev-column-at-chunk-start",
        "UPDATE ledger_entries SET prev_hash = :h WHERE idx = 20",
        lambda led: {"h": bytes(32)},
    ),
    ("kind-column", "UPDATE ledger_entries SET kind = 'other' WHERE idx = 30", lambda led: {}),
    (
        "rewritten-chunk-end-16",
        "UPDATE ledger_entries SET record = :r, leaf_hash = :h WHERE idx = 15",
        lambda led: _forged(led, 15),
    ),
    (
        "prev-column-at-chunk-start-16",
        "UPDATE ledger_entries SET prev_hash = :h WHERE idx = 16",
        lambda led: {"h": bytes(32)},
    ),
    (
        "lowest-node",
        "UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 1",
        lambda led: {"h": bytes(32)},
    ),
    (
        "top-node",
        "UPDATE ledger_nodes SET hash = :h WHERE level = 5 AND idx = 0",
        lambda led: {"h": bytes(32)},
    ),
    ("deleted-top-node", "DELETE FROM ledger_nodes WHERE level = 5 AND idx = 0", lambda led: {}),
    ("deleted-lowest-node", "DELETE FROM ledger_nodes WHERE level = 4 AND idx = 0", lambda led: {}),
    (
        "extra-leaf-node",  # level 0 is never stored
        "INSERT INTO ledger_nodes (level, idx, hash) VALUES (0, 4, :h)",
        lambda led: {"h": led.entry(4).leaf_hash},
    ),
    (
        "extra-node-past-the-end",
        "INSERT INTO ledger_nodes (level, idx, hash) VALUES (4, 2, :h)",
        lambda led: {"h": bytes(32)},
    ),
    (
        "extra-node-up-high",
        "INSERT INTO ledger_nodes (level, idx, hash) VALUES (6, 0, :h)",
        lambda led: {"h": bytes(32)},
    ),
    # The hash columns and nodes are compared with the recomputation inside the database,
    # as one blob of 32-byte hashes: a hash moved between two rows (31 + 33 bytes, the same
    # bytes in the same order) or changed mid-chunk must still be seen.
    (
        "node-hashes-split-across-rows",
        "UPDATE ledger_nodes SET hash = CASE idx WHEN 0 THEN :a ELSE :b END "
        "WHERE level = 4 AND idx IN (0, 1)",
        lambda led: _split(_node(led, 4, 0), _node(led, 4, 1)),
    ),
    (
        "prev-column-mid-chunk",
        "UPDATE ledger_entries SET prev_hash = :h WHERE idx = 22",
        lambda led: {"h": bytes(32)},
    ),
    (
        "leaf-column-mid-chunk",
        "UPDATE ledger_entries SET leaf_hash = :h WHERE idx = 13",
        lambda led: {"h": bytes(32)},
    ),
    (
        "checkpoint-root",
        "UPDATE ledger_checkpoints SET root = :h WHERE seq = 2",
        lambda led: {"h": bytes(32)},
    ),
]


# Seen by the checkpoints alone: the last entry lies in a block of fewer than 16 leaves, so
# no stored node covers it, and its deletion leaves the rest as written; the checkpoint
# signed at SIZE is what shows it (a tail no checkpoint covers can be cut unseen).
_CHECKPOINTS_SEE = {"deleted-last-entry", "checkpoint-root"}


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize(("name", "sql", "params"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_a_tampered_log_gets_the_reference_error(
    filled: Ledger,
    keys: tuple[str, str],
    name: str,
    sql: str,
    params: Callable[[Ledger], dict[str, Any]],
    chunk: int,
) -> None:
    with filled.engine.begin() as conn:
        conn.execute(sa.text(sql), params(filled))
    with pytest.raises(AuditError) as reference:
        audit(filled, verifier_key=keys[1], workers=1)
    with pytest.raises(AuditError) as parallel:
        audit(filled, verifier_key=keys[1], workers=2, chunk_leaves=chunk)
    assert type(parallel.value) is type(reference.value)
    assert str(parallel.value) == str(reference.value)
    if name not in _CHECKPOINTS_SEE:
        assert _certified(filled.engine, chunk, [10, 25, SIZE]) is None


def _nodes(leaves: list[bytes]) -> list[dict[str, Any]]:
    """The rows ledger_nodes holds over `leaves`: levels 4 and up."""
    rows, level, row = [], 0, leaves
    while row:
        if level >= 4:
            rows.extend({"a": level, "b": index, "h": digest} for index, digest in enumerate(row))
        row = [
            hashlib.sha256(b"\x01" + row[i] + row[i + 1]).digest()
            for i in range(0, len(row) - 1, 2)
        ]
        level += 1
    return rows


def test_a_suffix_rechained_from_a_chunk_start_breaks_the_chain_there(
    filled: Ledger, keys: tuple[str, str]
) -> None:
    # The attacker rewrites entries 12.. as a consistent chain of their own (first prev
    # forged) and recomputes every node: each chunk is sound on its own, and only the
    # link between chunks [8, 12) and [12, 16) shows the break.
    leaves = [filled.entry(i).leaf_hash for i in range(12)]
    prev = bytes(32)
    with filled.engine.begin() as conn:
        for index in range(12, SIZE):
            old = json.loads(filled.entry(index).record)
            data = record(index=index, kind=old["kind"], body=old["body"], prev=prev, ts=old["ts"])
            conn.execute(
                sa.text(
                    "UPDATE ledger_entries SET record = :r, prev_hash = :p, leaf_hash = :l "
                    "WHERE idx = :i"
                ),
                {"r": data, "p": prev, "l": leaf_hash(data), "i": index},
            )
            prev = leaf_hash(data)
            leaves.append(prev)
        conn.execute(sa.text("DELETE FROM ledger_nodes"))
        conn.execute(
            sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:a, :b, :h)"),
            _nodes(leaves),
        )
    with pytest.raises(ChainBrokenError) as reference:
        audit(filled, verifier_key=keys[1], workers=1)
    assert reference.value.index == 12
    with pytest.raises(ChainBrokenError) as parallel:
        audit(filled, verifier_key=keys[1], workers=2, chunk_leaves=CHUNK)
    assert str(parallel.value) == str(reference.value)
    assert _certified(filled.engine, CHUNK, [10, 25, SIZE]) is None


@pytest.mark.parametrize(
    ("body", "ts"), [([1, 2], "2024-05-01T12:00:03.000000Z"), ({"n": 1}, 7)], ids=["body", "ts"]
)
def test_a_last_record_of_the_wrong_shape_with_its_hashes_redone(
    filled: Ledger, keys: tuple[str, str], body: Any, ts: Any
) -> None:
    # The last entry stands alone in the tree (37 = 32 + 4 + 1) and no stored node covers
    # it, so rewriting its record and leaf_hash leaves every hash consistent: only the
    # record's shape is off.
    last = SIZE - 1
    entry = filled.entry(last)
    data = rfc8785.dumps(
        {
            "body": body,
            "index": last,
            "kind": entry.kind,
            "prev": entry.prev_hash.hex(),
            "ts": ts,
            "v": 1,
        }
    )
    with filled.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE ledger_entries SET record = :r, leaf_hash = :h WHERE idx = :i"),
            {"r": data, "h": leaf_hash(data), "i": last},
        )
    with pytest.raises(TamperedEntryError) as reference:
        audit(filled, verifier_key=keys[1], workers=1)
    assert reference.value.index == last
    with pytest.raises(TamperedEntryError) as parallel:
        audit(filled, verifier_key=keys[1], workers=2, chunk_leaves=CHUNK)
    assert str(parallel.value) == str(reference.value)
    assert _certified(filled.engine, CHUNK, [10, 25]) is None


def test_a_valid_record_in_another_form_is_left_to_the_reference(ledger: Ledger) -> None:
    # JSON with a space after "body": — fine for the reference, not the writer's exact
    # form, so the fast path declines and the reference's clean verdict stands.
    rows, prev = [], ZERO
    for index in range(20):  # 20: one stored node, (4, 0)
        data = record(index=index, kind="k", body={"n": index}, prev=prev, ts="t")
        if index == 6:
            data = data.replace(b'{"body":', b'{"body": ', 1)
        rows.append((index, data, prev, leaf_hash(data)))
        prev = leaf_hash(data)
    with ledger.engine.begin() as conn:
        now = datetime.now(UTC)
        for index, data, prev_hash, leaf in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_entries (idx, kind, record, prev_hash, leaf_hash, "
                    "created_at) VALUES (:i, 'k', :r, :p, :l, :c)"
                ),
                {"i": index, "r": data, "p": prev_hash, "l": leaf, "c": now},
            )
        conn.execute(
            sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:a, :b, :h)"),
            _nodes([leaf for *_, leaf in rows]),
        )
    reference = audit(ledger, workers=1)
    assert reference.size == 20
    assert _certified(ledger.engine, CHUNK, []) is None
    assert audit(ledger, workers=2, chunk_leaves=CHUNK) == reference


def test_an_in_memory_database_is_audited_by_the_reference(
    clock: Callable[[], datetime], bodies: Callable[..., Items]
) -> None:
    engine = sa.create_engine("sqlite://")
    try:
        ledger = Ledger(engine, clock=clock)
        ledger.append_many(bodies(9))
        assert not can_fork(engine)
        report = audit(ledger, workers=2, chunk_leaves=2)
        assert (report.size, report.root) == (9, ledger.root())
    finally:
        engine.dispose()


def test_chunks_must_be_a_power_of_two(filled: Ledger) -> None:
    with pytest.raises(ValueError, match="power of two"):
        _certified(filled.engine, 3, [])
