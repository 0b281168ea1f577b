"""Full audit: recompute the hash chain, the Merkle tree and every checkpoint from records.

Stops at the first fault and raises a typed AuditError naming where it is; the
order is entries by index, then tree nodes by (level, index), then checkpoints by seq.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from ledger.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.errors import (
    ChainBrokenError,
    CheckpointError,
    TamperedCheckpointError,
    TamperedEntryError,
    TamperedNodeError,
)
from ledger.hashing import leaf_hash
from ledger.log import Ledger
from ledger.note import Verifier
from ledger.record import GENESIS_PREV, parse_record
from ledger.schema import checkpoints_table, entries_table, nodes_table
from ledger.tree import CompactRange, InMemoryHashStore, NodeID, tree_root

__all__ = ["AuditReport", "audit"]

_BATCH = 5000  # rows per fetch, so 10^5 entries never sit in memory as Row objects


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What a successful audit checked, and the root it recomputed."""

    size: int
    root: bytes
    nodes_checked: int
    checkpoints_checked: int
    signatures_verified: bool


def audit(source: Ledger | Engine, *, verifier_key: Verifier | str | None = None) -> AuditReport:
    """Recompute everything from the stored records; raise the first AuditError found.

    With `verifier_key`, every stored checkpoint must carry a valid signature by it;
    without one, checkpoints are still checked against the recomputed tree.
    """
    engine, origin = (
        (source.engine, source.origin) if isinstance(source, Ledger) else (source, None)
    )
    verifier = Verifier.from_string(verifier_key) if isinstance(verifier_key, str) else verifier_key
    with engine.connect() as conn:
        frontier, store = _check_entries(conn)
        nodes_checked = _check_nodes(conn, store, frontier.size)
        checkpoints = _check_checkpoints(conn, store, frontier.size, origin, verifier)
    return AuditReport(
        size=frontier.size,
        root=frontier.root(),
        nodes_checked=nodes_checked,
        checkpoints_checked=checkpoints,
        signatures_verified=verifier is not None,
    )


def _check_entries(conn: Connection) -> tuple[CompactRange, InMemoryHashStore]:
    c = entries_table.c
    query = select(c.idx, c.kind, c.record, c.prev_hash, c.leaf_hash).order_by(c.idx)
    frontier, store = CompactRange(), InMemoryHashStore()
    expected_index, prev = 0, GENESIS_PREV
    # Closing the result on an early raise also closes PostgreSQL's server cursor.
    with conn.execute(query.execution_options(yield_per=_BATCH)) as rows:
        for row in rows:
            index = expected_index
            if row.idx != index:
                raise ChainBrokenError(index, f"entry is missing; next stored index is {row.idx}")
            record = bytes(row.record)
            leaf = leaf_hash(record)
            if leaf != bytes(row.leaf_hash):
                raise TamperedEntryError(index, "record bytes do not hash to the stored leaf_hash")
            parsed = parse_record(record, index=index)
            if parsed.index != index:
                raise TamperedEntryError(index, f"record names index {parsed.index}")
            if parsed.kind != row.kind:
                raise TamperedEntryError(index, f"kind column {row.kind!r} differs from the record")
            if parsed.prev != prev:
                raise ChainBrokenError(
                    index,
                    f"prev names {parsed.prev.hex()} but entry {index - 1} hashes to {prev.hex()} "
                    "(this entry's link or the previous entry was altered)",
                )
            if bytes(row.prev_hash) != prev:
                raise TamperedEntryError(index, "prev_hash column differs from the record's prev")
            store.put_nodes(frontier.append(leaf))
            expected_index, prev = index + 1, leaf
    return frontier, store


def _check_nodes(conn: Connection, store: InMemoryHashStore, size: int) -> int:
    c = nodes_table.c
    expected: dict[NodeID, bytes] = store.nodes()
    query = select(c.level, c.idx, c.hash).order_by(c.level, c.idx)
    checked = 0
    # Closing the result on an early raise also closes PostgreSQL's server cursor.
    with conn.execute(query.execution_options(yield_per=_BATCH)) as rows:
        for row in rows:
            node_id = (row.level, row.idx)
            want = expected.pop(node_id, None)
            if want is None:
                if row.level == 0 and row.idx >= size:
                    raise ChainBrokenError(
                        size, f"the tree has leaf {row.idx}; entries were deleted"
                    )
                raise TamperedNodeError(row.level, row.idx, "node should not exist")
            if bytes(row.hash) != want:
                raise TamperedNodeError(row.level, row.idx, "hash differs from recomputation")
            checked += 1
    if expected:
        level, index = min(expected)
        raise TamperedNodeError(level, index, "node is missing")
    return checked


def _check_checkpoints(
    conn: Connection,
    store: InMemoryHashStore,
    size: int,
    origin: str | None,
    verifier: Verifier | None,
) -> int:
    c = checkpoints_table.c
    query = select(c.seq, c.size, c.root, c.note).order_by(c.seq)
    checked = 0
    for row in conn.execute(query):
        seq, row_size = row.seq, row.size
        try:
            checkpoint: Checkpoint = (
                verify_checkpoint(row.note, verifier)
                if verifier is not None
                else parse_checkpoint(row.note)
            )
        except CheckpointError as exc:
            raise TamperedCheckpointError(seq, row_size, str(exc)) from exc
        if checkpoint.size != row_size or checkpoint.root != bytes(row.root):
            raise TamperedCheckpointError(seq, row_size, "size/root columns differ from the note")
        if origin is not None and checkpoint.origin != origin:
            raise TamperedCheckpointError(seq, row_size, f"origin is {checkpoint.origin!r}")
        if checkpoint.size > size:
            raise TamperedCheckpointError(seq, row_size, f"signed size exceeds the {size} entries")
        if checkpoint.root != tree_root(store, checkpoint.size):
            raise TamperedCheckpointError(seq, row_size, "root differs from the recomputed tree")
        checked += 1
    return checked
