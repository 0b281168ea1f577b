"""Full audit: recompute the hash chain, the Merkle tree and every checkpoint from records.

Stops at the first fault and raises a typed AuditError naming where it is; the
order is entries by index, then tree nodes by (level, index), then checkpoints by seq.
The stored nodes are those from LOWEST_NODE_LEVEL up; the smaller subtrees are not
stored, so they are checked as part of the leaf hashes they come from.
A clean log is recomputed in parallel (``ledger.recompute``); the single pass here is
the reference, and it alone names faults.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from ledger.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.errors import (
    ChainBrokenError,
    CheckpointError,
    TamperedCheckpointError,
    TamperedEntryError,
    TamperedNodeError,
)
from ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash
from ledger.log import Ledger
from ledger.note import Verifier
from ledger.recompute import DEFAULT_CHUNK_LEAVES, can_fork, default_workers, recompute
from ledger.record import GENESIS_PREV, parse_record
from ledger.schema import LOWEST_NODE_LEVEL, checkpoints_table
from ledger.tree import InMemoryHashStore, NodeID, frontier_ids, tree_root

__all__ = ["AuditReport", "audit"]

_BATCH = 5000  # rows per fetch: 10^6 entries never sit in memory as rows

_ENTRIES_SQL = "SELECT idx, kind, record, prev_hash, leaf_hash FROM ledger_entries ORDER BY idx"
_NODES_SQL = "SELECT level, idx, hash FROM ledger_nodes ORDER BY level, idx"


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What a successful audit checked, and the root it recomputed."""

    size: int
    root: bytes
    nodes_checked: int
    checkpoints_checked: int
    signatures_verified: bool


def audit(
    source: Ledger | Engine,
    *,
    verifier_key: Verifier | str | None = None,
    workers: int | None = None,
    chunk_leaves: int = DEFAULT_CHUNK_LEAVES,
) -> AuditReport:
    """Recompute everything from the stored records; raise the first AuditError found.

    With `verifier_key`, every stored checkpoint must carry a valid signature by it;
    without one, checkpoints are still checked against the recomputed tree.

    The log is recomputed on `workers` processes (default: every CPU this process may
    use, at most 8) in chunks of `chunk_leaves` entries; see ``ledger.recompute``.
    Whenever that finds anything amiss, or with ``workers=1``, the reference pass below
    runs instead, alone, and names the first fault: the findings are the same either way.
    """
    engine, origin = (
        (source.engine, source.origin) if isinstance(source, Ledger) else (source, None)
    )
    verifier = Verifier.from_string(verifier_key) if isinstance(verifier_key, str) else verifier_key
    workers = default_workers() if workers is None else workers
    with engine.connect() as conn:
        # Read first, judged last: the frontier nodes each signed root needs are kept while
        # the tree is recomputed, so no full copy of the tree is ever held.
        signed = conn.execute(
            select(
                checkpoints_table.c.seq,
                checkpoints_table.c.size,
                checkpoints_table.c.root,
                checkpoints_table.c.note,
            ).order_by(checkpoints_table.c.seq)
        ).all()
        fast = (
            recompute(
                engine,
                conn,
                signed_sizes=[row.size for row in signed],
                workers=workers,
                chunk_leaves=chunk_leaves,
            )
            if workers > 1 and can_fork(engine)
            else None
        )
        size, nodes_checked, kept = (
            (fast.size, fast.nodes_checked, fast.kept) if fast else _reference(conn, signed)
        )
        store = InMemoryHashStore()
        store.put_nodes(list(kept.items()))
        checked = _check_checkpoints(signed, store, size, origin, verifier)
        conn.rollback()  # read-only; ends PostgreSQL's transaction and its server cursors
    return AuditReport(
        size=size,
        root=tree_root(store, size) if size else EMPTY_ROOT,
        nodes_checked=nodes_checked,
        checkpoints_checked=checked,
        signatures_verified=verifier is not None,
    )


def _reference(
    conn: Connection, signed: Sequence[Row[Any, Any, Any, Any]]
) -> tuple[int, int, dict[NodeID, bytes]]:
    """One pass in index order over entries, then nodes; raises the first fault found."""
    leaves = _check_entries(conn)
    sizes = {row.size for row in signed if row.size <= len(leaves)} | {len(leaves)}
    wanted = {n for size in sizes for n in frontier_ids(size)}
    nodes_checked, kept = _check_nodes(conn, leaves, wanted)
    return len(leaves), nodes_checked, kept


def _stream(conn: Connection, sql: str, name: str) -> Iterator[tuple[Any, ...]]:
    """Rows as plain driver tuples, fetched in batches.

    SQLAlchemy's Row machinery costs about 2 µs a row, more than the hashing; at 3·10^6 rows
    (entries plus tree nodes) that alone would take the audit past its 10 s budget.
    PostgreSQL gets a named (server-side) cursor so rows stream instead of loading at once.
    """
    dbapi: Any = conn.connection.dbapi_connection
    cursor = dbapi.cursor(name=name) if conn.dialect.name == "postgresql" else dbapi.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch
    finally:
        cursor.close()


def _check_entries(conn: Connection) -> list[bytes]:
    """Check every entry's leaf hash, envelope and chain link; return the leaf hashes."""
    leaves: list[bytes] = []
    prev = GENESIS_PREV
    for idx, kind, record, prev_hash, stored_leaf in _stream(conn, _ENTRIES_SQL, "audit_entries"):
        index = len(leaves)
        if idx != index:
            raise ChainBrokenError(index, f"entry is missing; next stored index is {idx}")
        record = bytes(record)
        leaf = leaf_hash(record)
        if leaf != bytes(stored_leaf):
            raise TamperedEntryError(index, "record bytes do not hash to the stored leaf_hash")
        parsed = parse_record(record, index=index)
        if parsed.index != index:
            raise TamperedEntryError(index, f"record names index {parsed.index}")
        if parsed.kind != kind:
            raise TamperedEntryError(index, f"kind column {kind!r} differs from the record")
        if parsed.prev != prev:
            raise ChainBrokenError(
                index,
                f"prev names {parsed.prev.hex()} but entry {index - 1} hashes to {prev.hex()} "
                "(this entry's link or the previous entry was altered)",
            )
        if bytes(prev_hash) != prev:
            raise TamperedEntryError(index, "prev_hash column differs from the record's prev")
        leaves.append(leaf)
        prev = leaf
    return leaves


def _expected_nodes(
    leaves: list[bytes], wanted: set[NodeID], kept: dict[NodeID, bytes]
) -> Iterator[tuple[NodeID, bytes]]:
    """Every stored perfect-subtree node of the tree over `leaves` (the levels from
    LOWEST_NODE_LEVEL up), in (level, index) order; the `wanted` ones of every level go
    into `kept` as they are computed."""
    level, row = 0, leaves
    while row:
        kept.update((node, row[node[1]]) for node in wanted if node[0] == level)
        if level >= LOWEST_NODE_LEVEL:
            for index, digest in enumerate(row):
                yield (level, index), digest
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1


def _check_nodes(
    conn: Connection, leaves: list[bytes], wanted: set[NodeID]
) -> tuple[int, dict[NodeID, bytes]]:
    """Merge the stored nodes with the recomputed ones, both in (level, index) order."""
    size = len(leaves)
    kept: dict[NodeID, bytes] = {}
    expected = _expected_nodes(leaves, wanted, kept)
    want = next(expected, None)
    checked = 0
    for level, idx, stored in _stream(conn, _NODES_SQL, "audit_nodes"):
        node_id = (level, idx)
        if want is not None and want[0] < node_id:
            raise TamperedNodeError(*want[0], "node is missing")
        if want is None or want[0] > node_id:
            if (idx + 1) << level > size:
                raise TamperedNodeError(
                    level,
                    idx,
                    f"node should not exist: it covers leaves up to {(idx + 1) << level}, "
                    f"past the {size} entries (entries deleted, or the node forged)",
                )
            raise TamperedNodeError(level, idx, "node should not exist")
        if bytes(stored) != want[1]:
            raise TamperedNodeError(level, idx, "hash differs from recomputation")
        checked += 1
        want = next(expected, None)
    if want is not None:
        raise TamperedNodeError(*want[0], "node is missing")
    for _ in expected:  # the wanted nodes of the levels no stored node reaches
        pass
    return checked, kept


def _check_checkpoints(
    signed: Sequence[Row[Any, Any, Any, Any]],
    store: InMemoryHashStore,
    size: int,
    origin: str | None,
    verifier: Verifier | None,
) -> int:
    checked = 0
    for row in signed:
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
