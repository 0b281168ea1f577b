"""The ledger's tables, in portable SQLAlchemy Core types (SQLite and PostgreSQL).

Laid out for appends: on SQLite an entry's idx is the table's rowid (an ``INTEGER PRIMARY
KEY``), so an entry is one B-tree row and no separate index; ``ledger_nodes`` is a
``WITHOUT ROWID`` table keyed by (level, idx) alone; and only subtrees of
``2**LOWEST_NODE_LEVEL`` leaves and more are stored: the smaller ones are recomputed from
the leaf hashes in ``ledger_entries`` when a proof needs them (at most 15 hashes a block).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
)

from ledger.record import MAX_KIND_LENGTH
from storage.schema import metadata

__all__ = [
    "LEDGER_TABLES",
    "LOWEST_NODE_LEVEL",
    "checkpoints_table",
    "entries_table",
    "metadata",
    "nodes_table",
]

LOWEST_NODE_LEVEL = 4
"""The lowest level of ``ledger_nodes``: a subtree of fewer than 16 leaves is never stored.

Storing every level cost an append about two extra rows (the leaf's own hash again, and
its parents); from level 4 up it is one row per eight entries. Changing it is a migration
(see v0011), as the audit counts exactly the nodes at and above it.
"""

entries_table = Table(
    "ledger_entries",
    metadata,
    # INTEGER on SQLite makes idx the rowid itself: no second B-tree to keep in step.
    Column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("kind", String(MAX_KIND_LENGTH), nullable=False),
    # Bytes, not text: the leaf hash covers these exact bytes, so no driver may re-encode them.
    Column("record", LargeBinary, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""One row per appended entry; idx is the leaf index."""

nodes_table = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,  # the (level, idx) key is the table: no rowid B-tree beside it
)
"""Every perfect-subtree hash at (level, idx) for level >= LOWEST_NODE_LEVEL."""

checkpoints_table = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""Every checkpoint the ledger signed, in signing order (seq)."""

LEDGER_TABLES = (entries_table, nodes_table, checkpoints_table)
"""The ledger's own tables: what ``Ledger(create_tables=True)`` creates, and nothing else."""
