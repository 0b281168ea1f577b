"""Four eyes above the adjudicator's limit (GUIDE §4 rule 7): proposals waiting for a second
person (``claim_proposals``) and a per-key approval limit (``api_keys.approval_limit``).

Existing keys get no limit: they approve nothing above the policy's adjudicator limit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``claim_proposals``; add ``api_keys.approval_limit``."""
    op.create_table(
        "claim_proposals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.String(length=10), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=True),
        sa.Column("answer_ledger_idx", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("claim_proposals_pkey")),
    )
    op.create_index(op.f("ix_claim_proposals_claim_id"), "claim_proposals", ["claim_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("approval_limit", sa.Numeric(precision=12, scale=2), nullable=True)
        )


def downgrade() -> None:
    """Drop them again (the ledger keeps every proposal and approval entry)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("approval_limit")
    op.drop_index(op.f("ix_claim_proposals_claim_id"), table_name="claim_proposals")
    op.drop_table("claim_proposals")
