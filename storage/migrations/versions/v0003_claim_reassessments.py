"""Claims assessed again after late records: the verdicts they changed and the settled claims
they flagged (``claims.reassess``, GUIDE §4 rule 6).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``claim_reassessments``."""
    op.create_table(
        "claim_reassessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("claim_reassessments_pkey")),
    )
    op.create_index(op.f("ix_claim_reassessments_claim_id"), "claim_reassessments", ["claim_id"])


def downgrade() -> None:
    """Drop it (the ledger keeps every reassessment entry)."""
    op.drop_index(op.f("ix_claim_reassessments_claim_id"), table_name="claim_reassessments")
    op.drop_table("claim_reassessments")
