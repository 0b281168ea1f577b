"""An independent, deliberately plain model of what the ledger stores, and a fault injector.

The model follows the RFC and the record format literally (rfc8785 over the whole
envelope, MTH level by level) and shares no code with ledger/, so the fast paths are
compared with something they cannot agree with by accident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import rfc8785
import sqlalchemy as sa

ZERO = bytes(32)
LOWEST_LEVEL = 4  # ledger_nodes holds the subtrees of 16 leaves and more (schema v0011)


@dataclass(frozen=True)
class Model:
    """The rows a correct ledger holds after appending the given entries."""

    entries: list[tuple[int, str, bytes, bytes, bytes]]  # idx, kind, record, prev, leaf
    nodes: list[tuple[int, int, bytes]]  # level >= LOWEST_LEVEL, idx, hash, in that order

    def root(self, size: int) -> bytes:
        """MTH of the first `size` leaves, by the RFC's recursive definition."""
        return mth([leaf for *_, leaf in self.entries[:size]])


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf hashes, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def record(*, index: int, kind: str, body: Any, prev: bytes, ts: str) -> bytes:
    """The record: RFC 8785 of the whole envelope."""
    envelope = {"body": body, "index": index, "kind": kind, "prev": prev.hex(), "ts": ts, "v": 1}
    return rfc8785.dumps(envelope)


def model(batches: Sequence[tuple[str, Sequence[tuple[str, Any]]]]) -> Model:
    """The rows after appending each (timestamp, batch of (kind, body) pairs) in turn."""
    return _chain([(kind, body, ts) for ts, batch in batches for kind, body in batch])


def _chain(records: Sequence[tuple[str, Any, str]]) -> Model:
    entries = []
    prev = ZERO
    for index, (kind, body, ts) in enumerate(records):
        data = record(index=index, kind=kind, body=body, prev=prev, ts=ts)
        leaf = hashlib.sha256(b"\x00" + data).digest()
        entries.append((index, kind, data, prev, leaf))
        prev = leaf
    return Model(entries, _nodes([leaf for *_, leaf in entries]))


def model_of_records(records: Sequence[tuple[str, bytes]]) -> Model:
    """The rows for (kind, record bytes) pairs taken as they are (prev columns from the chain)."""
    entries = []
    prev = ZERO
    for index, (kind, data) in enumerate(records):
        leaf = hashlib.sha256(b"\x00" + data).digest()
        entries.append((index, kind, data, prev, leaf))
        prev = leaf
    return Model(entries, _nodes([leaf for *_, leaf in entries]))


def _nodes(leaves: list[bytes]) -> list[tuple[int, int, bytes]]:
    nodes, level, row = [], 0, leaves
    while row:
        if level >= LOWEST_LEVEL:
            nodes.extend((level, i, digest) for i, digest in enumerate(row))
        row = [
            hashlib.sha256(b"\x01" + row[i] + row[i + 1]).digest()
            for i in range(0, len(row) - 1, 2)
        ]
        level += 1
    return nodes


def stored(engine: sa.Engine) -> Model:
    """The rows the database holds, in the model's order."""
    with engine.connect() as conn:
        entries = [
            (idx, kind, bytes(rec), bytes(prev), bytes(leaf))
            for idx, kind, rec, prev, leaf in conn.exec_driver_sql(
                "SELECT idx, kind, record, prev_hash, leaf_hash FROM ledger_entries ORDER BY idx"
            )
        ]
        nodes = [
            (level, idx, bytes(digest))
            for level, idx, digest in conn.exec_driver_sql(
                "SELECT level, idx, hash FROM ledger_nodes ORDER BY level, idx"
            )
        ]
    return Model(entries, nodes)


@contextmanager
def failing(engine: sa.Engine, table: str, idx: int) -> Iterator[None]:
    """A database trigger that refuses the row of `table` whose idx is `idx`.

    A real fault inside the database, so it fires whichever way the rows arrive
    (multi-row INSERT on SQLite, COPY on PostgreSQL), in the middle of a batch.
    """
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.exec_driver_sql(
                "CREATE FUNCTION fp_injected() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER fp_inject BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN (NEW.idx = {idx}) EXECUTE FUNCTION fp_injected()"
            )
        else:
            conn.exec_driver_sql(
                f"CREATE TRIGGER fp_inject BEFORE INSERT ON {table} WHEN NEW.idx = {idx} "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER fp_inject{f' ON {table}' if postgres else ''}")
            if postgres:
                conn.exec_driver_sql("DROP FUNCTION fp_injected()")
