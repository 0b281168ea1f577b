"""Claims keyed by their lot's one name (``claim_lot_keys``), which the lot alert counts by.

One lot has several names (its LGTIN URN, its GS1 Digital Link, its bare lot number), and
the lot alert counted claims by the name each customer typed, so three claims on one lot by
three names raised none. Claims are now keyed at filing (``claims.lot_keys``): one row per
claim with its key and its filing time, indexed ``(lot_key, created_at)`` for the alert's
windowed count. A table of its own, not a column of ``claims``: 0009's backfill reads claim
rows whole with the current model, so a new ``claims`` column would break upgrading from 0008.

Claims filed before are keyed by the upgrade with the function filing uses (the registered
``claim_lot_keys`` backfill), from what the ledger records of their lots now: a lot URI by
its canonical Digital Link, a bare number of exactly one lot on record by that lot's, any
other bare number (several lots, or none on record) by the number itself.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.backfills import backfill

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1_000  # claims per batch while keying: bounded memory on a large database


def upgrade() -> None:
    """Create ``claim_lot_keys`` and its index, and key every claim already filed."""
    op.create_table(
        "claim_lot_keys",
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("lot_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("claim_lot_keys_pkey")),
    )
    op.create_index("ix_claim_lot_keys_lot_created", "claim_lot_keys", ["lot_key", "created_at"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    # The function filing calls (``claims.lot_keys.fill_lot_keys``, registered when the
    # table modules are loaded): a claim keyed here is keyed as a newly filed one is.
    ids = sa.table("claims", sa.column("id"))
    if conn.execute(sa.select(ids.c.id).limit(1)).first() is None:
        return  # nothing filed yet: nothing to key
    fill_lot_keys = backfill("claim_lot_keys")
    last = ""
    while True:
        batch = list(
            conn.execute(
                sa.select(ids.c.id).where(ids.c.id > last).order_by(ids.c.id).limit(_BATCH)
            ).scalars()
        )
        if not batch:
            return
        fill_lot_keys(conn, batch)
        last = batch[-1]


def downgrade() -> None:
    """Drop it: the lot alert counts claims by the lot as filed again."""
    op.drop_index("ix_claim_lot_keys_lot_created", table_name="claim_lot_keys")
    op.drop_table("claim_lot_keys")
