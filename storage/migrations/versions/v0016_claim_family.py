"""A claim may name what the product is: ``claim_families``.

The shop app knows what a customer bought: with the family named (produce; a package: parcel,
can or pouch) the claim's photos are held to that family's operating point instead of every
family its category may be, and an adjudicator's decision on them is evidence for that
family (``cases.feedback``). A table of its own, not a column of ``claims`` (see
``claims.tables.claim_lot_keys``: migration 0009 reads claims rows whole with today's model).
Claims filed before this revision name none.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``claim_families`` (a row only for a claim that names its family)."""
    op.create_table(
        "claim_families",
        sa.Column("claim_id", sa.String(32), nullable=False),
        sa.Column("family", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("claim_families_pkey")),
    )


def downgrade() -> None:
    """Drop it: claims are then held to every family their category may be."""
    op.drop_table("claim_families")
