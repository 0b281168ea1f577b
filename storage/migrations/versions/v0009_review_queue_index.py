"""The review queue by index (issue 24): ``review_queue``.

One row per view a claim in the queue is in, and one under ``all``, with the claim's
effective resolution deadline (``claims.queue_index``): the queue is read a page at a time by
index instead of building the views of the most recent thousand open claims. Existing claims
are indexed by the upgrade with the same functions every write uses afterwards.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.backfills import backfill

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1_000  # claims per refresh while indexing: bounded memory on a large database


def upgrade() -> None:
    """Create ``review_queue`` and its order index, and index every claim already filed."""
    op.create_table(
        "review_queue",
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("view", sa.String(length=20), nullable=False),
        sa.Column("paused", sa.Integer(), nullable=False),
        sa.Column("due_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "view", name=op.f("review_queue_pkey")),
    )
    op.create_index(
        "ix_review_queue_order", "review_queue", ["view", "paused", "due_us", "claim_id"]
    )
    _backfill(op.get_bind())
    if op.get_bind().dialect.name == "postgresql":
        # Statistics now, not at autovacuum's leisure: an empty table's plan is a full sort.
        op.execute("ANALYZE review_queue")


def _backfill(conn: sa.Connection) -> None:
    # The function every write calls (``claims.queue_index.refresh_queue``, registered when
    # the table modules are loaded): an indexed claim reads as a newly written one does.
    ids = sa.table("claims", sa.column("id"))
    if conn.execute(sa.select(ids.c.id).limit(1)).first() is None:
        return  # nothing filed yet: nothing to index
    refresh_queue = backfill("review_queue")
    last = ""
    while True:
        batch = list(
            conn.execute(
                sa.select(ids.c.id).where(ids.c.id > last).order_by(ids.c.id).limit(_BATCH)
            ).scalars()
        )
        if not batch:
            return
        refresh_queue(conn, batch)
        last = batch[-1]


def downgrade() -> None:
    """Drop it: the queue is computed from the claims again by code that predates this."""
    op.drop_index("ix_review_queue_order", table_name="review_queue")
    op.drop_table("review_queue")
