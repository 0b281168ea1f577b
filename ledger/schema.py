"""The ledger's tables, in portable SQLAlchemy Core types (SQLite and PostgreSQL)."""

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

__all__ = ["LEDGER_TABLES", "checkpoints_table", "entries_table", "metadata", "nodes_table"]

entries_table = Table(
    "ledger_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
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
)
"""Every perfect-subtree hash of the tree at (level, idx); level 0 are the leaves."""

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
