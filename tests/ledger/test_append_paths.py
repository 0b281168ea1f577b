"""The fast append path stores exactly what the plain model says, at every batch boundary.

The writer builds records from a template, keeps the tree's right edge in memory between
transactions, and inserts rows as multi-row INSERTs (SQLite) or COPY (PostgreSQL). Each
of those must leave the same rows, roots and proofs as the RFC and the record format
taken literally (tests/ledger/reference.py), and a failure anywhere in a batch must
leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import Ledger, audit, verify_consistency, verify_inclusion
from ledger.hashing import root_from_leaves
from ledger.record import format_ts
from ledger.schema import entries_table
from tests.ledger.reference import Model, failing, model, stored

Batch = list[tuple[str, Any]]

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the conftest StepClock's origin

# Multi-row INSERTs carry up to 500 rows each on SQLite, so 499/500/501 and 1000/1001
# straddle statement boundaries; 1, 2, 3 and 5 cross the tree's small power-of-two edges.
SIZES = [1, 2, 3, 5, 499, 500, 501, 1000, 1001, 17, 1]


def _body(i: int) -> dict[str, Any]:
    # Floats (fast path and the integral ones written as ints), unicode keys sorted by
    # UTF-16, nesting, and a value only rfc8785 writes (1e-7).
    return {
        "i": i,
        "celsius": 4.2 + i / 8,
        "whole": float(i % 7),
        "tiny": 1e-7 if i % 50 == 0 else 0.5,
        "\u20ac": ["é", {"\U0001f600": i % 3 == 0, "\ufb33": None}],
        "kind_of": "x" * (i % 5),
    }


def _batches(sizes: list[int], start: int = 0) -> list[Batch]:
    out, n = [], start
    for size in sizes:
        out.append([(f"k{n % 3}", _body(n + j)) for j in range(size)])
        n += size
    return out


def _stamps(count: int, first_call: int = 1) -> list[str]:
    """Record timestamps of `count` batches: the StepClock ticks one second per call."""
    return [format_ts(START + timedelta(seconds=first_call + k)) for k in range(count)]


def _assert_same(ledger: Ledger, expected: Model) -> None:
    got = stored(ledger.engine)
    assert got.entries == expected.entries
    assert got.nodes == expected.nodes


def test_stored_rows_roots_and_proofs_equal_the_model(ledger: Ledger) -> None:
    batches = _batches(SIZES)
    boundaries = []
    for batch in batches:
        entries = ledger.append_many(batch)
        boundaries.append(entries[-1].index + 1)
        assert [e.body for e in entries] == [body for _, body in batch]
    expected = model(list(zip(_stamps(len(batches)), batches, strict=True)))
    _assert_same(ledger, expected)
    for size in [1, 2, 3, 4, 5, 7, 8, 11, *boundaries]:
        assert ledger.root(size) == expected.root(size), size
    total = boundaries[-1]
    root = expected.root(total)
    for index in [0, 1, 498, 499, 500, 501, 1000, total - 1]:
        verify_inclusion(
            leaf_index=index,
            tree_size=total,
            leaf_hash=expected.entries[index][4],
            proof=ledger.inclusion_proof(index),
            root=root,
        )
    for old in [1, 3, 11, 511, 1024, total - 1]:
        verify_consistency(
            size1=old,
            size2=total,
            proof=ledger.consistency_proof(old),
            root1=expected.root(old),
            root2=root,
        )


def test_created_at_is_the_batch_clock_reading(ledger: Ledger) -> None:
    ledger.append_many(_batches([3])[0])
    ledger.append(kind="k", body={})
    with ledger.engine.connect() as conn:
        column = entries_table.c.created_at
        stamps = conn.execute(sa.select(column).order_by(entries_table.c.idx)).scalars()
        # SQLite hands back naive UTC, PostgreSQL an aware datetime.
        got = [m if m.tzinfo else m.replace(tzinfo=UTC) for m in stamps]
    first, second = START + timedelta(seconds=1), START + timedelta(seconds=2)
    assert got == [first] * 3 + [second]


def test_interleaved_writers_each_notice_the_other(
    db: sa.Engine, clock: Callable[[], datetime]
) -> None:
    # Each Ledger keeps the right edge it left; another writer moving the head must make
    # it read the edge again, or the nodes it writes would describe someone else's tree.
    first, second = Ledger(db, clock=clock), Ledger(db, clock=clock)
    batches = _batches([3, 2, 5, 1, 4, 8])
    for writer, batch in zip([first, second, first, first, second, first], batches, strict=True):
        writer.append_many(batch)
    _assert_same(first, model(list(zip(_stamps(len(batches)), batches, strict=True))))
    assert audit(first).size == 23


def test_a_rolled_back_writer_leaves_the_next_append_right(ledger: Ledger) -> None:
    batches = _batches([3, 4, 2])
    ledger.append_many(batches[0])
    with pytest.raises(RuntimeError), ledger.writer() as w:
        w.append_many([("lost", {"n": n}) for n in range(6)])
        raise RuntimeError("crash before commit")
    ledger.append_many(batches[1])
    ledger.append_many(batches[2])
    # The rolled-back batch read the clock too (call 2): the later batches are calls 3, 4.
    stamps = [*_stamps(1), *_stamps(2, first_call=3)]
    _assert_same(ledger, model(list(zip(stamps, batches, strict=True))))


def test_several_appends_in_one_writer_chain_on(ledger: Ledger) -> None:
    batches = _batches([2, 3, 1])
    with ledger.writer() as w:
        for batch in batches:
            w.append_many(batch)
    _assert_same(ledger, model(list(zip(_stamps(3), batches, strict=True))))


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def _reads_nodes(seen: list[str]) -> bool:
    # The right edge: stored nodes, or (below level 4) the leaf hashes of a range of entries.
    return any(
        s.lstrip().upper().startswith("SELECT")
        and ("LEDGER_NODES" in s.upper() or "FROM LEDGER_ENTRIES WHERE (IDX >=" in s.upper())
        for s in seen
    )


def test_the_right_edge_is_read_from_nodes_only_when_the_head_moved_elsewhere(
    db: sa.Engine, clock: Callable[[], datetime]
) -> None:
    ledger, other = Ledger(db, clock=clock), Ledger(db, clock=clock)
    ledger.append_many(_batches([21])[0])
    with _statements(db) as seen:
        ledger.append_many(_batches([3], start=21)[0])
    assert not _reads_nodes(seen)  # the edge it left is still the head
    other.append(kind="k", body={})
    with _statements(db) as seen:
        ledger.append_many(_batches([2], start=25)[0])
    assert _reads_nodes(seen)  # someone else appended: read the edge (16 + 8 + 1) again
    assert audit(ledger).size == 27


@pytest.mark.parametrize("table", ["ledger_entries", "ledger_nodes"])
@pytest.mark.parametrize("bad_row", [3, 700, 1150])
def test_a_failure_anywhere_in_a_large_batch_leaves_nothing(
    ledger: Ledger, table: str, bad_row: int
) -> None:
    # Entries 3..1202 go in several statements on SQLite (500 rows each): the failure lands
    # in the first, a middle or the last one, after earlier statements succeeded. Their
    # nodes (from level 4 up, about 150 rows) go in after all of them; the fault is put on
    # the level-4 node over the bad entry (and its namesakes at the levels above).
    head = ledger.append_many(_batches([3])[0])
    root = ledger.root()
    before = stored(ledger.engine)
    big = _batches([1200], start=3)[0]
    idx = bad_row if table == "ledger_entries" else bad_row >> 4
    with failing(ledger.engine, table, idx), pytest.raises(sa.exc.DBAPIError, match="injected"):
        ledger.append_many(big)
    assert stored(ledger.engine) == before
    assert ledger.root() == root
    after = ledger.append_many(big)
    assert after[0].index == 3 and after[0].prev_hash == head[-1].leaf_hash
    assert audit(ledger).size == 1203


def test_the_writer_builds_entries_as_their_constructor_does(ledger: Ledger) -> None:
    # The writer fills Entry's slots directly instead of calling its frozen __init__.
    from dataclasses import fields

    from ledger.log import ENTRY_FIELDS
    from ledger.record import Entry

    assert tuple(f.name for f in fields(Entry)) == ENTRY_FIELDS
    made = ledger.append_many(_batches([3])[0])
    for entry in made:
        rebuilt = Entry(*(getattr(entry, name) for name in ENTRY_FIELDS))
        assert entry == rebuilt and repr(entry) == repr(rebuilt)
    assert made == [ledger.entry(i) for i in range(3)]


def test_binary_columns_are_stored_as_blobs_of_the_entries_bytes(ledger: Ledger) -> None:
    # SQLite binds the writer's binary values as bytearrays (cheaper to bind than bytes);
    # what lands must still be a BLOB of exactly the entry's bytes, nodes included.
    made = ledger.append_many(_batches([40])[0])
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT idx, record, prev_hash, leaf_hash FROM ledger_entries ORDER BY idx")
        ).all()
        nodes = {
            (r.level, r.idx): bytes(r.hash)
            for r in conn.execute(sa.text("SELECT level, idx, hash FROM ledger_nodes"))
        }
        if conn.dialect.name == "sqlite":
            types = conn.execute(
                sa.text(
                    "SELECT DISTINCT typeof(record), typeof(prev_hash), typeof(leaf_hash) "
                    "FROM ledger_entries UNION ALL SELECT DISTINCT typeof(hash), '', '' "
                    "FROM ledger_nodes"
                )
            ).all()
            assert sorted(types) == [("blob", "", ""), ("blob", "blob", "blob")]
    assert [(r.idx, bytes(r.record), bytes(r.prev_hash), bytes(r.leaf_hash)) for r in rows] == [
        (e.index, e.record, e.prev_hash, e.leaf_hash) for e in made
    ]
    leaves = [e.leaf_hash for e in made]
    assert nodes == {
        (4, 0): root_from_leaves(leaves[:16]),
        (4, 1): root_from_leaves(leaves[16:32]),
        (5, 0): root_from_leaves(leaves[:32]),
    }
