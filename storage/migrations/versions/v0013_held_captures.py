"""Held captures: receipts waiting for their senders' records (``supplychain.held``).

``held_captures`` keeps a document whose refusals all await a sender's own record of a
handover (its bytes, their SHA-256, the key, its actor and parties, the senders awaited,
its expiry and status); ``held_capture_lots`` the lot identities it is about, to find it
when records about them arrive. Nothing is held before this revision: both start empty.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the two tables and their indexes."""
    op.create_table(
        "held_captures",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("senders", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ledger_indices", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("held_captures_pkey")),
    )
    op.create_index("ix_held_captures_key", "held_captures", ["key_id", "status", "digest"])
    op.create_index("ix_held_captures_expiry", "held_captures", ["status", "expires_at"])
    op.create_table(
        "held_capture_lots",
        sa.Column("lot", sa.String(length=300), nullable=False),
        sa.Column("held_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("lot", "held_id", name=op.f("held_capture_lots_pkey")),
    )
    op.create_index("ix_held_capture_lots_held", "held_capture_lots", ["held_id"])


def downgrade() -> None:
    """Drop them: documents still held are lost (their senders' records never came)."""
    op.drop_index("ix_held_capture_lots_held", table_name="held_capture_lots")
    op.drop_table("held_capture_lots")
    op.drop_index("ix_held_captures_expiry", table_name="held_captures")
    op.drop_index("ix_held_captures_key", table_name="held_captures")
    op.drop_table("held_captures")
