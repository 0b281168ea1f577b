"""Separation of duties for keys (issue 22): ``api_key_requests``, keys that wait for a
second admin.

An adjudicator or admin key asked for through the API is a pending request until a
different admin approves it; the request, its answer and the key it issued are kept here
(never a secret) and in the ledger (``key.requested``, ``key.request.approved`` /
``key.request.rejected``, ``key.created``). Existing keys are untouched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``api_key_requests``."""
    op.create_table(
        "api_key_requests",
        sa.Column("request_id", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("station_id", sa.String(length=100), nullable=True),
        sa.Column("read_point", sa.String(length=200), nullable=True),
        sa.Column("expires_in_s", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.String(length=10), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("api_key_requests_pkey")),
    )


def downgrade() -> None:
    """Drop it (the ledger keeps every request and answer)."""
    op.drop_table("api_key_requests")
