"""The ledger laid out for appends (issue 24): fewer rows and B-trees per entry.

``ledger_nodes`` keeps the subtrees of 16 leaves and more (levels 4 up): the smaller ones,
the leaf hashes again among them, are recomputed from ``ledger_entries.leaf_hash`` when a
proof needs them. On SQLite the two tables are also rebuilt: ``ledger_entries.idx`` becomes
an ``INTEGER PRIMARY KEY`` (the rowid itself, where a BIGINT key was a second B-tree beside
the rows) and ``ledger_nodes`` a ``WITHOUT ROWID`` table (its key is the table). Every
record, hash and checkpoint is carried over as it is; roots and proofs are the same.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOWEST = 4  # the lowest level kept in ledger_nodes from here on (ledger.schema)
_BLOCK = 1 << 14  # leaves per batch while the lower levels are rebuilt (a multiple of 16)
_COLUMNS = "idx, kind, record, prev_hash, leaf_hash, created_at"


def _entries(name: str, idx_type: Any) -> None:
    op.create_table(
        name,
        sa.Column("idx", idx_type, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("ledger_entries_pkey")),
    )


def _nodes(name: str, *, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("ledger_nodes_pkey")),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_sqlite(*, idx_type: Any, with_rowid: bool, lowest: int) -> None:
    # SQLite cannot change a table's key or rowid in place: copy, drop, rename.
    _entries("ledger_entries_v0011", idx_type)
    op.execute(
        f"INSERT INTO ledger_entries_v0011 ({_COLUMNS}) "
        f"SELECT {_COLUMNS} FROM ledger_entries ORDER BY idx"
    )
    op.drop_table("ledger_entries")
    op.rename_table("ledger_entries_v0011", "ledger_entries")
    _nodes("ledger_nodes_v0011", with_rowid=with_rowid)
    op.execute(
        "INSERT INTO ledger_nodes_v0011 (level, idx, hash) SELECT level, idx, hash "
        f"FROM ledger_nodes WHERE level >= {lowest} ORDER BY level, idx"
    )
    op.drop_table("ledger_nodes")
    op.rename_table("ledger_nodes_v0011", "ledger_nodes")


def upgrade() -> None:
    """Drop the nodes below level 4; on SQLite, rebuild both tables in the new layout."""
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(idx_type=sa.Integer(), with_rowid=False, lowest=_LOWEST)
    else:
        op.execute(f"DELETE FROM ledger_nodes WHERE level < {_LOWEST}")


def downgrade() -> None:
    """Store levels 0-3 again, recomputed from the leaf hashes; on SQLite, the old tables."""
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(idx_type=sa.BigInteger(), with_rowid=True, lowest=0)
    _store_lower_levels(op.get_bind())


def _store_lower_levels(conn: sa.Connection) -> None:
    nodes = sa.table("ledger_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    read = sa.text("SELECT leaf_hash FROM ledger_entries WHERE idx >= :a AND idx < :b ORDER BY idx")
    start = 0
    while True:
        row = [bytes(h) for (h,) in conn.execute(read, {"a": start, "b": start + _BLOCK})]
        if not row:
            return
        rows: list[dict[str, Any]] = []
        for level in range(_LOWEST):
            first = start >> level
            rows.extend({"level": level, "idx": first + i, "hash": h} for i, h in enumerate(row))
            row = [
                hashlib.sha256(b"\x01" + row[i] + row[i + 1]).digest()
                for i in range(0, len(row) - 1, 2)
            ]
        conn.execute(nodes.insert(), rows)
        start += _BLOCK
